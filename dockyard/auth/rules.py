"""Access rules: who may do what to which repositories, for the built-in token server.

Rules are an ordered list; for each requested resource the first rule that matches both
the resource and the caller decides the allowed actions (so put exceptions first)::

    rules:
      - repositories: "${user}/**"     # everyone gets a personal namespace
        users: ["*"]                   # "*": any authenticated user
        actions: [pull, push, delete]
      - repositories: "team/**"
        groups: [developers]
        actions: [pull, push]
      - repositories: "public/*"
        users: ["*"]
        anonymous: true                # also callers without credentials
        actions: [pull]
      - registry: catalog              # registry-level resources (registry:catalog:*)
        groups: [admins]
        actions: ["*"]

In globs ``*`` and ``?`` stay within one path component, ``**`` crosses ``/``, and
``${user}`` is the caller's username taken literally. A rule naming ``${user}`` matches
only callers whose user name is itself one valid path component of a repository name
(lower-case letters, digits and single separators, no ``/``): never an anonymous caller,
and never ``alice/evil`` (who would otherwise reach into ``alice/``'s namespace) or a
name that cannot be a namespace at all. ``actions: ["*"]`` allows every action. What a
token grants is the intersection of what was asked for and what the deciding rule allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from dockyard.auth.base import Access
from dockyard.auth.scope import ALL_ACTIONS
from dockyard.config.model import AccessRuleConfig, TokenServerAuthConfig
from dockyard.reference import is_valid_component, is_valid_name

_TOKEN: Final = re.compile(r"\*\*|\*|\?|\$\{user\}")
ANY_USER: Final = "*"


def _compile(pattern: str, user: str | None) -> re.Pattern[str] | None:
    parts: list[str] = []
    position = 0
    for match in _TOKEN.finditer(pattern):
        parts.append(re.escape(pattern[position : match.start()]))
        piece = match.group()
        if piece == "**":
            parts.append(".*")
        elif piece == "*":
            parts.append("[^/]*")
        elif piece == "?":
            parts.append("[^/]")
        elif user is None or not is_valid_component(user):
            return None
        else:
            parts.append(re.escape(user))
        position = match.end()
    parts.append(re.escape(pattern[position:]))
    return re.compile("".join(parts))


@dataclass(frozen=True, slots=True)
class Rule:
    """One entry of the rule list."""

    resource_type: str  # "repository" or "registry"
    patterns: tuple[str, ...]
    actions: frozenset[str]
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    anonymous: bool = False

    @classmethod
    def of(cls, config: AccessRuleConfig) -> Rule:
        """The rule one entry of ``auth.tokenserver.rules`` describes."""
        return cls(
            resource_type=config.resource_type,
            patterns=config.patterns,
            actions=frozenset(config.actions),
            users=frozenset(config.users),
            groups=frozenset(config.groups),
            anonymous=config.anonymous,
        )

    def applies_to(self, user: str | None, user_groups: frozenset[str]) -> bool:
        if user is None:
            return self.anonymous
        return user in self.users or ANY_USER in self.users or bool(self.groups & user_groups)

    def matches(
        self, resource_type: str, name: str, user: str | None, patterns: PatternMemo
    ) -> bool:
        if resource_type != self.resource_type:
            return False
        for pattern in self.patterns:
            compiled = patterns.compiled(pattern, user)
            if compiled is not None and compiled.fullmatch(name):
                return True
        return False


class PatternMemo:
    """Rule patterns compiled for a user (``${user}`` differs per user), remembered.

    Owned by one ``AccessRules``; bounded because the user names come from requests:
    emptied when ``max_entries`` is reached or its entries would hold more than
    ``max_bytes`` (2 MiB; each charged ``pattern_charge``, as measured for compiled
    patterns).
    """

    __slots__ = ("_bytes", "_compiled", "max_bytes", "max_entries")

    def __init__(self, max_entries: int = 4096, max_bytes: int = 2 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._compiled: dict[tuple[str, str | None], re.Pattern[str] | None] = {}
        self._bytes = 0

    @property
    def charged_bytes(self) -> int:
        """The memory the compiled patterns hold, as charged against ``max_bytes``."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._compiled)

    def compiled(self, pattern: str, user: str | None) -> re.Pattern[str] | None:
        """``pattern`` as a regular expression for ``user``; ``None`` if it cannot match."""
        key = (pattern, user)
        memo = self._compiled
        try:
            return memo[key]
        except KeyError:
            pass
        charge = pattern_charge(pattern, user)
        if len(memo) >= self.max_entries or self._bytes + charge > self.max_bytes:
            memo.clear()
            self._bytes = 0
        result = memo[key] = _compile(pattern, user)
        self._bytes += charge
        return result


def pattern_charge(pattern: str, user: str | None) -> int:
    """The memory a pattern compiled for ``user`` holds at most: its key, the compiled
    expression (about 15 bytes per character) and the memo's entry."""
    return 512 + 16 * (len(pattern) + len(user or ""))


class AccessRules:
    """The ordered rules and the groups they refer to."""

    def __init__(self, rules: Iterable[Rule], groups: Mapping[str, Iterable[str]]) -> None:
        self.rules = tuple(rules)
        self.patterns = PatternMemo()
        self._groups_of: dict[str, set[str]] = {}
        for group, members in groups.items():
            for member in members:
                self._groups_of.setdefault(member, set()).add(group)

    def groups_of(self, user: str | None) -> frozenset[str]:
        return frozenset(self._groups_of.get(user, ())) if user is not None else frozenset()

    def allowed(self, user: str | None, resource_type: str, name: str) -> frozenset[str]:
        """The actions the first matching rule allows (none when no rule matches)."""
        if resource_type == "repository" and not is_valid_name(name):
            return frozenset()
        user_groups = self.groups_of(user)
        for rule in self.rules:
            if rule.matches(resource_type, name, user, self.patterns) and rule.applies_to(
                user, user_groups
            ):
                return rule.actions
        return frozenset()

    def grant(self, user: str | None, requested: Iterable[Access]) -> list[Access]:
        """The part of ``requested`` the rules allow ``user`` (``None``: anonymous)."""
        granted: list[Access] = []
        for access in requested:
            allowed = self.allowed(user, access.type, access.name)
            actions = tuple(a for a in access.actions if a in allowed or ALL_ACTIONS in allowed)
            if actions:
                granted.append(Access(access.type, access.name, actions))
        return granted


def rules_from_config(server: TokenServerAuthConfig) -> AccessRules:
    """The rules and groups of ``auth.tokenserver``, as the configuration checked them."""
    return AccessRules((Rule.of(rule) for rule in server.rules), server.groups)
