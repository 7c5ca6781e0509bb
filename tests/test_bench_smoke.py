"""The benchmark harness measures both registries in quick mode and writes its results.

The reference is distribution 3.1.1 from ``../shared/reference/`` beside the clone (CI
puts a copy of ``shared/`` there); S3 runs start their own SeaweedFS.
"""

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
    "pull_images_s",
    "peak_rss_mib",
    "cpu_seconds",
)


def _bench(out: Path, name: str, *args: str, module: str = "bench") -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", module, "--out", str(out), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    results: dict[str, Any] = json.loads((out / f"{name}.json").read_text())
    results["_out"] = str(out)
    results["_stdout"] = done.stdout
    return results


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _bench(tmp_path_factory.mktemp("bench"), "latest", "--quick")


S3_GROUPS = "uploads,download,manifest_get,push,pull"


@pytest.fixture(scope="module")
def s3_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench-s3")
    args = ("--quick", "--storage", "s3", "--redirect", "on", "--groups", S3_GROUPS)
    return _bench(out, "s3-redirect-on", *args)


@pytest.fixture(scope="module")
def soak_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("soak")
    args = ("--duration", "6s", "--sample-every", "1s", "--variant", "transfers")
    return _bench(out, "soak-transfers", *args, module="bench.soak")


def test_quick_run_writes_json_with_every_section(quick_run: dict[str, Any]) -> None:
    for key in ("machine", "limits", "settings", "servers", "figures", "started_at", "quick"):
        assert key in quick_run
    assert quick_run["quick"] is True


def test_quick_run_compares_with_distribution_3_1_1_by_default(quick_run: dict[str, Any]) -> None:
    assert quick_run["reference"]["release"] == "3.1.1"
    assert "registry-v3.1.1" in quick_run["servers"]["reference"]["command"][0]
    assert quick_run["reference"]["version"].startswith("v3.1.1")


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


@pytest.mark.parametrize("server", ["reference", "dockyard"])
def test_s3_run_measures_each_server_on_seaweedfs(s3_run: dict[str, Any], server: str) -> None:
    measured = s3_run["servers"][server]
    assert measured["errors"] == {}
    for key in ("upload_mb_s", "chunked_upload_mb_s", "download_mb_s", "manifest_get_c32_rps"):
        assert measured["figures"][key] > 0, key
    for key in ("push_images_s", "pull_images_s"):
        assert measured["figures"][key] > 0, key


@pytest.mark.parametrize("server", ["reference", "dockyard"])
def test_s3_run_with_redirects_sends_blob_gets_to_the_backend(
    s3_run: dict[str, Any], server: str
) -> None:
    assert s3_run["storage"] == {"kind": "s3", "redirect": True}
    assert s3_run["servers"][server]["samples"]["blob_get_status"] == 307


def test_reference_cmd_starts_the_given_reference_build(tmp_path: Path) -> None:
    args = ("--quick", "--groups", "pull", "--reference-cmd", "docker-registry serve {config}")
    results = _bench(tmp_path, "ref-custom", *args)
    reference = results["servers"]["reference"]
    assert reference["command"][:2] == ["docker-registry", "serve"]
    assert reference["errors"] == {}
    assert reference["figures"]["pull_images_s"] > 0


@pytest.mark.parametrize("server", ["reference", "dockyard"])
def test_soak_serves_mixed_traffic_without_errors(soak_run: dict[str, Any], server: str) -> None:
    figures = soak_run["servers"][server]["figures"]
    assert figures["errors"] == 0, soak_run["servers"][server]["first_errors"]
    assert figures["requests"] > 100
    operations = soak_run["servers"][server]["operations"]
    for op in ("push", "delete", "manifest_get", "blob_head", "chunked_upload", "large_pull"):
        assert operations.get(op, 0) > 0, op


@pytest.mark.parametrize("server", ["reference", "dockyard"])
def test_soak_samples_the_memory_of_every_server_process(
    soak_run: dict[str, Any], server: str
) -> None:
    samples = soak_run["servers"][server]["samples"]
    assert len(samples) >= 5
    assert all(s["rss_mib"] > 0 and len(s["rss_by_process_mib"]) >= 1 for s in samples)
    figures = soak_run["servers"][server]["figures"]
    assert figures["rss_after_warm_up_mib"] > 0
    assert figures["growth_mib_per_100k"] is not None


def test_soak_writes_its_table_and_chart(soak_run: dict[str, Any]) -> None:
    assert "| RSS after warm-up (MiB) |" in soak_run["_stdout"]
    chart = Path(soak_run["_out"]) / "soak-transfers.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
    assert tags.met(ratio, "2.8.2") is True


def test_memory_budget_is_met_at_or_under_its_target() -> None:
    from bench.figures import FIGURES

    rss = next(f for f in FIGURES if f.key == "peak_rss_mib")
    assert rss.met(rss.ratio(reference=40.0, dockyard=60.0), "3.1.1") is True
    assert rss.met(rss.ratio(reference=40.0, dockyard=61.0), "3.1.1") is False


def test_targets_against_2_8_2_are_issue_6s_and_against_3_1_1_issue_16s() -> None:
    from bench.figures import FIGURES

    manifest = next(f for f in FIGURES if f.key == "manifest_get_c32_rps")
    assert manifest.met(3.0, "2.8.2") is False
    assert manifest.met(1.2, "3.1.1") is True
    assert manifest.met(1.2, "custom") is True


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


def test_reference_2_8_2_is_debians_docker_registry() -> None:
    from bench.servers import reference_spec

    assert reference_spec("2.8.2").argv == ["/usr/bin/docker-registry", "serve"]


def test_reference_3_1_1_is_found_in_shared_beside_a_clone(tmp_path: Path) -> None:
    from bench import servers

    wrapper = tmp_path / "shared" / "reference" / "registry-v3.1.1"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text("#!/bin/sh\n")
    wrapper.chmod(0o755)
    clone = tmp_path / "dockyard"
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    found = servers.find_reference_3_1_1(clone)
    assert found == wrapper


def test_soak_durations_read_hours_minutes_and_seconds() -> None:
    from bench.soak import default_warm_up, parse_duration

    assert parse_duration("1h") == 3600
    assert parse_duration("10m") == 600
    assert parse_duration("90") == 90
    assert default_warm_up(parse_duration("1h")) == 600


def test_soak_growth_is_counted_from_the_end_of_warm_up() -> None:
    from bench.soak import figures_of

    samples = [
        {"t": 0.0, "requests": 0, "errors": 0, "rss_mib": 40.0},
        {"t": 60.0, "requests": 100_000, "errors": 0, "rss_mib": 60.0},
        {"t": 120.0, "requests": 300_000, "errors": 0, "rss_mib": 61.0},
    ]
    figures = figures_of(samples, warm_up=60.0)
    assert figures["rss_after_warm_up_mib"] == 60.0
    assert figures["rss_end_mib"] == 61.0
    assert figures["growth_mib_per_100k"] == 0.5
    assert figures["growth_pct"] == pytest.approx(1.67, abs=0.01)
