"""``${user}`` rules cannot be stretched over other namespaces: a user name that is not
one valid path component gets no personal namespace, and the README's example rules
keep user ``public`` out of the shared ``public/`` namespace."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from auth_helpers import access_rules

from dockyard.auth.base import Access
from dockyard.auth.rules import AccessRules

README = Path(__file__).resolve().parents[2] / "README.md"
NAMESPACES = access_rules(
    [{"repositories": "${user}/**", "users": ["*"], "actions": ["pull", "push"]}], {}
)


def readme_token_server() -> dict[str, Any]:
    """The ``auth.tokenserver`` section of the README's token-server example."""
    for block in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.DOTALL):
        document = yaml.safe_load(block)
        if "tokenserver" in document.get("auth", {}):
            section: dict[str, Any] = document["auth"]["tokenserver"]
            return section
    raise AssertionError("the README has no token server example")


def granted(rules: AccessRules, user: str | None, name: str) -> set[str]:
    access = Access("repository", name, ("pull", "push", "delete"))
    return {a for grant in rules.grant(user, [access]) for a in grant.actions}


@pytest.mark.parametrize(
    ("user", "name"),
    [
        ("alice/evil", "alice/evil/x"),
        ("alice/evil", "alice/evil"),
        ("a/b/c", "a/b/c/d"),
        ("Alice", "Alice/x"),
        ("../alice", "alice/x"),
        ("alice*", "alice/x"),
        ("", "x"),
    ],
)
def test_user_name_that_is_not_one_path_component_gets_no_namespace(user: str, name: str) -> None:
    assert granted(NAMESPACES, user, name) == set()


def test_user_name_that_is_one_path_component_gets_its_namespace() -> None:
    assert granted(NAMESPACES, "alice.smith-2", "alice.smith-2/x") == {"pull", "push"}
    assert granted(NAMESPACES, "alice.smith-2", "alice/x") == set()


def test_readme_rules_give_user_public_only_pull_on_the_shared_namespace() -> None:
    section = readme_token_server()
    rules = access_rules(section["rules"], section.get("groups"))
    assert granted(rules, "public", "public/x") == {"pull"}
    assert granted(rules, "alice", "alice/x") == {"pull", "push", "delete"}
    assert granted(rules, None, "public/x") == {"pull"}
