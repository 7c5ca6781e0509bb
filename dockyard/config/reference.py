"""The configuration reference, generated from the model's declarations.

``python -m dockyard.config.reference`` prints ``docs/configuration.md``; a test fails
when the committed document differs from what the model declares, so the reference
cannot drift from the code. Nothing here is written by hand but the section intros.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from dockyard.config.declare import declared, default_of, field_type, key_of
from dockyard.config.model import (
    DEPRECATED_KEYS,
    DRIVER_PARAMS,
    ENV_PREFIX,
    UNSUPPORTED_SECTIONS,
    Config,
)

#: How the reference registry orders and introduces its sections. A section not named
#: here follows them, introduced by its dataclass's docstring: declaring its field on
#: ``Config`` is enough to document it.
SECTIONS: Final = {
    "version": "The format of the file.",
    "log": "What dockyard logs, and how.",
    "storage": (
        "Where content is kept: exactly one driver section (`filesystem`, `inmemory` or "
        "`s3`), and options that apply to every driver."
    ),
    "auth": (
        "Access control: `htpasswd`, or `token` (optionally with dockyard's own "
        "`tokenserver`). Without it, anyone may push and pull."
    ),
    "http": "Where and how the registry listens.",
    "redis": "The Redis server that the `redis` blob descriptor cache uses.",
    "validation": "Which manifests are accepted.",
    "catalog": "The repository listing.",
}


def sections() -> dict[str, str]:
    """Every top-level section the model declares, in document order, with its intro."""
    found: dict[str, str] = {}
    for item in dataclasses.fields(Config):
        if declared(item) is None:
            continue
        name = key_of(item).split(".")[0]
        kind = field_type(Config, item.name)
        doc = (kind.__doc__ or "") if isinstance(kind, type) else ""
        intro = doc.split(":", 1)[-1].strip().split("\n")[0]
        found.setdefault(name, intro[:1].upper() + intro[1:])
    ordered = {name: SECTIONS[name] for name in SECTIONS if name in found}
    ordered.update({name: intro for name, intro in found.items() if name not in ordered})
    return ordered


@dataclass(frozen=True, slots=True)
class Row:
    """One key of the reference."""

    key: str
    kind: str
    default: str
    doc: str


def rows() -> Iterator[Row]:
    """Every key dockyard reads, in document order."""
    for name in sections():
        if name == "storage":
            for driver, params in DRIVER_PARAMS.items():
                if not dataclasses.fields(params):
                    doc = (params.__doc__ or "").split(":", 1)[-1].strip().splitlines()[0]
                    yield Row(f"storage.{driver}", "mapping", "", f"No parameters: {doc}")
                yield from _describe(params, f"storage.{driver}")
        yield from _describe(Config, "", only=name)


def _describe(cls: type, prefix: str, only: str | None = None) -> Iterator[Row]:
    for item in dataclasses.fields(cls):
        meta = declared(item)
        if meta is None:
            continue
        key = key_of(item)
        if only is not None and key.split(".")[0] != only:
            continue
        path = f"{prefix}.{key}" if prefix else key
        kind = field_type(cls, item.name)
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            yield from _describe(kind, path)
            continue
        doc = meta.doc
        if meta.inert:
            doc = f"Accepted for compatibility; no effect. {doc}"
        yield Row(path, _kind(kind, meta.choices), _default(item, meta.shown), doc)


def _kind(kind: Any, choices: tuple[str, ...]) -> str:
    if choices:
        return "one of " + ", ".join(f"`{c}`" for c in choices)
    if kind is bool:
        return "boolean"
    if kind is int:
        return "integer"
    if kind is str:
        return "string"
    if kind is timedelta:
        return "duration"
    origin = typing.get_origin(kind)
    if origin is tuple:
        return "list"
    if origin is dict:
        return "mapping"
    return str(kind)


def _default(item: dataclasses.Field[Any], shown: str | None) -> str:
    if shown is not None:
        return shown
    value = default_of(item)
    if value is None or value is dataclasses.MISSING:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return _go_duration(value)
    if isinstance(value, tuple | dict | list) and not value:
        return ""
    return str(value)


def _go_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The whole reference document (Markdown)."""
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m dockyard.config.reference > docs/configuration.md`",
        "     from dockyard/config/model.py. Do not edit: change the model and regenerate. -->",
        "",
        "dockyard reads the reference registry's `config.yml`. This is every key it reads,",
        "generated from the configuration model. `dockyard config check FILE` validates a",
        "file as `dockyard serve` would start with it: a bad value or a file that cannot be",
        "loaded (a certificate, a key) stops it naming the key; keys it does not know are",
        "warned about, naming them, and ignored. Two exceptions stop it instead, because",
        "ignoring them would change who may do what: a section of `auth` that names no",
        "scheme, and an unknown key inside an access rule of `auth.tokenserver.rules`.",
        "",
        f"Every key can be set from the environment: `{ENV_PREFIX}` followed by the key's",
        "path in capitals with `_` between levels (`REGISTRY_HTTP_ADDR=:5001`,",
        "`REGISTRY_STORAGE_DELETE_ENABLED=true`); `REGISTRY_STORAGE=s3` selects the driver.",
        "",
        "Durations are Go durations (`300ms`, `90s`, `10m`, `1h30m`, `168h`) or a number of",
        "seconds. An empty default means unset.",
        "",
    ]
    intros = sections()
    current = None
    for row in rows():
        section = row.key.split(".")[0]
        if section != current:
            if current is not None:
                out.append("")
            current = section
            out += [f"## `{section}`", "", intros[section], ""]
            out += ["| Key | Type | Default | Meaning |", "|---|---|---|---|"]
        default = f"`{row.default}`" if row.default else ""
        out.append(f"| `{row.key}` | {row.kind} | {_cell(default)} | {_cell(row.doc)} |")
    out += ["", "## Deprecated spellings", "", "Still read, with a warning.", ""]
    out += ["| Key | Use instead |", "|---|---|"]
    out += [f"| `{old}` | `{new}` |" for old, new in DEPRECATED_KEYS.items()]
    out += ["", "## Sections of the reference registry that dockyard ignores", ""]
    out += ["A warning names each one present.", ""]
    out += ["| Section | |", "|---|---|"]
    out += [f"| `{name}` | {_cell(reason)} |" for name, reason in UNSUPPORTED_SECTIONS.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
