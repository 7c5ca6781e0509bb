"""The benchmark harness measures both registries in quick mode and writes its results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
MEASURED = (
    "upload_mb_s",
    "chunked_upload_mb_s",
    "download_mb_s",
    "manifest_get_c1_rps",
    "manifest_get_c32_rps",
    "head_blob_c32_rps",
    "tags_list_p50_ms",
    "catalog_walk_p50_ms",
    "push_images_s",
    "peak_rss_mib",
    "cpu_seconds",
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, Any] = json.loads((out / "latest.json").read_text())
    results["_out"] = str(out)
    results["_stdout"] = done.stdout
    return results


def test_quick_run_writes_json_with_every_section(quick_run: dict[str, Any]) -> None:
    for key in ("machine", "limits", "settings", "servers", "figures", "started_at", "quick"):
        assert key in quick_run
    assert quick_run["quick"] is True


@pytest.mark.parametrize("server", ["reference", "dockyard"])
def test_quick_run_measures_every_figure_of_each_server(
    quick_run: dict[str, Any], server: str
) -> None:
    measured = quick_run["servers"][server]
    assert measured["errors"] == {}
    for key in MEASURED:
        assert measured["figures"][key] > 0, key


def test_quick_run_compares_the_servers_on_every_figure(quick_run: dict[str, Any]) -> None:
    for row in quick_run["figures"]:
        assert row["ratio"] is not None, row["key"]


def test_quick_run_reports_machine_limits(quick_run: dict[str, Any]) -> None:
    limits = quick_run["limits"]
    for key in ("sha256_mb_s", "disk_write_fdatasync_mb_s", "page_cache_read_mb_s"):
        assert limits[key] > 0


def test_quick_run_prints_table_and_draws_chart(quick_run: dict[str, Any]) -> None:
    assert "manifest GET c=32" in quick_run["_stdout"]
    chart = Path(quick_run["_out"]) / "latest.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
