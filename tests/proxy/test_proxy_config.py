"""The proxy section: read as the reference writes it, dockyard's upstreams checked."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from dockyard.config import Config, ConfigError, load
from dockyard.proxy.client import RateLimiter, retry_after_seconds
from dockyard.proxy.settings import UpstreamConfig


def load_proxy(tmp_path: Path, proxy: str) -> Config:
    path = tmp_path / "config.yml"
    path.write_text("version: 0.1\nstorage: {inmemory: {}}\nhttp: {secret: s}\nproxy:\n" + proxy)
    return load(path, {}, cwd=tmp_path)


def error_of(tmp_path: Path, proxy: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_proxy(tmp_path, proxy)
    return info.value.message


def test_reference_proxy_keys_become_the_catch_all_upstream(tmp_path: Path) -> None:
    config = load_proxy(
        tmp_path,
        "  remoteurl: https://registry-1.docker.io/\n  username: u\n  password: p\n  ttl: 2h\n",
    )
    assert config.proxy is not None
    (upstream,) = config.proxy.all_upstreams
    assert upstream.url == "https://registry-1.docker.io"
    assert (upstream.username, upstream.password) == ("u", "p")
    assert upstream.ttl == timedelta(hours=2)
    assert upstream.prefix == ""
    assert not any("proxy" in warning for warning in config.warnings)


def test_upstream_prefix_is_normalised_to_end_in_one_slash(tmp_path: Path) -> None:
    config = load_proxy(
        tmp_path, "  upstreams:\n    - {name: q, url: 'https://quay.io', prefix: /quay}\n"
    )
    assert config.proxy is not None
    assert config.proxy.upstreams[0].prefix == "quay/"


def test_docker_hub_upstreams_add_library_to_single_names_and_others_do_not() -> None:
    assert UpstreamConfig(name="h", url="https://registry-1.docker.io").adds_library
    assert not UpstreamConfig(name="q", url="https://quay.io").adds_library
    assert UpstreamConfig(name="q", url="https://quay.io", library=True).adds_library


def test_two_upstreams_without_a_prefix_are_refused(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "  remoteurl: https://a.example\n  upstreams:\n    - {name: b, url: 'https://b.example'}\n",
    )
    assert message.startswith("proxy.upstreams: at most one upstream")


def test_upstream_url_must_be_http_or_https(tmp_path: Path) -> None:
    message = error_of(tmp_path, "  upstreams:\n    - {name: b, url: 'ftp://b.example'}\n")
    assert message == "proxy.upstreams[0].url: expected an http:// or https:// URL"


def test_upstream_without_a_name_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, "  upstreams:\n    - {url: 'https://b.example'}\n")
    assert message == "proxy.upstreams[0].name: required"


def test_unknown_upstream_key_is_reported(tmp_path: Path) -> None:
    config = load_proxy(
        tmp_path, "  upstreams:\n    - {name: b, url: 'https://b.example', colour: red}\n"
    )
    assert any(w.startswith("proxy.upstreams[0].colour") for w in config.warnings)


def test_retry_after_is_read_in_seconds_and_as_an_http_date() -> None:
    assert retry_after_seconds("17") == 17.0
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    assert 55 <= retry_after_seconds(later) <= 61


async def test_rate_limit_spaces_requests_to_the_configured_rate() -> None:
    limiter = RateLimiter(20)
    started = time.monotonic()
    await asyncio.gather(*(limiter.wait() for _ in range(5)))
    assert time.monotonic() - started >= 4 / 20


def test_reference_environment_variable_sets_the_remote_url(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("version: 0.1\nstorage: {inmemory: {}}\nhttp: {secret: s}\n")
    config = load(path, {"REGISTRY_PROXY_REMOTEURL": "https://registry-1.docker.io"}, cwd=tmp_path)
    assert config.proxy is not None
    assert config.proxy.remoteurl == "https://registry-1.docker.io"
