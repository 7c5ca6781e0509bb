"""Access rules: globs, ${user} namespaces, groups, anonymous access, intersection."""

from __future__ import annotations

from typing import Any

import pytest
from auth_helpers import access_rules

from dockyard.auth.base import Access
from dockyard.auth.rules import AccessRules
from dockyard.config import ConfigError

GROUPS = {"devs": ["carol"], "admins": ["alice"]}
RULES: list[dict[str, Any]] = [
    {"repositories": "secret/**", "users": ["*"], "actions": []},
    {"repositories": "${user}/**", "users": ["*"], "actions": ["pull", "push", "delete"]},
    {"repositories": "team/*", "groups": ["devs"], "actions": ["pull", "push"]},
    {
        "repositories": ["team/*", "public/*"],
        "users": ["*"],
        "anonymous": True,
        "actions": ["pull"],
    },
    {"repositories": "**", "users": ["alice"], "actions": ["*"]},
    {"registry": "catalog", "groups": ["admins"], "actions": ["*"]},
]


@pytest.fixture
def rules() -> AccessRules:
    return access_rules(RULES, GROUPS)


def test_user_owns_their_namespace(rules: AccessRules) -> None:
    assert rules.allowed("bob", "repository", "bob/app") == {"pull", "push", "delete"}


def test_user_namespace_covers_nested_repositories(rules: AccessRules) -> None:
    assert "push" in rules.allowed("bob", "repository", "bob/a/b/c")


def test_user_cannot_write_another_users_namespace(rules: AccessRules) -> None:
    assert rules.allowed("bob", "repository", "carol/app") == frozenset()


def test_username_is_not_a_glob(rules: AccessRules) -> None:
    special = access_rules([{"repositories": "u/${user}", "users": ["*"], "actions": ["pull"]}], {})
    assert special.allowed("a.c", "repository", "u/abc") == frozenset()
    assert special.allowed("a.c", "repository", "u/a.c") == {"pull"}


def test_anonymous_never_matches_a_user_rule(rules: AccessRules) -> None:
    assert rules.allowed(None, "repository", "bob/app") == frozenset()


def test_anonymous_gets_pull_where_configured(rules: AccessRules) -> None:
    assert rules.allowed(None, "repository", "public/app") == {"pull"}


def test_group_member_gets_the_group_rule(rules: AccessRules) -> None:
    assert rules.allowed("carol", "repository", "team/app") == {"pull", "push"}


def test_non_member_falls_through_to_the_next_rule(rules: AccessRules) -> None:
    assert rules.allowed("bob", "repository", "team/app") == {"pull"}


def test_single_star_stays_within_one_component(rules: AccessRules) -> None:
    assert rules.allowed("bob", "repository", "team/app/nested") == frozenset()


def test_first_matching_rule_decides(rules: AccessRules) -> None:
    assert rules.allowed("alice", "repository", "secret/x") == frozenset()
    assert rules.allowed("alice", "repository", "other/x") == {"*"}


def test_invalid_repository_name_gets_nothing(rules: AccessRules) -> None:
    assert rules.allowed("alice", "repository", "UPPER/case") == frozenset()


def test_catalog_rule_applies_to_registry_resources(rules: AccessRules) -> None:
    assert rules.allowed("alice", "registry", "catalog") == {"*"}
    assert rules.allowed("bob", "registry", "catalog") == frozenset()


def test_grant_is_the_intersection_of_requested_and_allowed(rules: AccessRules) -> None:
    requested = [
        Access("repository", "team/app", ("pull", "push", "delete")),
        Access("repository", "carol/x", ("delete",)),
        Access("repository", "bob/x", ("pull",)),
    ]
    assert rules.grant("carol", requested) == [
        Access("repository", "team/app", ("pull", "push")),
        Access("repository", "carol/x", ("delete",)),
    ]


def test_star_request_needs_a_star_rule(rules: AccessRules) -> None:
    assert rules.grant("bob", [Access("repository", "bob/x", ("*",))]) == []
    assert rules.grant("alice", [Access("repository", "x/y", ("*",))]) == [
        Access("repository", "x/y", ("*",))
    ]


def test_no_rules_grant_nothing() -> None:
    assert access_rules(None, None).grant("alice", [Access("repository", "a", ("pull",))]) == []


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ({"users": ["*"], "actions": ["pull"]}, r"rules\[0\]: needs exactly one"),
        ({"repositories": "a", "registry": "catalog"}, r"rules\[0\]: needs exactly one"),
        ({"repositories": "a", "actions": ["pull", "fly"]}, r"rules\[0\]\.actions: unknown action"),
        ({"repositories": "a", "groups": ["ghosts"]}, r"rules\[0\]\.groups: group 'ghosts'"),
        ({"repositories": "a", "colour": "red"}, r"rules\[0\]\.colour: unknown key"),
        ({"repositories": "a", "anonymous": "perhaps"}, r"rules\[0\]\.anonymous: expected a bool"),
        ({"repositories": {"a": 1}}, r"rules\[0\]\.repositories: expected a list"),
    ],
)
def test_invalid_rule_is_a_config_error_naming_the_key(rule: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=f"^auth.tokenserver.{key}"):
        access_rules([rule], {})


def test_patterns_compiled_for_many_users_stay_within_the_rules_own_bound() -> None:
    rules = access_rules(RULES, GROUPS)
    rules.patterns.max_entries = 8
    for index in range(50):
        user = f"user{index}"
        assert "push" in rules.allowed(user, "repository", f"{user}/app")
        assert len(rules.patterns) <= 8


def test_each_rule_set_compiles_its_own_patterns() -> None:
    first = access_rules(RULES, GROUPS)
    second = access_rules(RULES, GROUPS)
    first.allowed("bob", "repository", "bob/app")
    assert len(first.patterns) > 0
    assert len(second.patterns) == 0
