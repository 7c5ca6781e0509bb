"""Declaring configuration keys once: a model field says its key, its meaning and its checks.

A section of the model is a frozen dataclass whose fields are declared with ``option``.
``read`` fills such a dataclass from its section of the tree by those declarations,
typed by the field's annotation (``bool``, ``int``, ``str``, ``timedelta``, a tuple of
strings, a mapping of strings, or another declared dataclass for a subsection), and the
configuration reference (``docs/configuration.md``, see ``dockyard.config.reference``) is
generated from the same declarations. Adding a key is adding one field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, Union

if TYPE_CHECKING:
    from dockyard.config.sections import Section

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Declared:
    """What a field declares about its key (kept in the field's metadata)."""

    doc: str
    #: The key's path below the section, if not the field's name (``accesslog.disabled``).
    key: str | None = None
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    #: The default as the reference shows it, where the field's own default is not it.
    shown: str | None = None
    #: Accepted for compatibility with the reference registry, but it changes nothing.
    inert: bool = False
    #: Read by hand in ``sections`` (legacy spellings, values checked against others).
    custom: bool = False
    #: The key must be set (to a value that is not empty); the field has no default.
    required: bool = False
    #: A credential: kept out of the dataclass's ``repr`` (and so out of logs).
    secret: bool = False


def option(
    doc: str,
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    key: str | None = None,
    choices: tuple[str, ...] = (),
    minimum: int | None = None,
    maximum: int | None = None,
    shown: str | None = None,
    inert: bool = False,
    custom: bool = False,
    required: bool = False,
    secret: bool = False,
) -> Any:
    """A dataclass field for one configuration key (see ``Declared``)."""
    declared = Declared(doc, key, choices, minimum, maximum, shown, inert, custom, required, secret)
    metadata = {"declared": declared}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata, repr=not secret)
    return field(default=default, metadata=metadata, repr=not secret)


def declared(item: dataclasses.Field[Any]) -> Declared | None:
    """The declaration of a dataclass field, or None for a field no key sets."""
    value = item.metadata.get("declared")
    return value if isinstance(value, Declared) else None


def key_of(item: dataclasses.Field[Any]) -> str:
    meta = declared(item)
    return (meta.key if meta is not None and meta.key else None) or item.name


def field_type(cls: type, name: str) -> Any:
    """The resolved annotation of ``cls.name``, without ``None`` for optional fields."""
    hint = typing.get_type_hints(cls)[name]
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def default_of(item: dataclasses.Field[Any]) -> Any:
    if item.default is not MISSING:
        return item.default
    if item.default_factory is not MISSING:
        return item.default_factory()
    return None


def read(cls: type[T], section: Section, **given: Any) -> T:
    """``cls`` filled from ``section`` by its declared fields; ``given`` fields as passed.

    Fields declared ``custom`` must be in ``given``; keys the declarations do not name
    are reported by ``section.finish`` as unknown.
    """
    values: dict[str, Any] = {}
    children: dict[str, Section] = {}
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        meta = declared(item)
        if item.name in given or meta is None or meta.custom:
            continue
        *parents, leaf = key_of(item).split(".")
        target = section
        for part in parents:
            path = f"{target.path}.{part}" if target.path else part
            if path not in children:
                children[path] = target.section(part)
            target = children[path]
        if meta.inert:
            if target.raw(leaf) not in (None, False, "", [], {}):
                target.warnings.append(f"{target.key(leaf)}: not supported; ignored")
            values[item.name] = default_of(item)
            continue
        values[item.name] = read_value(target, leaf, field_type(cls, item.name), item, meta)
        if meta.required and values[item.name] in (None, ""):
            raise target.missing(leaf)
    for child in children.values():
        child.finish()
    return cls(**values, **given)


def read_value(
    section: Section, name: str, kind: Any, item: dataclasses.Field[Any], meta: Declared
) -> Any:
    """One key's value, checked as its field's type and declaration say."""
    default = default_of(item)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        child = section.section(name)
        value = read(kind, child)
        child.finish()
        return value
    if kind is bool:
        return section.boolean(name, default)
    if kind is int:
        return section.integer(name, default, minimum=meta.minimum or 0, maximum=meta.maximum)
    if kind is timedelta:
        return section.duration(name, default)
    if kind is str:
        if meta.choices:
            return section.choice(name, default, meta.choices)
        return section.text(name, default)
    if typing.get_origin(kind) is tuple:
        return section.strings(name) or default
    if typing.get_origin(kind) is dict:
        return section.mapping(name)
    raise TypeError(f"{item.name}: no reader for {kind!r}")
