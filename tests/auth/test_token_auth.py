"""Bearer-token authorization: challenges, scopes and certificate-based key trust."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import httpx
import pytest
from auth_helpers import (
    ISSUER,
    REALM,
    SERVICE,
    build_authorizer,
    certificate,
    challenge_params,
    der_b64,
    ec_key,
    mint,
    pem,
)
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from dockyard.auth import jwt
from dockyard.auth.base import Access, AuthChallenge, Authorizer, Request
from dockyard.auth.jwt import TokenInvalid
from dockyard.auth.keys import PrivateKey, jwk_thumbprint
from dockyard.auth.token import DEFAULT_LEEWAY, TokenAuthorizer, TokenVerifier

ROOT = ec_key()
ROOT_CERT = certificate(ROOT, name="root")


def authorizer_for(tmp_path: Path, *certs: x509.Certificate, **extra: object) -> TokenAuthorizer:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"".join(pem(c) for c in certs or (ROOT_CERT,)))
    section = {"realm": REALM, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": str(bundle)}
    authorizer = build_authorizer({"token": {**section, **extra}}, data_dir=tmp_path)
    assert isinstance(authorizer, TokenAuthorizer)
    return authorizer


def bearer(token: str) -> Request:
    return Request("GET", "/v2/a/b/tags/list", f"Bearer {token}")


PULL = [Access("repository", "a/b", ("pull",))]


async def test_missing_token_challenge_names_realm_service_and_exact_scope(tmp_path: Path) -> None:
    authorizer = authorizer_for(tmp_path)
    needed = [Access("repository", "a/b", ("pull", "push"))]
    with pytest.raises(AuthChallenge) as info:
        await authorizer.authorize(Request("PUT", "/v2/a/b/manifests/x", None), needed)
    assert info.value.challenge == (
        f'Bearer realm="{REALM}",service="{SERVICE}",scope="repository:a/b:pull,push"'
    )
    assert not info.value.insufficient_scope


async def test_base_endpoint_challenge_has_no_scope(tmp_path: Path) -> None:
    with pytest.raises(AuthChallenge) as info:
        await authorizer_for(tmp_path).authorize(Request("GET", "/v2/", None), [])
    assert "scope=" not in info.value.challenge


async def test_token_lacking_the_scope_gets_insufficient_scope(tmp_path: Path) -> None:
    token = mint(ROOT)  # grants pull on a/b only
    needed = [Access("repository", "a/b", ("pull", "push"))]
    with pytest.raises(AuthChallenge) as info:
        await authorizer_for(tmp_path).authorize(bearer(token), needed)
    params = challenge_params(info.value.challenge)
    assert params["error"] == "insufficient_scope"
    assert params["scope"] == "repository:a/b:pull,push"
    assert info.value.insufficient_scope


async def test_token_for_another_repository_gets_insufficient_scope(tmp_path: Path) -> None:
    with pytest.raises(AuthChallenge) as info:
        await authorizer_for(tmp_path).authorize(
            bearer(mint(ROOT)), [Access("repository", "a/c", ("pull",))]
        )
    assert info.value.insufficient_scope


async def test_granted_token_returns_its_subject_and_grants(tmp_path: Path) -> None:
    principal = await authorizer_for(tmp_path).authorize(bearer(mint(ROOT)), PULL)
    assert principal.username == "alice"
    assert principal.granted == (Access("repository", "a/b", ("pull",)),)


async def test_star_grant_covers_delete(tmp_path: Path) -> None:
    token = mint(ROOT, access=[{"type": "repository", "name": "a/b", "actions": ["*"]}])
    await authorizer_for(tmp_path).authorize(
        bearer(token), [Access("repository", "a/b", ("delete",))]
    )


async def test_catalog_scope_is_checked(tmp_path: Path) -> None:
    catalog = [Access("registry", "catalog", ("*",))]
    with pytest.raises(AuthChallenge):
        await authorizer_for(tmp_path).authorize(bearer(mint(ROOT)), catalog)
    token = mint(ROOT, access=[{"type": "registry", "name": "catalog", "actions": ["*"]}])
    await authorizer_for(tmp_path).authorize(bearer(token), catalog)


async def test_rootcertbundle_key_is_found_by_rfc7638_thumbprint(tmp_path: Path) -> None:
    token = mint(ROOT, header={"kid": jwk_thumbprint(ROOT.public_key())})
    await authorizer_for(tmp_path).authorize(bearer(token), PULL)


async def test_rsa_and_ed25519_root_keys_verify(tmp_path: Path) -> None:
    rsa_key = rsa.generate_private_key(65537, 2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    authorizer = authorizer_for(tmp_path, certificate(rsa_key), certificate(ed_key))
    cases: list[tuple[PrivateKey, str]] = [
        (rsa_key, "RS256"),
        (rsa_key, "RS384"),
        (rsa_key, "RS512"),
        (ed_key, "EdDSA"),
    ]
    for key, alg in cases:
        await authorizer.authorize(bearer(mint(key, alg=alg)), PULL)


async def test_x5c_chain_through_an_intermediate_verifies(tmp_path: Path) -> None:
    intermediate_key, leaf_key = ec_key(), ec_key()
    intermediate = certificate(intermediate_key, ROOT, ROOT_CERT, name="intermediate")
    leaf = certificate(leaf_key, intermediate_key, intermediate, ca=False, name="leaf")
    token = mint(leaf_key, header={"kid": None, "x5c": [der_b64(leaf), der_b64(intermediate)]})
    await authorizer_for(tmp_path).authorize(bearer(token), PULL)


async def test_x5c_leaf_signed_by_a_non_ca_certificate_is_rejected(tmp_path: Path) -> None:
    middle_key, leaf_key = ec_key(), ec_key()
    middle = certificate(middle_key, ROOT, ROOT_CERT, ca=False, name="not-a-ca")
    leaf = certificate(leaf_key, middle_key, middle, ca=False, name="leaf")
    token = mint(leaf_key, header={"kid": None, "x5c": [der_b64(leaf), der_b64(middle)]})
    with pytest.raises(AuthChallenge, match="invalid token"):
        await authorizer_for(tmp_path).authorize(bearer(token), PULL)


async def test_x5c_with_an_expired_leaf_is_rejected(tmp_path: Path) -> None:
    leaf_key = ec_key()
    leaf = certificate(leaf_key, ROOT, ROOT_CERT, ca=False, start_days=-10, days=-1)
    token = mint(leaf_key, header={"kid": None, "x5c": [der_b64(leaf)]})
    with pytest.raises(AuthChallenge, match="invalid token"):
        await authorizer_for(tmp_path).authorize(bearer(token), PULL)


async def test_x5c_leaf_must_be_the_signing_key(tmp_path: Path) -> None:
    leaf_key = ec_key()
    leaf = certificate(leaf_key, ROOT, ROOT_CERT, ca=False)
    token = mint(ec_key(), header={"kid": None, "x5c": [der_b64(leaf)]})
    with pytest.raises(AuthChallenge, match="invalid token"):
        await authorizer_for(tmp_path).authorize(bearer(token), PULL)


async def test_signingalgorithms_restricts_accepted_algorithms(tmp_path: Path) -> None:
    authorizer = authorizer_for(tmp_path, signingalgorithms=["RS256"])
    with pytest.raises(AuthChallenge, match="invalid token"):
        await authorizer.authorize(bearer(mint(ROOT)), PULL)


async def test_over_http_the_token_grants_exactly_its_scope(
    tmp_path: Path, app_client: Callable[[Authorizer | None], httpx.AsyncClient]
) -> None:
    client = app_client(authorizer_for(tmp_path))
    headers = {"authorization": f"Bearer {mint(ROOT)}"}
    assert (await client.get("/v2/a/b/tags/list", headers=headers)).status_code == 404
    push = await client.post("/v2/a/b/blobs/uploads/", headers=headers)
    assert push.status_code == 401
    assert challenge_params(push.headers["www-authenticate"])["error"] == "insufficient_scope"
    assert (await client.get("/v2/", headers=headers)).status_code == 200


async def test_optional_access_is_named_in_the_challenge(tmp_path: Path) -> None:
    source = Access("repository", "other/src", ("pull",))
    request = Request("POST", "/v2/a/b/blobs/uploads/", None, optional=(source,))
    with pytest.raises(AuthChallenge) as info:
        await authorizer_for(tmp_path).authorize(request, [Access("repository", "a/b", ("push",))])
    assert challenge_params(info.value.challenge)["scope"] == (
        "repository:a/b:push repository:other/src:pull"
    )


async def test_optional_access_is_not_required(tmp_path: Path) -> None:
    source = Access("repository", "other/src", ("pull",))
    request = Request("GET", "/v2/a/b/tags/list", f"Bearer {mint(ROOT)}", optional=(source,))
    await authorizer_for(tmp_path).authorize(request, PULL)


def verifier_with_clock(tmp_path: Path, clock: list[float]) -> TokenVerifier:
    verifier = authorizer_for(tmp_path).verifier
    verifier.clock = lambda: clock[0]
    return verifier


def test_a_verified_token_is_not_verified_again(tmp_path: Path) -> None:
    verifier = authorizer_for(tmp_path).verifier
    token = mint(ROOT)
    verifier.verify(token)
    with mock.patch.object(jwt, "verify_signature", side_effect=AssertionError("verified")):
        assert verifier.verify(token).subject == "alice"


def test_a_remembered_token_still_expires(tmp_path: Path) -> None:
    now = time.time()
    clock = [now]
    verifier = verifier_with_clock(tmp_path, clock)
    token = mint(ROOT, exp=int(now) + 10)
    verifier.verify(token)
    clock[0] = now + 10 + DEFAULT_LEEWAY + 1
    with pytest.raises(TokenInvalid, match="expired"):
        verifier.verify(token)


def test_a_rejected_token_is_not_remembered(tmp_path: Path) -> None:
    verifier = authorizer_for(tmp_path).verifier
    forged = mint(ec_key(), header={"kid": jwk_thumbprint(ROOT.public_key())})
    for _ in range(2):
        with pytest.raises(TokenInvalid):
            verifier.verify(forged)
