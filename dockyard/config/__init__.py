"""dockyard's configuration: the reference registry's ``config.yml``, typed and validated.

A file written for the reference registry (CNCF distribution) loads unchanged: the sections
dockyard implements become typed dataclasses, sections and keys it does not know or does
not support are reported as warnings, never fatal. Values are checked at load time and a
bad one raises ``ConfigError`` naming its key (``storage.delete.enabled: expected a
boolean, got 'maybe'``).

Environment variables override the file the reference's way: ``REGISTRY_HTTP_ADDR=:5001``
sets ``http.addr``; every ``_`` descends one level, values are read as YAML scalars, and
``REGISTRY_STORAGE=s3`` selects the storage driver (replacing the file's driver section).
Options dockyard adds sit under their natural section (``http.workers``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from dockyard.config.environment import apply_env
from dockyard.config.model import (
    CONFIG_PATH_ENV,
    DEFAULT_DATA_DIR,
    CacheConfig,
    Config,
    ConfigError,
    HTTPConfig,
    LogConfig,
    RedisConfig,
    StorageConfig,
    TLSConfig,
    UploadPurgingConfig,
    ValidationConfig,
)
from dockyard.config.sections import build, normalise_storage
from dockyard.config.values import parse_addr, parse_duration


def load(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
) -> Config:
    """Read, override from the environment, and validate the configuration.

    ``path`` None means no file: the embedded default (filesystem storage in ``./.data``,
    port 5000), still subject to environment overrides.
    """
    env = os.environ if environ is None else environ
    tree: dict[str, Any] = {}
    if path is not None:
        tree = read_file(path)
    return from_dict(tree, env, cwd=cwd, source=None if path is None else str(path))


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The YAML mapping in ``path``; ``ConfigError`` if unreadable or not a mapping."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"configuration file {path} is not valid YAML{where}") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ConfigError("configuration: expected a mapping at the top level")
    return tree


def from_dict(
    tree: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
    source: str | None = None,
) -> Config:
    """Validate a configuration tree (as parsed from YAML) after environment overrides."""
    warnings: list[str] = []
    data = normalise_storage(dict(tree))
    apply_env(data, {} if environ is None else environ, warnings)
    base = Path(cwd) if cwd is not None else Path.cwd()
    return build(data, base, warnings, has_file=source is not None or bool(tree), source=source)


__all__ = [
    "CONFIG_PATH_ENV",
    "DEFAULT_DATA_DIR",
    "CacheConfig",
    "Config",
    "ConfigError",
    "HTTPConfig",
    "LogConfig",
    "RedisConfig",
    "StorageConfig",
    "TLSConfig",
    "UploadPurgingConfig",
    "ValidationConfig",
    "apply_env",
    "from_dict",
    "load",
    "parse_addr",
    "parse_duration",
    "read_file",
]
