"""Export progress on a terminal: position in the log (bar and ETA) and events written per second."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class ExportProgress(Protocol):
    def begin(self, after: int, upto: int) -> None:
        """The export covers positions after < id <= upto."""

    def advance(self, position: int, events: int) -> None:
        """Scanned up to `position`, `events` written so far."""


class Silent:
    def begin(self, after: int, upto: int) -> None:
        pass

    def advance(self, position: int, events: int) -> None:
        pass


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.fields.get("events", 0) / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f} events/s", style="progress.data.speed")


class TerminalProgress:
    """A rich progress bar on stderr; the bar follows the position, since matching events are not
    counted ahead (that would cost a second scan)."""

    def __init__(self, console: Console | None = None, label: str = "exporting") -> None:
        self.progress = Progress(
            TextColumn(label),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[events]:,} events"),
            _Rate(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
        )
        self.task: TaskID | None = None
        self.after = 0

    def __enter__(self) -> TerminalProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.progress.stop()

    def begin(self, after: int, upto: int) -> None:
        """Again with a later `upto` when the end moves (a rebuild chasing a live head)."""
        self.after = after
        if self.task is None:
            self.task = self.progress.add_task("export", total=max(upto - after, 0), events=0)
        else:
            self.progress.update(self.task, total=max(upto - after, 0))

    def advance(self, position: int, events: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=position - self.after, events=events)
