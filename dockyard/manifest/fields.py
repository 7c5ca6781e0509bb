"""Validated reading of manifest JSON fields, shared by every media-type family.

Every helper raises ``ManifestInvalid`` with a message naming the offending field (for
example ``layers[2].digest``), so a client learns exactly what to fix. The OCI
distribution-spec maps a bad digest inside a manifest to ``MANIFEST_INVALID``, so
``DigestInvalid`` never escapes from here.
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode
from typing import Any, Final, TypeGuard
from urllib.parse import urlsplit

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import DigestInvalid, ManifestInvalid

#: Sizes are Go ``int64`` in the reference registry; anything larger cannot be a blob.
MAX_SIZE: Final = 2**63 - 1

_PLATFORM_STRINGS: Final = ("architecture", "os", "os.version", "variant")
_PLATFORM_LISTS: Final = ("os.features", "features")


def load_object(body: bytes) -> dict[str, Any]:
    """Decode a manifest body: strict UTF-8 JSON whose top level is an object."""
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=unique_members)
    except DuplicateMember as exc:
        raise ManifestInvalid(str(exc)) from exc
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8, bad JSON, NaN/Infinity and oversized integers.
        raise ManifestInvalid("manifest is not valid UTF-8 JSON") from exc
    if not isinstance(value, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    return value


class DuplicateMember(ValueError):
    """A JSON object names the same member twice."""


def unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` refusing duplicate members, at any depth.

    JSON leaves duplicates undefined (RFC 8259 section 4): Python and Go keep the last,
    other parsers the first, so a registry that accepted them could verify one
    document while a client reads another.
    """
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise DuplicateMember(f"manifest has a duplicate member {name[:100]!r}")
            seen.add(name)
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def require_schema_version(raw: dict[str, Any], expected: int) -> None:
    """Check ``schemaVersion`` is present and equal to ``expected``."""
    version = raw.get("schemaVersion")
    if not _is_int(version):
        raise ManifestInvalid("schemaVersion must be an integer")
    if version != expected:
        raise ManifestInvalid(f"schemaVersion must be {expected}, not {version}")


def require_object(value: Any, where: str) -> dict[str, Any]:
    """``value`` as a JSON object, or ``ManifestInvalid`` naming ``where``."""
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} must be an object")
    return value


def require_str(raw: dict[str, Any], key: str, where: str) -> str:
    """A required, non-empty string field."""
    value = raw.get(key)
    if value is None:
        raise ManifestInvalid(f"{_join(where, key)} is required")
    if not isinstance(value, str):
        raise ManifestInvalid(f"{_join(where, key)} must be a string")
    if not value:
        raise ManifestInvalid(f"{_join(where, key)} must not be empty")
    return value


def optional_str(raw: dict[str, Any], key: str, where: str) -> str | None:
    """An optional string field; ``None`` when absent, null or empty."""
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ManifestInvalid(f"{_join(where, key)} must be a string")
    return value or None


def optional_str_list(raw: dict[str, Any], key: str, where: str) -> list[str] | None:
    """An optional array of strings."""
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ManifestInvalid(f"{_join(where, key)} must be an array of strings")
    return value


def annotations_of(raw: dict[str, Any], where: str = "") -> dict[str, str] | None:
    """The optional ``annotations`` map of strings to strings."""
    value = raw.get("annotations")
    if value is None:
        return None
    name = _join(where, "annotations")
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{name} must be an object")
    for key, item in value.items():
        if not isinstance(item, str):
            raise ManifestInvalid(f"{name}[{key[:100]!r}] must be a string")
    return value or None


def reject_fields(raw: dict[str, Any], keys: tuple[str, ...], what: str) -> None:
    """Refuse bodies that also carry another type's fields (ambiguous, as the reference)."""
    for key in keys:
        if raw.get(key) is not None:
            raise ManifestInvalid(f"{what} must not have a {key!r} field")


def descriptor(value: Any, where: str) -> Descriptor:
    """Parse and validate one content descriptor (image-spec ``descriptor.md``)."""
    raw = require_object(value, where)
    media_type = require_str(raw, "mediaType", where)
    text = raw.get("digest")
    if not isinstance(text, str):
        raise ManifestInvalid(f"{where}.digest must be a string")
    try:
        digest = Digest.parse(text)
    except DigestInvalid as exc:
        raise ManifestInvalid(f"{where}.digest is invalid: {exc.message}") from exc
    size = raw.get("size")
    if not _is_int(size) or not 0 <= size <= MAX_SIZE:
        raise ManifestInvalid(f"{where}.size must be a non-negative integer")
    optional_str_list(raw, "urls", where)
    data = raw.get("data")
    if data is not None:
        if not isinstance(data, str):
            raise ManifestInvalid(f"{where}.data must be a base64 string")
        try:
            b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ManifestInvalid(f"{where}.data must be a base64 string") from exc
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        artifact_type=optional_str(raw, "artifactType", where),
        annotations=annotations_of(raw, where),
        platform=platform(raw, where),
    )


def descriptors(raw: dict[str, Any], key: str, where: str = "") -> list[Descriptor]:
    """An array of descriptors; absent or null reads as empty, as in the reference."""
    value = raw.get(key)
    if value is None:
        return []
    name = _join(where, key)
    if not isinstance(value, list):
        raise ManifestInvalid(f"{name} must be an array")
    return [descriptor(item, f"{name}[{index}]") for index, item in enumerate(value)]


def optional_descriptor(raw: dict[str, Any], key: str, where: str = "") -> Descriptor | None:
    """An optional descriptor field such as ``subject``."""
    value = raw.get(key)
    return None if value is None else descriptor(value, _join(where, key))


def required_descriptor(raw: dict[str, Any], key: str, where: str = "") -> Descriptor:
    """A required descriptor field such as ``config``."""
    value = raw.get(key)
    if value is None:
        raise ManifestInvalid(f"{_join(where, key)} is required")
    return descriptor(value, _join(where, key))


def platform(raw: dict[str, Any], where: str) -> dict[str, Any] | None:
    """The optional ``platform`` object of an index entry, with its fields type-checked."""
    value = raw.get("platform")
    if value is None:
        return None
    name = _join(where, "platform")
    plat = require_object(value, name)
    for key in _PLATFORM_STRINGS:
        optional_str(plat, key, name)
    for key in _PLATFORM_LISTS:
        optional_str_list(plat, key, name)
    return plat


def urls(raw: dict[str, Any]) -> list[str]:
    """The ``urls`` of a descriptor already validated by ``descriptor``."""
    value = raw.get("urls")
    return list(value) if isinstance(value, list) else []


def check_external_urls(values: list[str], where: str) -> None:
    """Check the URLs of a layer fetched from outside the registry: absolute http(s)."""
    for index, value in enumerate(values):
        try:
            parts = urlsplit(value)
        except ValueError as exc:
            raise ManifestInvalid(f"{where}.urls[{index}] is not a valid URL") from exc
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise ManifestInvalid(
                f"{where}.urls[{index}] must be an http or https URL without a fragment"
            )


def _is_int(value: Any) -> TypeGuard[int]:
    # JSON true/false decode to bool, which is an int subclass in Python.
    return isinstance(value, int) and not isinstance(value, bool)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
