"""``http.debug.tracemalloc``: the debug listener reports allocation sites and growth."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from dockyard.config import ConfigError, from_dict

#: The ``start_server`` fixture (tests/memory/conftest.py).
StartServer = Callable[[dict[str, Any]], Any]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push(client: httpx.Client, repository: str, tag: str) -> None:
    """A fresh image of one layer: its blobs, then its manifest under ``tag``."""
    layer, config = os.urandom(256), json.dumps({"n": os.urandom(8).hex()}).encode()
    for blob in (layer, config):
        started = client.post(f"/v2/{repository}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        joiner = "&" if "?" in location else "?"
        put = client.put(f"{location}{joiner}digest={_digest(blob)}", content=blob)
        assert put.status_code == 201, put.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": _digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    response = client.put(
        f"/v2/{repository}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    assert client.get(f"/v2/{repository}/manifests/{tag}").status_code == 200


def test_report_lists_the_registry_sites_that_grew_since_the_previous_report(
    start_server: StartServer, free_port: Callable[[], int]
) -> None:
    debug_port = free_port()
    server = start_server(
        {"addr": f"127.0.0.1:{debug_port}", "tracemalloc": {"enabled": True, "frames": 4}}
    )
    debug = f"http://127.0.0.1:{debug_port}/debug/tracemalloc"
    assert httpx.get(debug, timeout=60).status_code == 200  # the baseline
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for n in range(40):
            _push(client, "memory/traced", f"t{n}")
    report = httpx.get(debug, params={"limit": 200}, timeout=60).json()
    assert report["frames"] == 4
    assert report["growth_bytes"] > 0
    assert report["traced_bytes"] >= report["snapshot_bytes"] > 0
    grown = [frame for site in report["growth"] for frame in site["site"]]
    assert any("/dockyard/storage/" in frame for frame in grown), grown
    assert all(site["bytes_diff"] > 0 for site in report["growth"])


def test_report_without_new_traffic_shows_little_growth(
    start_server: StartServer, free_port: Callable[[], int]
) -> None:
    debug_port = free_port()
    start_server({"addr": f"127.0.0.1:{debug_port}", "tracemalloc": {"enabled": True}})
    debug = f"http://127.0.0.1:{debug_port}/debug/tracemalloc"
    httpx.get(debug, timeout=60).raise_for_status()
    report = httpx.get(debug, timeout=60).json()
    assert report["growth_bytes"] < 256 * 1024


def test_tracemalloc_is_not_served_unless_enabled(
    start_server: StartServer, free_port: Callable[[], int]
) -> None:
    debug_port = free_port()
    start_server({"addr": f"127.0.0.1:{debug_port}"})
    response = httpx.get(f"http://127.0.0.1:{debug_port}/debug/tracemalloc", timeout=30)
    assert response.status_code == 404


def test_report_refuses_a_limit_out_of_range(
    start_server: StartServer, free_port: Callable[[], int]
) -> None:
    debug_port = free_port()
    start_server({"addr": f"127.0.0.1:{debug_port}", "tracemalloc": {"enabled": True}})
    response = httpx.get(
        f"http://127.0.0.1:{debug_port}/debug/tracemalloc", params={"limit": "0"}, timeout=30
    )
    assert response.status_code == 400
    assert "limit" in response.json()["error"]


def test_tracemalloc_without_a_debug_address_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match=r"http\.debug\.addr"):
        from_dict(
            {
                "version": 0.1,
                "storage": {"inmemory": {}},
                "http": {"debug": {"tracemalloc": {"enabled": True}}},
            }
        )


def test_tracemalloc_frames_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"http\.debug\.tracemalloc\.frames"):
        from_dict(
            {
                "version": 0.1,
                "storage": {"inmemory": {}},
                "http": {"debug": {"addr": "127.0.0.1:5001", "tracemalloc": {"frames": 0}}},
            }
        )
