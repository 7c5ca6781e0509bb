"""Property-based attacks on the token parsers: arbitrary bytes, JSON shapes and base64url
pieces fail only with ``TokenInvalid``, never with whatever a parser trips over."""

from __future__ import annotations

import base64
import datetime
import json
import logging
from typing import Any

import pytest
from auth_helpers import certificate, ec_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.auth import b64url
from dockyard.auth.chain import verify_chain
from dockyard.auth.jwt import TokenInvalid
from dockyard.auth.keys import TrustedKeys
from dockyard.auth.token import TokenVerifier

ROOT_KEY = ec_key()
ROOT = certificate(ROOT_KEY, name="root")
TRUSTED = TrustedKeys()
TRUSTED.add(ROOT_KEY.public_key(), ["k1"])
NOW = datetime.datetime.now(datetime.UTC)

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
#: Header members the verifier acts on, with values of any shape.
HEADER_KEYS = st.sampled_from(["alg", "kid", "jwk", "x5c", "crit", "typ", "kty", "crv"])
HEADERS = st.dictionaries(HEADER_KEYS, JSON_VALUES, max_size=5)
CLAIMS = st.dictionaries(
    st.sampled_from(["iss", "aud", "exp", "nbf", "iat", "sub", "access"]), JSON_VALUES, max_size=7
)
B64URL_PIECES = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.+/", max_size=120
)


def verifier() -> TokenVerifier:
    return TokenVerifier(issuer="i", service="s", trusted=TRUSTED, roots=[ROOT])


def encode(value: Any) -> str:
    return b64url.encode(json.dumps(value).encode())


class Recorder(logging.Handler):
    """Collects the verifier's safety-net warnings: a parser must never need it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def recorder() -> Any:
    handler = Recorder()
    logger = logging.getLogger("dockyard.auth.token")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def assert_refused_cleanly(raw: str, recorder: Recorder) -> None:
    before = len(recorder.records)
    with pytest.raises(TokenInvalid):
        verifier().verify(raw)
    assert recorder.records[before:] == [], "a parser raised something other than TokenInvalid"


PROPERTY = settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(data=st.binary(max_size=300))
def test_any_bytes_as_a_token_are_refused_as_invalid(data: bytes, recorder: Recorder) -> None:
    assert_refused_cleanly(data.decode("latin-1"), recorder)


@PROPERTY
@given(pieces=st.lists(B64URL_PIECES, min_size=1, max_size=5))
def test_any_base64url_pieces_are_refused_as_invalid(pieces: list[str], recorder: Recorder) -> None:
    assert_refused_cleanly(".".join(pieces), recorder)


@PROPERTY
@given(header=HEADERS, claims=CLAIMS, signature=st.binary(max_size=80))
def test_any_json_header_and_claims_are_refused_as_invalid(
    header: dict[str, Any], claims: dict[str, Any], signature: bytes, recorder: Recorder
) -> None:
    assert_refused_cleanly(
        f"{encode(header)}.{encode(claims)}.{b64url.encode(signature)}", recorder
    )


@PROPERTY
@given(header=JSON_VALUES, claims=JSON_VALUES)
def test_any_json_documents_as_header_and_claims_are_refused_as_invalid(
    header: Any, claims: Any, recorder: Recorder
) -> None:
    assert_refused_cleanly(f"{encode(header)}.{encode(claims)}.AAAA", recorder)


@PROPERTY
@given(depth=st.integers(min_value=1, max_value=5000), opener=st.sampled_from(["[", '{"a":']))
def test_json_nested_to_any_depth_is_refused_as_invalid(
    depth: int, opener: str, recorder: Recorder
) -> None:
    closer = "]" if opener == "[" else "}"
    deep = (opener * depth + "1" + closer * depth).encode()
    assert_refused_cleanly(f"{b64url.encode(deep)}.{encode({})}.AAAA", recorder)


@given(st.lists(st.binary(max_size=200) | st.text(max_size=40), max_size=4))
def test_any_x5c_chain_is_refused_only_as_invalid(items: list[bytes | str]) -> None:
    chain = [base64.b64encode(i).decode() if isinstance(i, bytes) else i for i in items]
    with pytest.raises(TokenInvalid):
        verify_chain(chain, [ROOT], NOW)
