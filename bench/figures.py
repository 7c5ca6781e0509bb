"""The figures a run reports, how each is compared, and the target for it.

Targets depend on the reference measured against: issue 16's against distribution
3.1.1 (the default; also used for a ``--reference-cmd`` build), issue 6's against
Debian's 2.8.2, kept for the history table.

Three kinds of comparison:

- ``throughput`` (MB/s, req/s): ratio = dockyard / reference, higher is better;
- ``time`` (latencies, wall times): ratio = reference / dockyard, read "x faster";
- ``budget`` (memory): ratio = dockyard / reference, must stay at or under the target.

``cpu_seconds`` is reported for context and has no target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["throughput", "time", "budget"]


@dataclass(frozen=True)
class FigureDef:
    """One figure: its key in the results, its label and unit, and its target ratio."""

    key: str
    label: str
    unit: str
    kind: Kind
    #: Issue 6's target, against distribution 2.8.2.
    target_2_8_2: float | None = None
    #: Issue 16's target, against distribution 3.1.1 (and any other reference).
    target_3_1_1: float | None = None

    def target(self, reference: str) -> float | None:
        """The target ratio against the reference release ``reference``."""
        return self.target_2_8_2 if reference == "2.8.2" else self.target_3_1_1

    @property
    def ratio_label(self) -> str:
        """How to read this figure's ratio."""
        if self.kind == "time":
            return "x faster"
        return "dy/ref"

    def ratio(self, reference: float | None, dockyard: float | None) -> float | None:
        """The comparison ratio, or None when either side is missing or zero."""
        if reference is None or dockyard is None:
            return None
        if any(math.isnan(v) or v <= 0 for v in (reference, dockyard)):
            return None
        if self.kind == "time":
            return reference / dockyard
        return dockyard / reference

    def met(self, ratio: float | None, reference: str = "3.1.1") -> bool | None:
        """Whether ``ratio`` meets the target; None without a target or a ratio."""
        target = self.target(reference)
        if target is None or ratio is None:
            return None
        if self.kind == "budget":
            return ratio <= target
        return ratio >= target

    def target_text(self, reference: str = "3.1.1") -> str:
        """The target as the table prints it."""
        target = self.target(reference)
        if target is None:
            return ""
        return f"<= {target:g}x" if self.kind == "budget" else f">= {target:g}x"


FIGURES: tuple[FigureDef, ...] = (
    FigureDef("upload_mb_s", "monolithic upload", "MB/s", "throughput", 2.0, 1.2),
    FigureDef("chunked_upload_mb_s", "chunked upload", "MB/s", "throughput", 2.0, 1.2),
    FigureDef("download_mb_s", "download", "MB/s", "throughput", 1.2, 1.2),
    FigureDef("manifest_get_c1_rps", "manifest GET c=1", "req/s", "throughput", 5.0, 1.2),
    FigureDef("manifest_get_c1_p50_ms", "manifest GET c=1 p50", "ms", "time"),
    FigureDef("manifest_get_c1_p99_ms", "manifest GET c=1 p99", "ms", "time"),
    FigureDef("manifest_get_c32_rps", "manifest GET c=32", "req/s", "throughput", 5.0, 1.2),
    FigureDef("manifest_get_c32_p50_ms", "manifest GET c=32 p50", "ms", "time"),
    FigureDef("manifest_get_c32_p99_ms", "manifest GET c=32 p99", "ms", "time"),
    FigureDef("head_blob_c32_rps", "HEAD blob c=32", "req/s", "throughput", 5.0, 1.2),
    FigureDef("head_blob_c32_p50_ms", "HEAD blob c=32 p50", "ms", "time"),
    FigureDef("head_blob_c32_p99_ms", "HEAD blob c=32 p99", "ms", "time"),
    FigureDef("tags_list_p50_ms", "tags/list p50", "ms", "time", 2.0, 1.2),
    FigureDef("tags_list_p99_ms", "tags/list p99", "ms", "time"),
    FigureDef("tags_list_paged_p50_ms", "tags/list paged walk p50", "ms", "time"),
    FigureDef("tags_list_paged_p99_ms", "tags/list paged walk p99", "ms", "time"),
    FigureDef("catalog_walk_p50_ms", "_catalog full walk p50", "ms", "time", 5.0, 1.2),
    FigureDef("catalog_walk_p99_ms", "_catalog full walk p99", "ms", "time"),
    FigureDef("push_images_s", "concurrent image push", "s", "time", 1.5, 1.2),
    FigureDef("pull_images_s", "concurrent image pull", "s", "time", None, 1.2),
    FigureDef("peak_rss_mib", "peak RSS", "MiB", "budget", 2.0, 1.5),
    FigureDef("cpu_seconds", "CPU time", "s", "budget"),
)

FIGURE_KEYS: tuple[str, ...] = tuple(f.key for f in FIGURES)


def compare(
    reference: dict[str, float | None] | None,
    dockyard: dict[str, float | None] | None,
    release: str = "3.1.1",
) -> list[dict[str, Any]]:
    """One row per figure measured on either side: both values, the ratio, the target
    against reference ``release`` and whether it is met."""
    rows: list[dict[str, Any]] = []
    for fig in FIGURES:
        if fig.key not in (reference or {}) and fig.key not in (dockyard or {}):
            continue
        ref = (reference or {}).get(fig.key)
        dy = (dockyard or {}).get(fig.key)
        ratio = fig.ratio(ref, dy)
        rows.append(
            {
                "key": fig.key,
                "label": fig.label,
                "unit": fig.unit,
                "kind": fig.kind,
                "reference": ref,
                "dockyard": dy,
                "ratio": ratio,
                "ratio_meaning": fig.ratio_label,
                "target": fig.target(release),
                "target_text": fig.target_text(release),
                "met": fig.met(ratio, release),
            }
        )
    return rows
