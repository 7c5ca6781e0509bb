"""``python -m bench.soak --combine``: one table of registries soaked in separate runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def bench_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench`` is a top-level folder of the repository, not an installed package."""
    monkeypatch.syspath_prepend(str(REPO_ROOT))


def _run(name: str, minutes: int, started: str, rss: float) -> dict[str, Any]:
    samples = [
        {"t": 0.0, "requests": 0, "errors": 0, "rss_mib": rss},
        {"t": minutes * 60.0, "requests": 1000 * minutes, "errors": 0, "rss_mib": rss + 1},
    ]
    return {
        "started_at": started,
        "finished_at": started,
        "settings": {"duration_s": minutes * 60.0, "variant": "mixed", "clients": 8},
        "machine": {"cpu_model": "cpu", "cores": 2},
        "servers": {
            name: {"version": "v", "figures": {"rss_end_mib": rss + 1}, "samples": samples}
        },
    }


def test_combined_results_hold_every_registry_of_every_run() -> None:
    from bench.soak import combine, markdown_table

    combined = combine(
        [
            _run("dockyard", 60, "2026-12-03T13:26:00+00:00", 80.0),
            _run("reference", 10, "2026-12-03T13:15:00+00:00", 70.0),
        ]
    )
    assert list(combined["servers"]) == ["dockyard", "reference"]
    assert combined["servers"]["reference"]["run"]["settings"]["duration_s"] == 600.0
    assert "| RSS at the end (MiB) | 81.0 | 71.0 |" in markdown_table(combined)


def test_a_registry_in_two_runs_is_named_by_its_run_duration() -> None:
    from bench.soak import combine

    combined = combine(
        [
            _run("dockyard", 60, "2026-12-03T13:26:00+00:00", 80.0),
            _run("dockyard", 50, "2026-12-03T13:37:00+00:00", 75.0),
        ]
    )
    assert list(combined["servers"]) == ["dockyard", "dockyard (50 min)"]
