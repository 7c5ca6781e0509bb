"""Semantic version ranges for selecting tags: ``>=1.2 <2``, ``^1.4``, ``~2.1``, ``1.x``.

A tag takes part when it reads as a version (``1.2.3``, ``v1.2``, ``1.2.3-rc.1``; missing
parts are 0) and satisfies every comparator of the range. As npm and Cargo do, a
pre-release satisfies a range only when a comparator names a pre-release of the same
``major.minor.patch``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from dockyard.errors import DockyardError

_VERSION: Final = re.compile(
    r"v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?"
)
_OPERATOR: Final = re.compile(r"(>=|<=|>|<|=|\^|~)\s+")
_COMPARATOR: Final = re.compile(r"(?P<op>>=|<=|>|<|=|\^|~)?(?P<version>[^<>=^~]+)")


class RangeInvalid(DockyardError):
    """A semantic version range cannot be read."""


@dataclass(frozen=True, slots=True, order=True)
class Version:
    """A version, ordered as semantic versioning orders them."""

    major: int
    minor: int
    patch: int
    #: Empty for a release, which sorts after every pre-release of it.
    pre: tuple[tuple[int, int | str], ...] = ()
    release: bool = True

    @classmethod
    def parse(cls, text: str) -> Version | None:
        match = _VERSION.fullmatch(text)
        if match is None:
            return None
        pre = match["pre"]
        fields = tuple(
            (0, int(part)) if part.isdigit() else (1, part) for part in (pre or "").split(".")
        )
        return cls(
            int(match["major"]),
            int(match["minor"] or 0),
            int(match["patch"] or 0),
            fields if pre else (),
            pre is None,
        )

    @property
    def core(self) -> tuple[int, int, int]:
        return self.major, self.minor, self.patch

    def sort_key(self) -> tuple[int, int, int, bool, tuple[tuple[int, int | str], ...]]:
        return (self.major, self.minor, self.patch, self.release, self.pre)


Check = Callable[[Version], bool]


class VersionRange:
    """A conjunction of comparators, as written after ``--semver``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._checks: list[Check] = []
        self._pre_cores: set[tuple[int, int, int]] = set()
        parts = _OPERATOR.sub(r"\1", text.replace(",", " ")).split()
        if not parts:
            raise RangeInvalid("a version range needs at least one comparator")
        for part in parts:
            match = _COMPARATOR.fullmatch(part)
            if match is None:
                raise RangeInvalid(f"{part!r} is not a comparator")
            self._add(match["op"] or "=", match["version"])

    def _add(self, op: str, text: str) -> None:
        parts = text.lstrip("v").split("-", 1)[0].split("+", 1)[0].split(".")
        given = 0
        for part in parts:
            if not part.isdigit():
                break
            given += 1
        complete = given == 3 and len(parts) == 3
        bound = Version.parse(text if complete else ".".join(parts[:given]) or "0")
        if bound is None or (not complete and parts[given:] and parts[given] not in "xX*"):
            raise RangeInvalid(f"{text!r} is not a version")
        if not bound.release:
            self._pre_cores.add(bound.core)
        low = bound.sort_key()
        if op in ("^", "~") or (op == "=" and not complete):
            high = _upper(bound, op, given)
            self._checks.append(lambda v: low <= v.sort_key() < high)
        elif op == ">=":
            self._checks.append(lambda v: v.sort_key() >= low)
        elif op == ">":
            self._checks.append(lambda v: v.sort_key() > low)
        elif op == "<=":
            self._checks.append(lambda v: v.sort_key() <= low)
        elif op == "<":
            self._checks.append(lambda v: v.sort_key() < low)
        else:
            self._checks.append(lambda v: v.sort_key() == low)

    def matches(self, tag: str) -> bool:
        version = Version.parse(tag)
        if version is None:
            return False
        if not version.release and version.core not in self._pre_cores:
            return False
        return all(check(version) for check in self._checks)


def _upper(
    bound: Version, op: str, given: int
) -> tuple[int, int, int, bool, tuple[tuple[int, int | str], ...]]:
    """The first version above what ``^``, ``~`` or a partial version (``1``, ``1.2.x``)
    allows, as the lowest pre-release of it (exclusive)."""
    if op == "^":
        if bound.major:
            core = (bound.major + 1, 0, 0)
        elif bound.minor:
            core = (0, bound.minor + 1, 0)
        else:
            core = (0, 0, bound.patch + 1)
    elif given == 0:
        core = (1 << 62, 0, 0)
    elif given == 1:
        core = (bound.major + 1, 0, 0)
    else:
        core = (bound.major, bound.minor + 1, 0)
    return (*core, False, ())
