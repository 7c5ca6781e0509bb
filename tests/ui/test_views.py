"""The web interface's view logic and sessions, without HTTP."""

from __future__ import annotations

import fnmatch
import os
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ui_images import image, store

import dockyard.ui
from dockyard.auth.keys import TrustedKeys
from dockyard.auth.token import TokenAuthorizer, TokenVerifier
from dockyard.config import ConfigError, from_dict
from dockyard.digest import Digest
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.registry import StorageRegistry
from dockyard.ui.access import ANONYMOUS, access_policy
from dockyard.ui.session import SessionCodec, csrf_matches
from dockyard.ui.views import (
    fallback_tags,
    human_size,
    image_config,
    platform_name,
    pull_commands,
    registry_host,
    short_digest,
)

DIGEST = Digest.parse("sha256:" + "ab" * 32)


def test_sizes_read_in_binary_units() -> None:
    assert human_size(512) == "512 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(5 * 1024**3) == "5.0 GiB"
    assert human_size(None) == "-"


def test_short_digest_keeps_the_algorithm_and_twelve_hex_digits() -> None:
    assert short_digest(DIGEST) == "sha256:abababababab"


def test_registry_host_prefers_the_configured_host() -> None:
    assert registry_host("https://registry.example.com:8443", "127.0.0.1:5000") == (
        "registry.example.com:8443"
    )
    assert registry_host(None, "127.0.0.1:5000") == "127.0.0.1:5000"


def test_pull_commands_name_a_tag_with_a_colon_and_a_digest_with_an_at() -> None:
    by_tag = pull_commands("r.example", "library/alpine", "3.20")
    by_digest = pull_commands("r.example", "library/alpine", str(DIGEST))
    assert [c.command for c in by_tag] == [
        "docker pull r.example/library/alpine:3.20",
        "podman pull r.example/library/alpine:3.20",
    ]
    assert by_digest[0].command == f"docker pull r.example/library/alpine@{DIGEST}"


def test_platform_names_include_the_variant() -> None:
    assert platform_name({"os": "linux", "architecture": "arm", "variant": "v7"}) == (
        "linux/arm/v7"
    )
    assert platform_name(None) == "unknown/unknown"


def test_fallback_tags_are_the_subjects_own_and_cosigns() -> None:
    prefix = f"sha256-{DIGEST.hex}"
    tags = ["latest", prefix, f"{prefix}.sig", f"{prefix}.att", f"{prefix}x", "sha256-00"]
    assert fallback_tags(DIGEST, tags) == [
        (prefix, None),
        (f"{prefix}.sig", "sig"),
        (f"{prefix}.att", "att"),
    ]


def test_image_config_tolerates_fields_of_the_wrong_type() -> None:
    config = image_config(
        {
            "os": "linux",
            "config": {"Env": "not a list", "Labels": ["x"], "ExposedPorts": 5},
            "history": ["not an object"],
        }
    )
    assert config.env == []
    assert config.labels == {}
    assert config.exposed_ports == []
    assert config.history == []


def test_session_survives_a_round_trip() -> None:
    codec = SessionCodec(b"secret")
    session = codec.new("alice", "fingerprint")
    decoded = codec.decode(codec.encode(session))
    assert decoded == session


def test_session_signed_with_another_secret_is_refused() -> None:
    value = SessionCodec(b"other").encode(SessionCodec(b"other").new("alice", "f"))
    assert SessionCodec(b"secret").decode(value) is None


def test_tampered_session_is_refused() -> None:
    codec = SessionCodec(b"secret")
    body, _, signature = codec.encode(codec.new("bob", "f")).partition(".")
    forged = codec.encode(codec.new("alice", "f")).partition(".")[0]
    assert codec.decode(f"{forged}.{signature}") is None
    assert codec.decode(f"{body}.{signature[:-2]}AA") is None
    assert codec.decode("garbage") is None


def test_expired_session_is_refused() -> None:
    codec = SessionCodec(b"secret", lifetime=-1)
    assert codec.decode(codec.encode(codec.new("alice", "f"))) is None


def test_csrf_token_must_match_the_sessions() -> None:
    session = SessionCodec(b"secret").new()
    assert csrf_matches(session, session.csrf)
    assert not csrf_matches(session, "x" + session.csrf)
    assert not csrf_matches(session, None)


def test_ui_is_enabled_at_ui_by_default() -> None:
    config = from_dict({"storage": {"inmemory": {}}}, {})
    assert config.ui.enabled
    assert config.ui.path == "/ui"


def test_ui_is_configured_from_the_environment_too() -> None:
    environment = {"REGISTRY_UI_ENABLED": "false", "REGISTRY_UI_PATH": "/browse"}
    config = from_dict({"storage": {"inmemory": {}}}, environment)
    assert not config.ui.enabled
    assert config.ui.path == "/browse"


@pytest.mark.parametrize("path", ["/", "/v2", "/v2/x", "/a b"])
def test_ui_path_that_would_hide_the_api_is_refused(path: str) -> None:
    with pytest.raises(ConfigError, match=r"ui\.path"):
        from_dict({"storage": {"inmemory": {}}, "ui": {"path": path}}, {})


async def test_tag_push_time_is_when_the_tag_was_last_pointed(tmp_path: Path) -> None:
    registry = StorageRegistry(FilesystemDriver(tmp_path))
    await store(registry, "library/alpine", image(), "old")
    await store(registry, "library/alpine", image(), "new")
    link = tmp_path / "docker/registry/v2/repositories/library/alpine/_manifests/tags/old"
    os.utime(link / "current/link", (time.time() - 86400, time.time() - 86400))
    records = await registry.repository("library/alpine").tags.describe(["old", "gone", "new"])
    assert [r.name for r in records] == ["old", "new"]
    now = datetime.now(UTC)
    assert (now - records[0].pushed_at).total_seconds() > 86000
    assert (now - records[1].pushed_at).total_seconds() < 60


async def test_open_upload_sessions_are_listed_oldest_first(tmp_path: Path) -> None:
    registry = StorageRegistry(FilesystemDriver(tmp_path))
    uploads = registry.repository("library/alpine").uploads
    assert await registry.upload_sessions(["library/alpine", "never/pushed"]) == []
    first = await uploads.create()
    second = await registry.repository("library/busybox").uploads.create()
    finished = await uploads.create()
    await uploads.cancel(finished.id)
    listed = await registry.upload_sessions(["library/alpine", "library/busybox"])
    assert {(s.repository, s.id) for s in listed} == {
        ("library/alpine", first.id),
        ("library/busybox", second.id),
    }
    assert listed == sorted(listed, key=lambda s: (s.started_at, s.id))


def test_external_token_service_offers_no_sign_in_and_nothing_anonymous() -> None:
    verifier = TokenVerifier(issuer="elsewhere", service="registry", trusted=TrustedKeys())
    policy = access_policy(TokenAuthorizer("https://auth.example.com/token", verifier))
    assert not policy.sign_in_available
    assert "external token service" in policy.sign_in_unavailable_reason
    assert not policy.may(ANONYMOUS, "pull", "library/alpine")


def test_registry_without_auth_lets_everyone_do_everything() -> None:
    policy = access_policy(None)
    assert policy.may(ANONYMOUS, "delete", "library/alpine")
    assert policy.may_list_catalog(ANONYMOUS)


def test_every_template_and_asset_is_package_data() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["dockyard.ui"]
    package = Path(dockyard.ui.__file__).parent
    shipped = [
        path.relative_to(package).as_posix()
        for folder in ("templates", "static")
        for path in (package / folder).rglob("*")
        if path.is_file()
    ]
    assert shipped
    unmatched = [f for f in shipped if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    assert unmatched == []
