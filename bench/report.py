"""Present a run: the text table, the Markdown table, the JSON file and the PNG chart."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _met(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: ""}[value]


def _rows(results: dict[str, Any]) -> list[list[str]]:
    return [
        [
            r["label"],
            r["unit"],
            _num(r["reference"]),
            _num(r["dockyard"]),
            _ratio(r["ratio"]),
            r["ratio_meaning"],
            r["target_text"],
            _met(r["met"]),
        ]
        for r in results["figures"]
    ]


_HEAD = ["figure", "unit", "reference", "dockyard", "ratio", "ratio is", "target", "met"]


def compared(results: dict[str, Any]) -> str:
    """What was compared: the reference release and the storage, in a few words."""
    release = results.get("reference", {}).get("release", "2.8.2")
    reference = "a custom reference build" if release == "custom" else f"distribution {release}"
    storage = results.get("storage", {"kind": "filesystem", "redirect": False})
    where = "filesystem storage"
    if storage["kind"] == "s3":
        where = "S3 storage (SeaweedFS), redirects " + ("on" if storage["redirect"] else "off")
    return f"dockyard vs {reference}, {where}"


def machine_line(results: dict[str, Any]) -> str:
    """One line naming the machine and its measured limits."""
    m, lim = results["machine"], results["limits"]
    return (
        f"{m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Linux {m['kernel']}; "
        f"sha256 {_num(lim.get('sha256_mb_s'))} MB/s, "
        f"disk write+fdatasync {_num(lim.get('disk_write_fdatasync_mb_s'))} MB/s, "
        f"page-cache read {_num(lim.get('page_cache_read_mb_s'))} MB/s"
    )


def text_table(results: dict[str, Any]) -> str:
    """The table printed to stdout, with the machine, versions and errors under it."""
    rows = [_HEAD, *_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEAD))]
    right = {2, 3, 4}
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(compared(results))
    lines.append("machine: " + machine_line(results))
    for name, server in results["servers"].items():
        samples = server["samples"]
        lines.append(
            f"{name}: {server['version']} ({server['seconds']} s; "
            f"{samples.get('processes', '?')} process(es), "
            f"PSS at the end {samples.get('pss_now_mib', '?')} MiB)"
        )
        for group, err in server["errors"].items():
            lines.append(f"  {group} failed: {err}")
    lines.append(
        "ratio: dy/ref = dockyard / reference (higher is better, except for peak RSS and CPU time);"
    )
    lines.append("       x faster = reference / dockyard for latencies and wall times.")
    return "\n".join(lines)


def markdown_table(results: dict[str, Any]) -> str:
    """The same table in Markdown, for the README."""
    out = ["| " + " | ".join(_HEAD) + " |", "|" + "|".join(["---"] * len(_HEAD)) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in _rows(results)]
    return "\n".join(out) + "\n"


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_json(path: Path, results: dict[str, Any]) -> None:
    """Write the results atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(".json.tmp")
    text = json.dumps(_finite(results), indent=2, allow_nan=False, default=str)
    tmp.write_text(text + "\n")
    os.replace(tmp, path)


def draw_chart(path: Path, results: dict[str, Any]) -> None:
    """Horizontal bars of each figure's ratio on a log axis, with its target marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results["figures"] if r["ratio"] is not None]
    fig, ax = plt.subplots(figsize=(10, 0.42 * max(len(rows), 4) + 1.8), dpi=110)
    if not rows:
        ax.text(0.5, 0.5, "no ratios: only one registry was measured", ha="center")
        ax.set_axis_off()
    else:
        labels = [f"{r['label']} ({r['ratio_meaning']})" for r in rows]
        ratios = [r["ratio"] for r in rows]
        colors = [{True: "#2e8b57", False: "#c0392b", None: "#95a5a6"}[r["met"]] for r in rows]
        ys = list(range(len(rows)))[::-1]
        ax.barh(ys, ratios, color=colors, height=0.65)
        for y, r in zip(ys, rows, strict=True):
            ax.annotate(
                f"{r['ratio']:.2f}x",
                (r["ratio"], y),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
            if r["target"] is not None:
                ax.plot([r["target"]] * 2, [y - 0.42, y + 0.42], color="black", lw=2.2)
        ax.axvline(1.0, color="#555555", ls="--", lw=1)
        ax.set_xscale("log")
        lo = min([*ratios, 0.5]) / 1.5
        hi = max([*ratios, *(r["target"] or 1 for r in rows)]) * 2
        ax.set_xlim(lo, hi)
        ax.set_yticks(ys, labels, fontsize=8)
        ax.set_xlabel(
            "ratio (log scale); black bar = target; dashed = parity; green = met, red = missed"
        )
    m = results["machine"]
    ax.set_title(
        f"{compared(results)} — {m['cpu_model']}, {m['cores']} cores, "
        f"{m['ram_gib']} GiB — {results['finished_at'][:16].replace('T', ' ')} UTC",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
