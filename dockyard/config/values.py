"""Scalar configuration values: durations, listen addresses, values shown in errors."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Any, Final

from dockyard.config.environment import EnvText
from dockyard.config.model import ConfigError

_SECRET_KEY: Final = re.compile(r"secret|password|passwd|token|accesskey|privatekey", re.I)


def show_value(value: Any, key: str = "") -> str:
    """``value`` for an error message: quoted, shortened, and hidden under secret keys."""
    if _SECRET_KEY.search(key.rsplit(".", 1)[-1]):
        return "a value (hidden)"
    text = repr(str(value) if isinstance(value, EnvText) else value)
    return text if len(text) <= 60 else text[:57] + "..."


_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration (``168h``, ``1h30m``, ``1.5s``, ``300ms``, ``0``)."""
    value = text.strip()
    sign = 1
    if value[:1] in ("+", "-"):
        sign = -1 if value[0] == "-" else 1
        value = value[1:]
    if value == "0":
        return timedelta(0)
    if not value:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    position = 0
    while position < len(value):
        match = _DURATION_PART.match(value, position)
        if match is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    return timedelta(seconds=sign * total)


_SECONDS: Final = re.compile(r"\s*\d+(?:\.\d+)?\s*")


def duration(value: object) -> timedelta:
    """A duration as configured: a Go duration (``90s``, ``1h30m``) or a number of seconds.

    The one grammar for every duration key, auth included; ``ValueError`` otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        if _SECONDS.fullmatch(value):
            return timedelta(seconds=float(value))
        return parse_duration(value)
    raise ValueError(f"invalid duration {value!r}")


def parse_addr(addr: str, key: str) -> tuple[str, int]:
    """Split ``host:port`` (``:5000``, ``localhost:5000``, ``[::1]:5000``) for listening.

    An empty host means every interface (``0.0.0.0``) and ``localhost`` the IPv4 loopback.
    """
    match = re.fullmatch(r"(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]]*)):(\d{1,5})", addr.strip())
    if match is None:
        raise ConfigError(f"{key}: expected host:port such as ':5000', got {show_value(addr)}")
    host = match.group(1) or match.group(2) or ""
    port = int(match.group(3))
    if port > 65535:
        raise ConfigError(f"{key}: port {port} is out of range")
    if host in ("", "0.0.0.0"):  # noqa: S104 - ':5000' means every interface, as in Go
        return "0.0.0.0", port  # noqa: S104
    if host == "localhost":
        return "127.0.0.1", port
    if match.group(1) is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(f"{key}: {host!r} is not an IPv6 address") from None
    return host, port
