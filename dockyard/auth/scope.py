"""Token-spec scopes: parsing ``type:name:actions`` strings and comparing access sets.

A scope names one resource and the actions on it: ``repository:library/alpine:pull,push``,
``registry:catalog:*``. Repository names may hold a ``host:port/`` prefix, so the type is
everything before the first colon and the actions everything after the last one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dockyard.auth.base import Access

ALL_ACTIONS = "*"


def parse_scope(text: str) -> Access | None:
    """Parse one scope string; ``None`` when it is not of the ``type:name:actions`` form."""
    resource_type, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not resource_type or not name:
        return None
    parsed = tuple(dict.fromkeys(a for a in actions.split(",") if a))
    return Access(resource_type, name, parsed)


def parse_scopes(values: Iterable[str]) -> list[Access]:
    """Parse scope parameters, each of which may hold several space-separated scopes."""
    parsed = (parse_scope(part) for value in values for part in value.split())
    return merge(a for a in parsed if a is not None)


def merge(accesses: Iterable[Access]) -> list[Access]:
    """Combine accesses naming the same resource, keeping first-seen order of actions."""
    combined: dict[tuple[str, str], dict[str, None]] = {}
    for access in accesses:
        actions = combined.setdefault((access.type, access.name), {})
        actions.update(dict.fromkeys(access.actions))
    return [Access(t, n, tuple(actions)) for (t, n), actions in combined.items()]


def scope_param(accesses: Iterable[Access]) -> str:
    """The value of a challenge's ``scope`` parameter for the given needed access."""
    return " ".join(a.scope for a in merge(accesses) if a.actions)


def actions_table(granted: Iterable[Access]) -> Mapping[tuple[str, str], frozenset[str]]:
    """Index granted access by resource, for ``permits``."""
    table: dict[tuple[str, str], set[str]] = {}
    for access in granted:
        table.setdefault((access.type, access.name), set()).update(access.actions)
    return {key: frozenset(actions) for key, actions in table.items()}


def permits(granted: Iterable[Access], needed: Access) -> bool:
    """True when ``granted`` covers every action of ``needed`` (``*`` covers all)."""
    actions = actions_table(granted).get((needed.type, needed.name), frozenset())
    return ALL_ACTIONS in actions or all(a in actions for a in needed.actions)
