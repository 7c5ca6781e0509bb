"""dockyard's metrics: the reference registry's names, counted cheaply, exported by Prometheus.

Recording happens on the hot path (every request), so a metric here is a plain dict from
label values to numbers, updated without locks by the one event loop of a process: a
counter step is a dict update, a histogram step a ``bisect`` and two additions. The
``prometheus_client`` library only formats what these tables hold, when ``/metrics`` is
scraped (``MetricsCollector``).

Several granian workers each count in their own process. Every worker writes a snapshot
of its tables into the run's metrics folder once a second (``SnapshotWriter``); the
collector sums the snapshots of every worker, past and present, with its own process's
live tables. Counters and histograms of a worker that exited stay in the sum (Prometheus
counters never go down); gauges count only for processes still alive.
"""

from __future__ import annotations

import contextlib
import json
import os
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

#: The environment variable naming the run's metrics folder (set for granian workers).
METRICS_DIR_ENV: Final = "_DOCKYARD_METRICS_DIR"

Labels = tuple[str, ...]

#: Prometheus' default buckets (seconds), as the reference's request durations use.
DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Body sizes from 256 B to 1 GiB, a factor of four apart.
SIZE_BUCKETS: Final = tuple(float(256 * 4**n) for n in range(12))


class Counter:
    """A counter family: label values → running total."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        #: label values → a one-item list, so that hot callers can keep the cell.
        self.values: dict[Labels, list[float]] = {}
        if not self.labelnames:
            self.values[()] = [0.0]  # exported from the start, as 0

    def cell(self, labels: Labels = ()) -> list[float]:
        """The mutable ``[value]`` of ``labels`` (add to ``cell[0]``)."""
        cell = self.values.get(labels)
        if cell is None:
            cell = self.values[labels] = [0.0]
        return cell

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        self.cell(labels)[0] += amount


class Gauge(Counter):
    """A gauge family (goes up and down); summed over live processes only."""

    def dec(self, labels: Labels = (), amount: float = 1.0) -> None:
        self.cell(labels)[0] -= amount

    def set(self, labels: Labels, value: float) -> None:
        self.cell(labels)[0] = value


class Histogram:
    """A histogram family: label values → ``[sum, bucket counts …, +Inf count]``."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(buckets)
        self.values: dict[Labels, list[float]] = {}

    def row(self, labels: Labels) -> list[float]:
        """The mutable row of ``labels`` (see ``record``)."""
        row = self.values.get(labels)
        if row is None:
            row = self.values[labels] = [0.0] * (len(self.bounds) + 2)
        return row

    def observe(self, labels: Labels, value: float) -> None:
        record(self.row(labels), self.bounds, value)


def record(row: list[float], bounds: tuple[float, ...], value: float) -> None:
    """Add one observation of ``value`` to a histogram row."""
    row[0] += value
    row[1 + bisect_left(bounds, value)] += 1


Family = Counter | Histogram


class Metrics:
    """Every metric dockyard exports, by the reference registry's names where it has one."""

    def __init__(self) -> None:
        http = ("handler",)
        self.requests = Counter(
            "registry_http_requests_total",
            "Total number of HTTP requests made.",
            ("handler", "code", "method"),
        )
        self.request_duration = Histogram(
            "registry_http_request_duration_seconds",
            "The HTTP request latencies in seconds.",
            ("handler", "method"),
        )
        self.in_flight = Gauge(
            "registry_http_in_flight_requests", "The in-flight HTTP requests.", http
        )
        self.request_size = Histogram(
            "registry_http_request_size_bytes",
            "The HTTP request sizes in bytes.",
            http,
            SIZE_BUCKETS,
        )
        self.response_size = Histogram(
            "registry_http_response_size_bytes",
            "The HTTP response sizes in bytes.",
            http,
            SIZE_BUCKETS,
        )
        self.storage_action = Histogram(
            "registry_storage_action_seconds",
            "The number of seconds that the storage action takes.",
            ("driver", "action"),
        )
        self.cache_requests = Counter(
            "registry_storage_cache_requests_total", "The number of cache requests received."
        )
        self.cache_hits = Counter(
            "registry_storage_cache_hits_total", "The number of cache request hits."
        )
        self.cache_errors = Counter(
            "registry_storage_cache_errors_total", "The number of cache request errors."
        )
        self.notification_events = Counter(
            "registry_notifications_events_total",
            "The number of total events.",
            ("type", "action", "endpoint"),
        )
        self.notification_pending = Gauge(
            "registry_notifications_pending",
            "The gauge of pending events in queue.",
            ("endpoint",),
        )
        self.notification_status = Counter(
            "registry_notifications_status_total",
            "The number of status code.",
            ("code", "endpoint"),
        )
        self.notification_dead_letters = Counter(
            "dockyard_notifications_dead_letters_total",
            "Events moved to the dead-letter list after their last retry.",
            ("endpoint",),
        )
        self.uploads_in_flight = Gauge(
            "dockyard_uploads_in_flight", "Blob upload requests being received now."
        )
        self.received_bytes = Counter(
            "dockyard_http_received_bytes_total", "Request body bytes received.", http
        )
        self.sent_bytes = Counter(
            "dockyard_http_sent_bytes_total", "Response body bytes sent.", http
        )
        self.auth_failures = Counter(
            "dockyard_auth_failures_total",
            "Requests refused by access control (401 challenge or 403 denied).",
            ("code",),
        )
        self.rate_limited = Counter(
            "dockyard_rate_limit_refusals_total", "Requests refused with 429 Too Many Requests."
        )
        self.gc_runs = Counter(
            "dockyard_gc_runs_total", "Garbage collection runs, by result.", ("result",)
        )
        self.scrub_runs = Counter(
            "dockyard_scrub_runs_total", "Storage scrub runs, by result.", ("result",)
        )

    def families(self) -> list[Family]:
        return [value for value in vars(self).values() if isinstance(value, Counter | Histogram)]


#: This process's metrics (one event loop records into them).
METRICS: Final = Metrics()


def job_runs(job: str) -> Counter:
    """The ``{result}`` counter of a periodic maintenance job's runs (``gc``, ``scrub``);
    a job without one of its own counts nowhere that is exported."""
    known = {"gc": METRICS.gc_runs, "scrub": METRICS.scrub_runs}
    return known.get(job) or Counter(f"dockyard_{job}_runs_total", "", ("result",))


# --- sharing between worker processes -----------------------------------------------------


def snapshot(metrics: Metrics) -> dict[str, list[list[Any]]]:
    """The tables as JSON-able rows ``[labels, value]`` per family name."""
    # dict() copies are single C calls, safe while the event loop thread records.
    return {
        family.name: [
            [list(labels), value if isinstance(family, Histogram) else value[0]]
            for labels, value in dict(family.values).items()
        ]
        for family in metrics.families()
    }


#: The key of a worker's snapshot holding its failing health checks (not a metric).
HEALTH_KEY: Final = "health"


class SnapshotWriter:
    """Writes this worker's tables, and its failing health checks, to ``<folder>/<pid>.json``
    (atomically) when asked."""

    def __init__(
        self,
        folder: Path,
        metrics: Metrics = METRICS,
        health: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self.folder = folder
        self.metrics = metrics
        self.health = health
        self.path = folder / f"{os.getpid()}.json"

    def write(self) -> None:
        """Blocking: call from a worker thread."""
        shared: dict[str, Any] = snapshot(self.metrics)
        if self.health is not None:
            shared[HEALTH_KEY] = self.health()
        data = json.dumps(shared).encode()
        temporary = self.path.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(self.path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def workers_health(folder: Path) -> dict[int, dict[str, str]]:
    """The failing health checks of every live worker that shared them, by process id."""
    health: dict[int, dict[str, str]] = {}
    for path in folder.glob("*.json"):
        if not path.stem.isdigit() or not _alive(pid := int(path.stem)):
            continue
        with contextlib.suppress(OSError, ValueError):
            failing = json.loads(path.read_bytes()).get(HEALTH_KEY)
            if isinstance(failing, dict):
                health[pid] = {str(k): str(v) for k, v in failing.items()}
    return health


def _snapshots(folder: Path | None) -> Iterator[tuple[bool, dict[str, list[list[Any]]]]]:
    """(alive, snapshot) of every other process that wrote one into ``folder``."""
    if folder is None or not folder.is_dir():
        return
    for path in folder.glob("*.json"):
        pid = int(path.stem) if path.stem.isdigit() else 0
        if pid == os.getpid():
            continue
        with contextlib.suppress(OSError, ValueError):
            yield _alive(pid), json.loads(path.read_bytes())


class MetricsCollector:
    """A ``prometheus_client`` collector: this process's tables plus every worker's."""

    def __init__(self, metrics: Metrics = METRICS, folder: Path | None = None) -> None:
        self.metrics = metrics
        self.folder = folder

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        families = self.metrics.families()
        totals: dict[str, dict[Labels, Any]] = {f.name: {} for f in families}
        sources = [(True, snapshot(self.metrics)), *_snapshots(self.folder)]
        for alive, data in sources:
            for family in families:
                if isinstance(family, Gauge) and not alive:
                    continue
                table = totals[family.name]
                for labels, value in data.get(family.name, ()):
                    key = tuple(labels)
                    if isinstance(family, Histogram):
                        row = table.setdefault(key, [0.0] * (len(family.bounds) + 2))
                        for i, part in enumerate(value):
                            row[i] += part
                    else:
                        table[key] = table.get(key, 0.0) + value
        for family in families:
            table = totals[family.name]
            labelnames = list(family.labelnames)
            if isinstance(family, Histogram):
                histogram = HistogramMetricFamily(
                    family.name, family.documentation, labels=labelnames
                )
                for key, row in sorted(table.items()):
                    cumulative, buckets = 0.0, []
                    for bound, count in zip((*family.bounds, float("inf")), row[1:], strict=True):
                        cumulative += count
                        buckets.append((_bound(bound), cumulative))
                    histogram.add_metric(list(key), buckets, row[0])
                yield histogram
            elif isinstance(family, Gauge):
                gauge = GaugeMetricFamily(family.name, family.documentation, labels=labelnames)
                for key, value in sorted(table.items()):
                    gauge.add_metric(list(key), value)
                yield gauge
            else:
                counter = CounterMetricFamily(
                    family.name.removesuffix("_total"), family.documentation, labels=labelnames
                )
                for key, value in sorted(table.items()):
                    counter.add_metric(list(key), value)
                yield counter


def _bound(bound: float) -> str:
    """A bucket bound as Prometheus writes ``le`` labels."""
    return "+Inf" if bound == float("inf") else repr(bound)


def exposition(collector: MetricsCollector) -> tuple[bytes, str]:
    """The Prometheus text exposition of ``collector``, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST
