"""`make bench`: every benchmark in one sitting, then the plots and the summary (bench/report.py).

    python -m bench.suite [--quick | --full] [--only compare,append,...]

Quick mode (the default) keeps to about 12 minutes on two cores: shorter windows, smaller rooms
and logs. Full mode runs each benchmark's own defaults (an hour or more: history and search build
logs of a million messages). Each benchmark runs as its own process, its output kept under
bench/results/logs/; a progress display shows which one runs and its latest line. History and
search run at two sizes each, kept as bench/results/sizes/<name>-<messages>.json for the plot of
latency against room size.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from . import report
from .common import load_average

LOGS = report.RESULTS / "logs"


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    module: str
    args: tuple[str, ...]
    keep_as: str | None = None  # copy bench/results/<module's result>.json to sizes/<keep_as>.json
    result: str | None = None  # the module's result name, when keep_as is set


def plan(mode: str) -> list[Job]:
    if mode == "full":
        return [
            Job("compare", "bench.compare", ("--full",)),
            Job("throughput", "bench.throughput", ("--duration", "8", "--warmup", "2")),
            Job("ws_fanout", "bench.ws_fanout", ()),
            Job("ws_idle", "bench.ws_idle", ()),
            Job("append", "bench.append", ()),
            Job("history 100k", "bench.history", ("--messages", "100000"), "history-100000", "history"),
            Job("history 1M", "bench.history", ("--messages", "1000000"), "history-1000000", "history"),
            Job("search 100k", "bench.search", ("--messages", "100000", "--no-append"), "search-100000", "search"),
            Job("search 1M", "bench.search", ("--messages", "1000000"), "search-1000000", "search"),
            Job("uploads", "bench.uploads", ()),
        ]
    small_history = ("--rooms", "50", "--other-rooms", "500", "--samples", "200")
    small_search = ("--rooms", "100", "--samples", "50", "--no-append")
    return [
        Job("compare", "bench.compare", ("--quick",)),
        Job("throughput", "bench.throughput", ()),
        Job(
            "ws_fanout",
            "bench.ws_fanout",
            (
                "--latency",
                "1000x10,2000x10",
                "--sweep",
                "2000x100",
                "--warmup",
                "1",
                "--duration",
                "4",
                "--drain",
                "10",
            ),
        ),
        Job("ws_idle", "bench.ws_idle", ("--connections", "2000", "--hold", "5", "--settle", "2")),
        Job(
            "append",
            "bench.append",
            (
                "--duration",
                "3",
                "--appenders",
                "1,10,100,1000,2000",
                "--baseline",
                "0",
                "--pipeline",
                "1,2",
                "--paced-duration",
                "5",
            ),
        ),
        Job("history 20k", "bench.history", ("--messages", "20000", *small_history), "history-20000", "history"),
        Job("history 200k", "bench.history", ("--messages", "200000", *small_history), "history-200000", "history"),
        Job("search 20k", "bench.search", ("--messages", "20000", *small_search), "search-20000", "search"),
        Job("search 100k", "bench.search", ("--messages", "100000", *small_search), "search-100000", "search"),
        Job("uploads", "bench.uploads", ("--images", "20")),
    ]


async def run_job(job: Job, progress: Progress, task: TaskID) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{job.name.replace(' ', '_')}.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-u",
        "-m",
        job.module,
        *job.args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    with log_path.open("wb") as log:
        async for line in proc.stdout:
            log.write(line)
            text = line.decode(errors="replace").strip()
            if text:
                progress.update(task, status=text[:90])
    code = await proc.wait()
    if code == 0 and job.keep_as and job.result:
        report.SIZES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(report.RESULTS / f"{job.result}.json", report.SIZES / f"{job.keep_as}.json")
    return code


async def run(jobs: Sequence[Job]) -> list[tuple[Job, int, float]]:
    outcomes = []
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<13}"),
        BarColumn(bar_width=20),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        overall = progress.add_task("suite", total=len(jobs), status="")
        for job in jobs:
            progress.update(overall, description=job.name, status=f"load average {load_average():.2f}")
            start = time.perf_counter()
            code = await run_job(job, progress, overall)
            outcomes.append((job, code, time.perf_counter() - start))
            progress.advance(overall)
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick")
    mode.add_argument("--full", dest="mode", action="store_const", const="full")
    p.set_defaults(mode="quick")
    p.add_argument("--only", help="comma-separated job names' first words (e.g. compare,append)")
    args = p.parse_args(argv)
    jobs = plan(args.mode)
    if args.only:
        wanted = set(args.only.split(","))
        jobs = [j for j in jobs if j.name.split()[0] in wanted]
    outcomes = asyncio.run(run(jobs))
    failed = [(j, c) for j, c, _ in outcomes if c != 0]
    for job, code, seconds in outcomes:
        print(f"{job.name:<14} {'ok' if code == 0 else f'FAILED ({code})':<12} {seconds:6.0f} s")
    if failed:
        print("logs: " + ", ".join(str(LOGS / f"{j.name.replace(' ', '_')}.log") for j, _ in failed))
    for path in report.render():
        print(f"wrote {path.relative_to(report.ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
