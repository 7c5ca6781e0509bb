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


# -- the pieces the harness's figures rest on ------------------------------------------


@pytest.fixture(autouse=True)
def bench_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench`` is a top-level folder of the repository, not an installed package."""
    monkeypatch.syspath_prepend(str(REPO_ROOT))


WRK_OUTPUT = """\
Running 8s test @ http://127.0.0.1:5000/v2/bench/manifest/manifests/latest
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.10ms    3.00ms  80.00ms   90.00%
    Req/Sec     2.65k   100.00     2.90k    70.00%
  Latency Distribution
     50%   11.50ms
     75%   13.00ms
     90%   15.00ms
     99%  250.00us
  21200 requests in 8.00s, 20.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   2650.00
Transfer/sec:      2.50MB
"""


def test_wrk_report_is_read_in_seconds_and_counts_failures() -> None:
    from bench.wrk import parse

    result = parse(WRK_OUTPUT)
    assert result.rps == 2650.0
    assert result.p50 == pytest.approx(0.0115)
    assert result.p99 == pytest.approx(0.00025)
    assert result.requests == 21200
    assert result.non_2xx == 3


def test_time_figures_compare_as_times_faster() -> None:
    from bench.figures import FIGURES

    tags = next(f for f in FIGURES if f.key == "tags_list_p50_ms")
    ratio = tags.ratio(reference=10.0, dockyard=4.0)
    assert ratio == 2.5
    assert tags.met(ratio) is True


def test_memory_budget_is_met_at_or_under_its_target() -> None:
    from bench.figures import FIGURES

    rss = next(f for f in FIGURES if f.key == "peak_rss_mib")
    assert rss.met(rss.ratio(reference=40.0, dockyard=80.0)) is True
    assert rss.met(rss.ratio(reference=40.0, dockyard=81.0)) is False


def test_nearest_rank_percentile_takes_the_top_sample_for_p99_of_few() -> None:
    from bench.stats import percentile

    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 99) == 5.0


def test_profile_summary_leaves_out_threads_waiting_for_work() -> None:
    from bench.profiling import summarise

    collapsed = (
        'process 1:"dockyard serve";Thread.run (threading.py:982);'
        "_worker (/x/lib/python3.11/concurrent/futures/thread.py:83) 90\n"
        'process 1:"dockyard serve";handle (/work/main/dockyard/api/tags.py:10);'
        "list_tags (/work/main/dockyard/storage/tags.py:20) 10\n"
    )
    summary = summarise(collapsed)
    assert "10 busy samples (90 idle samples left out)" in summary
    assert "100.0   list_tags (dockyard/storage/tags.py)" in summary
