"""Plots (docs/bench/*.png) and the one-page summary at the top of docs/benchmarks.md, from the raw
results under bench/results/. Run by `make bench` after the suite; on its own it re-renders what the
last runs left:

    python -m bench.report
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from .peers import install

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SIZES = RESULTS / "sizes"
PLOTS = ROOT / "docs" / "bench"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- summary:start (bench/report.py writes this block) -->", "<!-- summary:end -->"
COLORS = {"gochat": "#2563eb", "bare": "#6b7280", "socketio_py": "#f59e0b", "socketio_node": "#16a34a"}


def load(name: str, directory: Path = RESULTS) -> dict[str, Any] | None:
    path = directory / f"{name}.json"
    return orjson.loads(path.read_bytes()) if path.exists() else None


def sized(prefix: str) -> list[tuple[int, dict[str, Any]]]:
    """Results of one benchmark at several sizes (bench/suite.py keeps them as <prefix>-<n>.json)."""
    found = []
    for path in SIZES.glob(f"{prefix}-*.json"):
        m = re.fullmatch(rf"{prefix}-(\d+)\.json", path.name)
        if m:
            found.append((int(m[1]), orjson.loads(path.read_bytes())))
    return sorted(found, key=lambda pair: pair[0])


# --- plots -------------------------------------------------------------------------------------------
def _figure(title: str) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=110)
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(True, alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _save(fig: Any, name: str) -> Path:
    PLOTS.mkdir(parents=True, exist_ok=True)
    path = PLOTS / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def plot_latency_vs_rate(compare: dict[str, Any]) -> Path:
    topo = compare["topology"]
    fig, ax = _figure(
        f"Delivery latency vs offered load: one room of {topo['subscribers']}, {topo['publishers']} publishers"
    )
    for name, result in compare["targets"].items():
        steps = result["steps"]
        x = [s["offered_deliveries_per_s"] / 1000 for s in steps]
        color = COLORS.get(name)
        ax.plot(x, [s["p99_ms"] for s in steps], "-o", color=color, label=f"{result['label']} p99", ms=4)
        ax.plot(x, [s["p50_ms"] for s in steps], "--", color=color, label=f"{result['label']} p50", alpha=0.7)
        behind = [s for s in steps if not s["kept_up"]]
        if behind:
            ax.scatter(
                [s["offered_deliveries_per_s"] / 1000 for s in behind],
                [s["p99_ms"] for s in behind],
                marker="x",
                s=60,
                color=color,
                zorder=3,
            )
    ax.set_yscale("log")
    ax.set_xlabel("offered deliveries per second (thousands); x = fell behind")
    ax.set_ylabel("latency, ms (log)")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, "latency_vs_rate")


def plot_throughput(compare: dict[str, Any]) -> Path:
    fig, ax = _figure("Most deliveries per second kept up (all delivered, p99 under the bound)")
    names = list(compare["targets"])
    best = [
        max((s["offered_deliveries_per_s"] for s in compare["targets"][n]["steps"] if s["kept_up"]), default=0) / 1000
        for n in names
    ]
    bars = ax.barh([compare["targets"][n]["label"] for n in names], best, color=[COLORS.get(n) for n in names])
    ax.bar_label(bars, labels=[f"{b:,.0f}k" for b in best], padding=3, fontsize=8)
    ax.set_xlabel("deliveries per second (thousands)")
    ax.invert_yaxis()
    return _save(fig, "throughput_kept_up")


def plot_fanout(fanout: dict[str, Any]) -> Path:
    fig, ax = _figure("gochat: deliveries per second against fan-out (ws_fanout sweep)")
    by_fanout: dict[int, list[dict[str, Any]]] = {}
    for r in fanout["results"]:
        by_fanout.setdefault(int(r["fanout"]), []).append(r)
    for f, rows in sorted(by_fanout.items()):
        rows.sort(key=lambda r: r["rate"])
        ax.plot(
            [r["rate"] * f / 1000 for r in rows],
            [r["deliveries_per_s"] / 1000 for r in rows],
            "-o",
            ms=4,
            label=f"fan-out {f}",
        )
    lim = max((r["rate"] * r["fanout"] for r in fanout["results"]), default=1) / 1000
    ax.plot([0, lim], [0, lim], ":", color="#9ca3af", label="offered")
    ax.set_xlabel("offered deliveries per second (thousands)")
    ax.set_ylabel("delivered per second (thousands)")
    ax.legend(fontsize=8)
    return _save(fig, "deliveries_vs_fanout")


def plot_idle(idle: dict[str, Any]) -> Path:
    fig, ax = _figure(f"Memory per idle WebSocket ({idle['results'][0]['connections']:,} held)")
    names = [r["server"] for r in idle["results"]]
    values = [r["kib_per_connection"] for r in idle["results"]]
    bars = ax.barh(names, values, color=[COLORS.get(n, "#2563eb") for n in names])
    ax.bar_label(bars, labels=[f"{v:.1f} KiB" for v in values], padding=3, fontsize=8)
    ax.set_xlabel("server RSS per connection, KiB")
    ax.invert_yaxis()
    return _save(fig, "rss_per_idle_connection")


def plot_append(append: dict[str, Any]) -> Path:
    fig, ax = _figure("Event log appends per second against concurrent appenders")
    series: dict[str, list[dict[str, Any]]] = {}
    for r in append["results"]:
        if isinstance(r["concurrency"], int):
            series.setdefault(r["scenario"], []).append(r)
    for scenario, rows in series.items():
        rows.sort(key=lambda r: r["concurrency"])
        ax.plot([r["concurrency"] for r in rows], [r["events_per_s"] for r in rows], "-o", ms=4, label=scenario)
    ax.set_xscale("log")
    ax.set_xlabel("concurrent appenders (log)")
    ax.set_ylabel("events per second (committed)")
    ax.legend(fontsize=7)
    return _save(fig, "appends_vs_concurrency")


def plot_uploads(uploads: dict[str, Any]) -> Path:
    single, many, thumbs = uploads["single"], uploads["concurrent"], uploads["thumbnails"]
    fig, ax = _figure(f"Uploads: {single['size_mib']:.0f} MiB files streamed to storage (server RSS growth beside)")
    names = ["1 upload", f"{many['uploads']} at once"]
    values = [single["mb_per_s"], many["mb_per_s"]]
    bars = ax.barh(names, values, color="#2563eb")
    labels = [f"{v:.0f} MB/s, RSS +{r['rss_growth_mib']:.1f} MiB" for v, r in zip(values, (single, many), strict=True)]
    ax.bar_label(bars, labels=labels, padding=3, fontsize=8)
    ax.set_xlabel(
        f"MB/s received and stored; thumbnails: {thumbs['images_per_s']:.1f} images/s "
        f"({thumbs['megapixels']:.0f} MP, {thumbs['concurrency']} at once)"
    )
    ax.invert_yaxis()
    return _save(fig, "upload_throughput")


def plot_read_latency(history: list[tuple[int, dict[str, Any]]], search: list[tuple[int, dict[str, Any]]]) -> Path:
    fig, ax = _figure("History page and search latency against room size (p99, dashed p50)")
    page = [
        (n, r)
        for n, d in history
        for r in d["results"]
        if r["query"].startswith("history page") and "service" in r["query"]
    ]
    if page:
        ax.plot([n for n, _ in page], [r["p99_ms"] for _, r in page], "-o", ms=4, label="history page of 50 (p99)")
        ax.plot([n for n, _ in page], [r["p50_ms"] for _, r in page], "--", label="history page of 50 (p50)")
    room = [(n, q) for n, d in search for q in d["queries"] if q["scope"] == "room"]
    if room:
        best: dict[int, dict[str, Any]] = {}
        for n, q in room:
            best[n] = q if n not in best or q["p99_ms"] > best[n]["p99_ms"] else best[n]
        label = "search in a room, slowest word (p99)"
        ax.plot(list(best), [q["p99_ms"] for q in best.values()], "-s", ms=4, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("messages (log)")
    ax.set_ylabel("ms")
    ax.legend(fontsize=7)
    return _save(fig, "read_latency_vs_size")


# --- the summary ----------------------------------------------------------------------------------
def _fmt(value: float, unit: str = "") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.1f}{unit}"


def _bound(label: str, steps: list[dict[str, Any]], unit: str) -> list[str]:
    """Where the server's time went at the first step it fell behind (its py-spy profile)."""
    behind = next((st for st in steps if not st["kept_up"]), None)
    if behind is None or not behind.get("profile"):
        return []
    top = [(f, share) for f, share in behind["profile"] if f != "(samples)"][:6]
    cpu = f"server at {behind['server_cpu']:.0%} of a core"
    if "postgres_cpu" in behind:
        cpu += f", PostgreSQL at {behind['postgres_cpu']:.0%}"
    where = "; ".join(f"`{f}` {share:.0f}%" for f, share in top)
    return [
        f"- {label} fell behind at {behind['rate']:,} {unit} ({cpu}, load {behind['load_1m']:.1f});"
        f" the server's busiest functions there (self time): {where}."
    ]


def _share(cpu: float | None) -> str:
    """A process's share of one core; blank for results taken before it was recorded."""
    return "" if cpu is None else f"{cpu:.0%}"


def summary(compare: dict[str, Any] | None, results: dict[str, dict[str, Any] | None]) -> str:
    lines = [START, "## At a glance", ""]
    if compare is not None:
        m, topo = compare["machine"], compare["topology"]
        lines += [
            f"Measured {compare['at'][:16].replace('T', ' ')} UTC on {m['cores']} cores, Python {m['python']},"
            f" PostgreSQL {m['postgres']} on the same machine, commit {m['commit']};"
            f" `python -m bench.compare --{compare['mode']}`. One room of {topo['subscribers']} sockets,"
            f" {topo['publishers']} of them"
            f" publishing paced messages; the same {topo['processes']} load processes against every server,"
            " one after another in one sitting.",
            "",
            "![latency against offered load](bench/latency_vs_rate.png)",
            "",
            "| server | most deliveries/s kept up | p50 / p99 there | server CPU there | busiest load process"
            " there | load avg before |",
            "|---|---|---|---|---|---|",
        ]
        for result in compare["targets"].values():
            kept = [s for s in result["steps"] if s["kept_up"]]
            top = max(kept, key=lambda s: s["offered_deliveries_per_s"]) if kept else None
            lines.append(
                f"| {result['label']} | {top['offered_deliveries_per_s']:,} |"
                f" {_fmt(top['p50_ms'])} / {_fmt(top['p99_ms'])} ms | {top['server_cpu']:.0%}"
                f"{f' (PostgreSQL {pg:.0%})' if (pg := top.get('postgres_cpu')) else ''} |"
                f" {_share(top.get('generator_cpu'))} | {result['load_1m_before']:.2f} |"
                if top
                else f"| {result['label']} | none | | | | {result['load_1m_before']:.2f} |"
            )
        if compare["ratios"]:
            lines += [
                "",
                "gochat against each peer (gochat / peer: throughput above 1, latency below 1 favour gochat):",
                "",
            ]
            lines += ["| peer | throughput ratio | p50 ratio | p99 ratio | at messages/s |", "|---|---|---|---|---|"]
            for peer, r in compare["ratios"].items():
                label = compare["targets"][peer]["label"]
                lines.append(
                    f"| {label} | {_fmt(r.get('throughput'))} | {_fmt(r.get('p50'))} | {_fmt(r.get('p99'))} |"
                    f" {r.get('at_rate', 'n/a')} |"
                )
        lines += [
            "",
            "gochat authenticates, access-checks and commits every message (with its history, unread and"
            " search projections) before fanning it out; the peers keep nothing. What bounds each figure"
            " is in the sections below.",
        ]
    throughput = results.get("throughput")
    if throughput is not None:
        lines += [
            "",
            'The seed\'s "10k+ messages/second": messages persisted, acked and delivered per second by one'
            f" gochat process ({throughput['sockets']} sockets, one user each, every one publishing), PostgreSQL"
            " on the same two cores (`python -m bench.throughput`):",
            "",
            "| fan-out | most messages/s kept up | p50 / p99 there | server CPU per message"
            " | PostgreSQL CPU per message | server-bound ceiling per core | load avg before |",
            "|---|---|---|---|---|---|---|",
        ]
        for fanout, result in throughput["fanouts"].items():
            kept = [st for st in result["steps"] if st["kept_up"]]
            if not kept:
                lines.append(f"| {fanout} | none | | | | | {result['load_1m_before']:.2f} |")
                continue
            top = max(kept, key=lambda st: st["rate"])
            server_us = top["server_cpu"] / top["rate"] * 1e6
            pg_us = top.get("postgres_cpu", math.nan) / top["rate"] * 1e6
            lines.append(
                f"| {fanout} | {top['rate']:,} | {_fmt(top['p50_ms'])} / {_fmt(top['p99_ms'])} ms | {server_us:.0f} us"
                f" | {pg_us:.0f} us | {1e6 / server_us:,.0f}/s | {result['load_1m_before']:.2f} |"
            )
        lines += [
            "",
            "The ceiling per core is what the server process alone would sustain if PostgreSQL ran on a"
            " machine of its own (1 s of CPU divided by the server's CPU per message at the best kept-up rate).",
        ]
    bounds: list[str] = []
    if compare is not None and "gochat" in compare["targets"]:
        bounds += _bound("gochat in one room of 100", compare["targets"]["gochat"]["steps"], "messages/s")
    if throughput is not None:
        for fanout, result in throughput["fanouts"].items():
            bounds += _bound(f"gochat at fan-out {fanout}", result["steps"], "messages/s")
    if bounds:
        lines += ["", "What bounds the figures (profiles taken by the bench during the step that fell behind):", ""]
        lines += bounds
    plots = sorted(p.name for p in PLOTS.glob("*.png")) if PLOTS.exists() else []
    others = [p for p in plots if p != "latency_vs_rate.png"]
    if others:
        lines += ["", "More pictures: " + ", ".join(f"[{p[:-4].replace('_', ' ')}](bench/{p})" for p in others) + "."]
    lines += ["", END]
    return "\n".join(lines)


def write_summary(block: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        title, _, body = text.partition("\n")
        text = f"{title}\n\n{block}\n{body}"
    DOC.write_text(text)


def render() -> list[Path]:
    install.ensure_python("matplotlib")
    made: list[Path] = []
    compare = load("compare")
    steps: list[tuple[str | None, Callable[[], Path]]] = []
    if compare is not None:
        steps += [("compare", lambda: plot_latency_vs_rate(compare)), ("compare", lambda: plot_throughput(compare))]
    fanout, idle, append = load("ws_fanout"), load("ws_idle"), load("append")
    if fanout is not None:
        steps.append(("ws_fanout", lambda: plot_fanout(fanout)))
    if idle is not None:
        steps.append(("ws_idle", lambda: plot_idle(idle)))
    if append is not None:
        steps.append(("append", lambda: plot_append(append)))
    uploads = load("uploads")
    if uploads is not None:
        steps.append(("uploads", lambda: plot_uploads(uploads)))
    history, search = sized("history"), sized("search")
    if history or search:
        steps.append(("sizes", lambda: plot_read_latency(history, search)))
    for _, step in steps:
        made.append(step())
    write_summary(
        summary(compare, {"ws_fanout": fanout, "ws_idle": idle, "append": append, "throughput": load("throughput")})
    )
    return made


def main(argv: Sequence[str] | None = None) -> int:
    for path in render():
        print(f"wrote {path.relative_to(ROOT)}")
    print(f"updated {DOC.relative_to(ROOT)} (summary block)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
