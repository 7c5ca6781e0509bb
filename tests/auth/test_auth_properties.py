"""Properties that hold for any input: parsers fail only with their typed errors, and a
personal namespace never reaches another user's repositories."""

from __future__ import annotations

import contextlib
import string

from auth_helpers import access_rules
from hypothesis import given
from hypothesis import strategies as st

from dockyard.auth import jwt
from dockyard.auth.base import Access
from dockyard.auth.credentials import parse_basic
from dockyard.auth.jwt import TokenInvalid
from dockyard.auth.scope import parse_scopes

COMPONENT = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)
NAME = st.lists(COMPONENT, min_size=1, max_size=4).map("/".join)
NAMESPACE_RULES = access_rules(
    [{"repositories": "${user}/**", "users": ["*"], "actions": ["*"]}], {}
)


@given(st.text(max_size=300))
def test_parsing_any_string_raises_only_token_invalid(text: str) -> None:
    with contextlib.suppress(TokenInvalid):
        jwt.parse(text)


@given(
    st.lists(
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh0123456789-_", max_size=80),
        min_size=3,
        max_size=3,
    )
)
def test_parsing_any_three_base64url_parts_raises_only_token_invalid(parts: list[str]) -> None:
    with contextlib.suppress(TokenInvalid):
        jwt.parse(".".join(parts))


@given(st.text(max_size=200))
def test_any_authorization_header_parses_or_is_none(header: str) -> None:
    result = parse_basic(header)
    assert result is None or (isinstance(result[0], str) and result[0])


@given(st.lists(st.text(max_size=60), max_size=5))
def test_any_scope_parameters_parse_to_accesses(values: list[str]) -> None:
    for access in parse_scopes(values):
        assert isinstance(access, Access)


@given(user=COMPONENT, other=COMPONENT, rest=NAME)
def test_a_personal_namespace_never_reaches_another_users(user: str, other: str, rest: str) -> None:
    own = NAMESPACE_RULES.allowed(user, "repository", f"{user}/{rest}")
    foreign = NAMESPACE_RULES.allowed(user, "repository", f"{other}/{rest}")
    assert own == {"*"}
    assert foreign == (frozenset({"*"}) if other == user else frozenset())


@given(user=st.text(min_size=1, max_size=12), name=NAME)
def test_a_username_with_glob_characters_matches_only_itself(user: str, name: str) -> None:
    allowed = NAMESPACE_RULES.allowed(user, "repository", name)
    assert not allowed or name.startswith(f"{user}/")
