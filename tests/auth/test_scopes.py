"""Token-spec scope strings."""

from __future__ import annotations

from dockyard.auth.base import Access
from dockyard.auth.scope import parse_scope, parse_scopes, permits, scope_param


def test_repository_scope_parses() -> None:
    assert parse_scope("repository:library/alpine:pull,push") == Access(
        "repository", "library/alpine", ("pull", "push")
    )


def test_name_with_a_port_keeps_its_colon() -> None:
    assert parse_scope("repository:localhost:5000/a:pull") == Access(
        "repository", "localhost:5000/a", ("pull",)
    )


def test_catalog_scope_parses() -> None:
    assert parse_scope("registry:catalog:*") == Access("registry", "catalog", ("*",))


def test_malformed_scope_is_none() -> None:
    assert parse_scope("repository") is None
    assert parse_scope("repository:pull") is None


def test_space_separated_and_repeated_scopes_merge() -> None:
    parsed = parse_scopes(["repository:a:pull repository:b:push", "repository:a:push"])
    assert parsed == [
        Access("repository", "a", ("pull", "push")),
        Access("repository", "b", ("push",)),
    ]


def test_scope_param_joins_with_spaces() -> None:
    needed = [Access("repository", "a", ("pull",)), Access("repository", "b", ("pull", "push"))]
    assert scope_param(needed) == "repository:a:pull repository:b:pull,push"


def test_star_permits_every_action() -> None:
    assert permits([Access("repository", "a", ("*",))], Access("repository", "a", ("delete",)))


def test_permits_needs_every_action() -> None:
    granted = [Access("repository", "a", ("pull",))]
    assert not permits(granted, Access("repository", "a", ("pull", "push")))


def test_permits_is_per_resource() -> None:
    granted = [Access("repository", "a", ("pull",))]
    assert not permits(granted, Access("repository", "b", ("pull",)))
