"""Part files: what a unit of work writes for the next pass to read (Arrow IPC, zstd).

A part file may be *bucketed*: its record batches are grouped by the bucket (shuffle partition)
each row belongs to, and the unit's record lists, per bucket, the indices of the batches that
hold it. A reduce unit of the next pass then reads only its bucket's batches from every part
file — a shuffle through files, committed per unit on both sides, so a resume redoes at most the
units that were running and no shuffle ever starts over.

Rows are buffered up to ``flush_bytes`` and written sorted by bucket (stable: the rows of a
bucket keep their order), so a unit's memory stays bounded whatever its input size.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from curate.run.work import WorkStore

# zstd level 1: work files are written once and read once or twice; speed over ratio.
IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression=pa.Codec("zstd", compression_level=1))
FLUSH_BYTES = 32 * 2**20
# Record batches of at most this many rows: a later pass can give out a part in slices of batches
# (smaller units: busier cores, less work redone on resume).
BATCH_ROWS = 512

Bucketer = Callable[[pa.Table], np.ndarray]

# Seconds this process spent writing and reading part files (checkpoint I/O: encoding, zstd,
# hashing, the disk); a unit's record carries its share, the card and the bench sum them.
IO_SECONDS = {"write": 0.0, "read": 0.0}


def attempt_token() -> str:
    """A fresh suffix per attempt: a stale attempt can never overwrite the file a record names."""
    return uuid.uuid4().hex[:10]


class PartWriter:
    """One unit's output file. ``bucketer(table) -> int array`` assigns rows to buckets (None: one
    bucket, 0). ``close()`` returns the file's entry for the unit record."""

    def __init__(self, store: WorkStore, rel_stem: str, schema: pa.Schema, bucketer: Bucketer | None = None,
                 flush_bytes: int = FLUSH_BYTES):
        self.store = store
        self.rel = f"{rel_stem}-{attempt_token()}.arrow"
        self.schema = schema
        self.bucketer = bucketer
        self.flush_bytes = flush_bytes
        self._buffer: list[pa.Table] = []
        self._buffered_bytes = 0
        self._rows = 0
        self._batches = 0
        self._buckets: dict[int, list[int]] = {}
        self._batch_rows: dict[int, list[int]] = {}
        self._bucket_rows: dict[int, int] = {}
        self._context = None
        self._sink = None
        self._writer = None

    def add(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        if table.schema != self.schema:
            table = table.select(self.schema.names).cast(self.schema)
        self._buffer.append(table)
        self._buffered_bytes += table.nbytes
        if self._buffered_bytes >= self.flush_bytes:
            self._flush()

    def _open(self) -> None:
        self._context = self.store.open_output(self.rel)
        self._sink = self._context.__enter__()
        self._writer = pa.ipc.new_file(pa.PythonFile(self._sink, mode="w"), self.schema, options=IPC_OPTIONS)

    def _flush(self) -> None:
        if not self._buffer:
            return
        started = time.perf_counter()
        try:
            self._write_buffer()
        finally:
            IO_SECONDS["write"] += time.perf_counter() - started

    def _write_buffer(self) -> None:
        table = pa.concat_tables(self._buffer).combine_chunks()
        self._buffer, self._buffered_bytes = [], 0
        if self._writer is None:
            self._open()
        if self.bucketer is None:
            runs = [(0, 0, table.num_rows)]
        else:
            buckets = np.asarray(self.bucketer(table), dtype=np.int64)
            order = np.argsort(buckets, kind="stable")
            table = table.take(pa.array(order, pa.int64())).combine_chunks()
            sorted_buckets = buckets[order]
            edges = np.flatnonzero(np.diff(sorted_buckets)) + 1
            starts = np.concatenate(([0], edges))
            ends = np.concatenate((edges, [len(sorted_buckets)]))
            runs = [(int(sorted_buckets[s]), int(s), int(e)) for s, e in zip(starts, ends, strict=True)]
        for bucket, start, end in runs:
            for batch in table.slice(start, end - start).to_batches(max_chunksize=BATCH_ROWS):
                self._writer.write_batch(batch)
                self._buckets.setdefault(bucket, []).append(self._batches)
                self._batch_rows.setdefault(bucket, []).append(batch.num_rows)
                self._batches += 1
            self._bucket_rows[bucket] = self._bucket_rows.get(bucket, 0) + (end - start)
        self._rows += table.num_rows

    def close(self) -> dict:
        """Flush and close; the entry a record stores (no file at all when no row was added)."""
        self._flush()
        if self._writer is None:
            return {"path": None, "rows": 0, "bytes": 0, "sha256": None, "buckets": {}}
        started = time.perf_counter()
        self._writer.close()
        sink = self._sink
        self._context.__exit__(None, None, None)
        IO_SECONDS["write"] += time.perf_counter() - started
        return {
            "path": self.rel, "rows": self._rows, "bytes": sink.bytes, "sha256": sink.sha.hexdigest(),
            # JSON keys are strings; buckets map to (batch indices, rows).
            "buckets": {str(b): {"batches": idx, "batch_rows": self._batch_rows[b], "rows": self._bucket_rows[b]}
                        for b, idx in sorted(self._buckets.items())},
        }

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
                self._context.__exit__(None, None, None)
            except Exception:  # the attempt is being abandoned; its file is never named by a record
                pass


def read_part(store: WorkStore, entry: dict, bucket: int | None = None, columns: list[str] | None = None) -> pa.Table | None:
    """The rows of a part file (all, or one bucket's); None when the file holds none of them."""
    if not entry or not entry.get("path"):
        return None
    if bucket is None:
        indices = None
    else:
        cell = entry["buckets"].get(str(bucket))
        if not cell:
            return None
        indices = cell["batches"]
    started = time.perf_counter()
    source = store.open_input(entry["path"])
    try:
        reader = pa.ipc.open_file(source)
        if indices is None:
            indices = range(reader.num_record_batches)
        batches = [reader.get_batch(i) for i in indices]
        table = pa.Table.from_batches(batches, schema=reader.schema)
    finally:
        # A memory map stays alive while a table holds its buffers; only remote handles need closing.
        if not store.local:
            source.close()
        IO_SECONDS["read"] += time.perf_counter() - started
    if columns is not None:
        table = table.select(columns)
    return table


def read_bucket(store: WorkStore, entries: list[dict], bucket: int | None, schema: pa.Schema, columns: list[str] | None = None) -> pa.Table:
    """One bucket (or everything, ``bucket=None``) gathered from many part files, in entry order."""
    tables = [t for e in entries if (t := read_part(store, e, bucket, columns)) is not None]
    if not tables:
        return (schema if columns is None else pa.schema([schema.field(c) for c in columns])).empty_table()
    return pa.concat_tables(tables)


def bucket_rows(entries: list[dict], bucket: int) -> int:
    return sum(int(e["buckets"].get(str(bucket), {}).get("rows", 0)) for e in entries if e and e.get("path"))


def row_slices(entry: dict, rows: int) -> list[dict]:
    """A part file cut into entries of whole record batches holding about ``rows`` rows each (all
    its buckets, in batch order): the units of a pass that reads parts document by document."""
    if not entry or not entry.get("path"):
        return []
    batches = sorted((i, n) for cell in entry["buckets"].values() for i, n in zip(cell["batches"], cell.get("batch_rows") or [cell["rows"]], strict=False))
    out, current, count = [], [], 0
    for index, n in batches:
        current.append((index, n))
        count += n
        if count >= rows:
            out.append(current)
            current, count = [], 0
    if current:
        if out and count < rows // 2:  # a small tail joins the slice before it
            out[-1] += current
        else:
            out.append(current)
    return [{"path": entry["path"], "rows": sum(n for _, n in s),
             "buckets": {"0": {"batches": [i for i, _ in s], "batch_rows": [n for _, n in s], "rows": sum(n for _, n in s)}}}
            for s in out]


def bucket_slices(entries: list[dict], bucket: int) -> list[dict]:
    """Each entry cut down to one bucket (what a reduce unit needs to be told), files without it left out."""
    out = []
    for e in entries:
        if e and e.get("path"):
            cell = e["buckets"].get(str(bucket))
            if cell:
                out.append({"path": e["path"], "buckets": {str(bucket): cell}})
    return out
