"""``http.debug.tracemalloc``: the debug listener reports allocation sites and growth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from ops_helpers import Image, push_image

from dockyard.config import ConfigError, from_dict

#: The ``start_server`` fixture (tests/memory/conftest.py).
StartServer = Callable[[dict[str, Any]], Any]


def test_report_lists_the_registry_sites_that_grew_since_the_previous_report(
    start_server: StartServer, free_port: Callable[[], int]
) -> None:
    debug_port = free_port()
    server = start_server(
        {"addr": f"127.0.0.1:{debug_port}", "tracemalloc": {"enabled": True, "frames": 2}}
    )
    debug = f"http://127.0.0.1:{debug_port}/debug/tracemalloc"
    assert httpx.get(debug, timeout=60).status_code == 200  # the baseline
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for n in range(10):
            push_image(client, "memory/traced", f"t{n}", Image.random())
            assert client.get(f"/v2/memory/traced/manifests/t{n}").status_code == 200
    report = httpx.get(debug, params={"limit": 200}, timeout=60).json()
    assert report["frames"] == 2
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


def test_tracemalloc_with_several_workers_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match=r"http\.workers: 1"):
        from_dict(
            {
                "version": 0.1,
                "storage": {"filesystem": {"rootdirectory": "/tmp/unused"}},
                "http": {
                    "workers": 2,
                    "debug": {"addr": "127.0.0.1:5001", "tracemalloc": {"enabled": True}},
                },
            }
        )
