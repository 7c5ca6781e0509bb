"""The ``http.debug``, ``health`` and ``notifications`` sections, as the reference writes them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dockyard.config import ConfigError, load


def _load(tmp_path: Path, text: str):
    path = tmp_path / "config.yml"
    path.write_text(
        "version: 0.1\nhttp: {secret: x}\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path}}}}}\n" + text
    )
    return load(str(path))


def test_reference_notification_endpoint_is_read_whole(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        """
notifications:
  events: {includereferences: true}
  endpoints:
    - name: alistener
      disabled: false
      url: https://my.listener.com/event
      headers: {Authorization: [Bearer token]}
      timeout: 500ms
      threshold: 5
      backoff: 1s
      ignoredmediatypes: [application/octet-stream]
      ignore:
        mediatypes: [application/vnd.oci.image.config.v1+json]
        actions: [pull]
""",
    )
    [endpoint] = config.notifications.endpoints
    assert config.notifications.includereferences
    assert (endpoint.name, endpoint.url) == ("alistener", "https://my.listener.com/event")
    assert endpoint.headers == {"Authorization": ("Bearer token",)}
    assert (endpoint.timeout, endpoint.threshold) == (timedelta(milliseconds=500), 5)
    assert endpoint.ignored_mediatypes == (
        "application/octet-stream",
        "application/vnd.oci.image.config.v1+json",
    )
    assert endpoint.ignored_actions == ("pull",)
    assert not config.warnings


def test_endpoint_without_an_http_url_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"notifications\.endpoints\[0\]\.url"):
        _load(tmp_path, "notifications: {endpoints: [{name: a, url: ftp://x}]}\n")


def test_prometheus_without_a_debug_addr_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"http\.debug\.addr"):
        _load(tmp_path, "http: {secret: x, debug: {prometheus: {enabled: true}}}\n")


def test_health_checks_of_the_reference_are_read_with_their_timing(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        """
health:
  storagedriver: {enabled: true, interval: 10s, threshold: 3}
  file: [{file: /tmp/down, interval: 5s}]
  http: [{uri: "http://127.0.0.1:9/health", statuscode: 204, timeout: 1s}]
  tcp: [{addr: "127.0.0.1:6379", threshold: 2}]
""",
    )
    kinds = {check.kind: check for check in config.health.checks}
    assert set(kinds) == {"storagedriver", "file", "http", "tcp"}
    assert kinds["storagedriver"].threshold == 3
    assert kinds["file"].interval == timedelta(seconds=5)
    assert kinds["http"].statuscode == 204
    assert kinds["tcp"].threshold == 2


def test_storage_check_can_be_turned_off(tmp_path: Path) -> None:
    config = _load(tmp_path, "health: {storagedriver: {enabled: false}}\n")
    assert config.health.checks == ()
