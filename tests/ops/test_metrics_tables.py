"""Summing several workers' metrics: counters of every worker, gauges of live ones."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from dockyard.observability.metrics import Metrics, MetricsCollector, snapshot


def _text(collector: MetricsCollector) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry).decode()


def test_counters_of_exited_workers_stay_and_their_gauges_go(tmp_path: Path) -> None:
    exited = Metrics()
    exited.requests.inc(("base", "200", "GET"), 5)
    exited.in_flight.inc(("base",), 3)
    exited.request_duration.observe(("base", "GET"), 0.02)
    dead_pid = 2**22 + 12345  # above pid_max's default range: no such process
    (tmp_path / f"{dead_pid}.json").write_text(json.dumps(snapshot(exited)))
    live = Metrics()
    live.requests.inc(("base", "200", "GET"), 2)
    live.in_flight.inc(("base",), 1)

    text = _text(MetricsCollector(live, tmp_path))

    assert 'registry_http_requests_total{code="200",handler="base",method="GET"} 7.0' in text
    assert 'registry_http_in_flight_requests{handler="base"} 1.0' in text
    assert (
        'registry_http_request_duration_seconds_bucket{handler="base",le="0.025",method="GET"} 1.0'
        in text
    )
