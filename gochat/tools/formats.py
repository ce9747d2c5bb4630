"""Writers of raw log rows: JSON lines, CSV (data and metadata as JSON text), Parquet (pyarrow)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring  # the C encoder json.dumps uses for strings
from typing import Any, BinaryIO, Protocol

from ..events.scan import FIELDS, RawEvent
from .filters import BadInput


def json_lines(rows: Sequence[RawEvent]) -> bytes:
    """One JSON object per event and line, keys in FIELDS order.

    Assembled from the text the database produced rather than encoded value by value: ids and
    versions are integers, stream ids and times are uuid and to_char text with nothing to escape,
    data and metadata are jsonb's own JSON text; type, actor and client_msg_id go through json's C
    string encoder. Several times faster than a JSON library call per row (docs/benchmarks.md).
    """
    q = encode_basestring
    return "".join(
        [
            f'{{"id":{i},"stream_id":"{s}","version":{v},"type":{q(t)},"schema_version":{sv},"data":{d},'
            f'"metadata":{m},"actor_id":{"null" if a is None else q(a)},'
            f'"client_msg_id":{"null" if c is None else q(c)},"recorded_at":"{at}"}}\n'
            for i, s, v, t, sv, d, m, a, c, at in rows
        ]
    ).encode()


class EventWriter(Protocol):
    def write(self, rows: Sequence[RawEvent]) -> None: ...

    def close(self) -> None:
        """Flush and finish the format (Parquet's footer); the stream itself stays open."""


class JsonLinesWriter:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def write(self, rows: Sequence[RawEvent]) -> None:
        self.out.write(json_lines(rows))

    def close(self) -> None:
        self.out.flush()


class CsvWriter:
    def __init__(self, out: BinaryIO) -> None:
        self.text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        self.csv = csv.writer(self.text)
        self.csv.writerow(FIELDS)

    def write(self, rows: Sequence[RawEvent]) -> None:
        self.csv.writerows(rows)

    def close(self) -> None:
        self.text.flush()
        self.text.detach()


class ParquetWriter:
    """Buffers pages into row groups of ROW_GROUP rows: readers skip and decode by row group."""

    ROW_GROUP = 128 * 1024

    def __init__(self, out: BinaryIO) -> None:
        import pyarrow as pa  # an optional extra: see writer_for
        import pyarrow.parquet as pq

        self.pa = pa
        self.types = [
            pa.int64(), pa.string(), pa.int32(), pa.string(), pa.int16(),
            pa.string(), pa.string(), pa.string(), pa.string(), pa.timestamp("us", tz="UTC"),
        ]  # fmt: skip
        self.schema = pa.schema(list(zip(FIELDS, self.types, strict=True)))
        self.writer = pq.ParquetWriter(out, self.schema, compression="zstd")
        self.pending: list[Any] = []
        self.pending_rows = 0

    def write(self, rows: Sequence[RawEvent]) -> None:
        if not rows:
            return
        pa = self.pa
        columns = list(zip(*rows, strict=True))
        arrays = [pa.array(col, type=t) for col, t in zip(columns[:-1], self.types, strict=False)]
        arrays.append(pa.array(columns[-1], type=pa.string()).cast(self.types[-1]))
        self.pending.append(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self.pending_rows += len(rows)
        if self.pending_rows >= self.ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.writer.write_table(self.pa.Table.from_batches(self.pending), row_group_size=self.pending_rows)
            self.pending, self.pending_rows = [], 0

    def close(self) -> None:
        self._flush()
        self.writer.close()


WRITERS: dict[str, Callable[[BinaryIO], EventWriter]] = {
    "jsonl": JsonLinesWriter,
    "csv": CsvWriter,
    "parquet": ParquetWriter,
}
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


def writer_for(fmt: str) -> Callable[[BinaryIO], EventWriter]:
    """The writer class of a format name, or BadInput (unknown format, pyarrow not installed)."""
    if fmt not in WRITERS:
        raise BadInput(f"--format: {fmt!r} is not one of {', '.join(WRITERS)}")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:  # pragma: no cover - the dev extra installs it
            raise BadInput("--format parquet needs pyarrow: pip install 'gochat[parquet]'") from None
    return WRITERS[fmt]
