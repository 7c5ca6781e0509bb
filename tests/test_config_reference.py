"""The configuration reference and the example file agree with the model, key for key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_config import write_certificate

from dockyard.config import load
from dockyard.config.model import DEPRECATED_KEYS
from dockyard.config.reference import render, rows

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.yml"
#: A commented-out line of YAML (a key or a list item), as opposed to prose.
_COMMENTED_YAML = re.compile(r"^(\s*)# ((?:\s*)(?:[A-Za-z_][\w-]*:(?:\s|$)|- ).*)$")


def documented() -> set[str]:
    return {row.key for row in rows()}


def uncommented_example() -> dict[str, Any]:
    """The example with every commented-out key and block taken in."""
    lines = [_COMMENTED_YAML.sub(r"\1\2", line) for line in EXAMPLE.read_text().splitlines()]
    tree = yaml.safe_load("\n".join(lines))
    assert isinstance(tree, dict)
    return tree


def key_paths(tree: dict[str, Any], keys: set[str], prefix: str = "") -> Iterator[str]:
    """Every key path in ``tree``, stopping at keys documented whole (mappings, lists)."""
    for name, value in tree.items():
        path = f"{prefix}.{name}" if prefix else str(name)
        if path in keys or not isinstance(value, dict):
            yield path
        else:
            yield from key_paths(value, keys, path)


def test_the_committed_reference_is_what_the_model_generates() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == render(), (
        "docs/configuration.md is stale: python -m dockyard.config.reference > "
        "docs/configuration.md"
    )


def test_the_example_loads_as_it_is_without_a_warning() -> None:
    config = load(EXAMPLE, {})
    assert config.warnings == ()
    assert config.http.workers == 1


def test_the_example_shows_every_documented_key() -> None:
    shown = set(key_paths(uncommented_example(), documented()))
    assert sorted(documented() - shown) == []


def test_the_example_shows_only_documented_keys() -> None:
    shown = set(key_paths(uncommented_example(), documented()))
    assert sorted(shown - documented() - set(DEPRECATED_KEYS)) == []


@pytest.mark.parametrize(
    ("driver", "schemes"),
    [("filesystem", ("htpasswd",)), ("s3", ("token", "tokenserver")), ("inmemory", ())],
)
def test_every_key_of_the_example_is_read(
    tmp_path: Path, driver: str, schemes: tuple[str, ...]
) -> None:
    tree = uncommented_example()
    tree["storage"] = {
        k: v
        for k, v in tree["storage"].items()
        if k == driver or k not in ("filesystem", "s3", "inmemory")
    }
    tree["auth"] = {k: v for k, v in tree["auth"].items() if k in schemes}
    if not schemes:
        del tree["auth"]
    certificate, key = write_certificate(tmp_path)
    tree["http"]["tls"].update(
        certificate=str(certificate), key=str(key), clientcas=[str(tmp_path / "ca.pem")]
    )
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(tree))
    config = load(path, {}, cwd=tmp_path)
    unread = [w for w in config.warnings if "unknown key" in w]
    assert unread == []
