"""``REGISTRY_*`` environment overrides, applied the reference registry's way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from dockyard.config.model import CONFIG_PATH_ENV, ENV_PREFIX, STORAGE_OPTIONS


class EnvText(str):
    """A value that came from the environment: text, read as YAML where a type is needed."""

    __slots__ = ()


def apply_env(tree: dict[str, Any], environ: Mapping[str, str], warnings: list[str]) -> None:
    """Apply ``REGISTRY_*`` overrides to ``tree`` in place, shorter paths first."""
    overrides = sorted(
        (name[len(ENV_PREFIX) :].split("_"), value)
        for name, value in environ.items()
        if name.startswith(ENV_PREFIX) and name != CONFIG_PATH_ENV
    )
    overrides.sort(key=lambda item: len(item[0]))
    for parts, value in overrides:
        if not all(parts):
            warnings.append(f"ignoring environment variable {ENV_PREFIX}{'_'.join(parts)}")
            continue
        if parts[0] == "VERSION":
            warnings.append(f"{ENV_PREFIX}VERSION: the version cannot be overridden; ignored")
            continue
        if parts == ["STORAGE"]:
            _select_driver(tree, value)
            continue
        _set_path(tree, parts, EnvText(value))


def _select_driver(tree: dict[str, Any], name: str) -> None:
    storage = tree.get("storage")
    if not isinstance(storage, dict):
        storage = {}
    kept = {k: v for k, v in storage.items() if k in STORAGE_OPTIONS}
    kept[name.strip().lower()] = {}
    tree["storage"] = kept


def _set_path(tree: dict[str, Any], parts: list[str], value: EnvText) -> None:
    node = tree
    index = 0
    while index < len(parts):
        key, index = _match_key(node, parts, index)
        if index == len(parts):
            node[key] = value
            return
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child


def _match_key(node: Mapping[str, Any], parts: list[str], start: int) -> tuple[str, int]:
    """The key ``parts[start:]`` names in ``node``, and where the rest of the path begins.

    Existing keys are matched case-insensitively and may themselves contain ``_``
    (longest match first); otherwise the next component, lower-cased, is a new key.
    """
    existing = {str(k).upper(): str(k) for k in node}
    for end in range(len(parts), start, -1):
        candidate = "_".join(parts[start:end])
        if candidate in existing:
            return existing[candidate], end
    return parts[start].lower(), start + 1


def plain(value: Any) -> Any:
    """``value`` with environment text read as YAML scalars, for pass-through sections."""
    if isinstance(value, EnvText):
        return _yaml_scalar(str(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _yaml_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
