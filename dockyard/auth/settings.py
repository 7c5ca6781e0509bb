"""Reading typed values out of the ``auth`` configuration, with errors that name the key.

Values may arrive as YAML types or, from ``REGISTRY_AUTH_…`` environment overrides, as
strings; both are accepted where the meaning is unambiguous.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from dockyard.auth.errors import AuthConfigError
from dockyard.config.values import duration as config_duration


def section(parent: Mapping[str, Any], name: str, key: str) -> dict[str, Any]:
    """A nested mapping (``{}`` when absent or null)."""
    value = parent.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AuthConfigError(key, "must be a mapping")
    for child in value:
        if not isinstance(child, str):
            raise AuthConfigError(key, f"has a non-string key {child!r}")
    return dict(value)


def reject_unknown(values: Mapping[str, Any], known: Set[str], key: str) -> None:
    for name in values:
        if name not in known:
            raise AuthConfigError(
                f"{key}.{name}", f"unknown option (known: {', '.join(sorted(known))})"
            )


def string(values: Mapping[str, Any], name: str, key: str, default: str | None = None) -> str:
    """A non-empty string option; required unless ``default`` is given."""
    value = values.get(name)
    if value is None or value == "":
        if default is None:
            raise AuthConfigError(f"{key}.{name}", "is required")
        return default
    if not isinstance(value, str):
        raise AuthConfigError(f"{key}.{name}", "must be a string")
    return value


def optional_string(values: Mapping[str, Any], name: str, key: str) -> str | None:
    if values.get(name) in (None, ""):
        return None
    return string(values, name, key)


def boolean(values: Mapping[str, Any], name: str, key: str, default: bool = False) -> bool:
    value = values.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
        "true",
        "yes",
        "on",
        "1",
        "false",
        "no",
        "off",
        "0",
    ):
        return value.lower() in ("true", "yes", "on", "1")
    raise AuthConfigError(f"{key}.{name}", "must be true or false")


def string_list(values: Mapping[str, Any], name: str, key: str) -> list[str]:
    """A list of strings; a comma-separated string is accepted too (environment overrides)."""
    value = values.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AuthConfigError(f"{key}.{name}", "must be a list of strings")
    return list(value)


def duration(
    values: Mapping[str, Any], name: str, key: str, default: float, *, allow_zero: bool = False
) -> float:
    """A positive duration in seconds, in the configuration's one duration grammar."""
    value = values.get(name)
    if value is None:
        return default
    try:
        seconds = config_duration(value).total_seconds()
    except ValueError:
        raise AuthConfigError(f"{key}.{name}", "must be a duration such as 5m") from None
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise AuthConfigError(f"{key}.{name}", "must be positive")
    return seconds
