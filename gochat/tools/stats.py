"""`gochat events stats`: events per UTC day and type, as a table or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import orjson
from rich.table import Table

DailyCount = tuple[date, str, int]


def stats_json(counts: Sequence[DailyCount]) -> bytes:
    rows = [{"day": day.isoformat(), "type": type_, "count": n} for day, type_, n in counts]
    return orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def stats_table(counts: Sequence[DailyCount]) -> Table:
    table = Table(title="Events per day (UTC) and type")
    table.add_column("Day")
    table.add_column("Type")
    table.add_column("Events", justify="right")
    for i, (day, type_, n) in enumerate(counts):
        first_of_day = i == 0 or counts[i - 1][0] != day
        last_of_day = i == len(counts) - 1 or counts[i + 1][0] != day
        table.add_row(day.isoformat() if first_of_day else "", type_, f"{n:,}", end_section=last_of_day)
    table.add_row("total", "", f"{sum(n for _, _, n in counts):,}", style="bold")
    return table
