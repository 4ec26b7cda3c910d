"""Running stages inside a unit: their tallies (what a unit record says of each stage), the chain of
per-document stages over a batch, and *outlets* — how a unit lays its kept documents out for the
pass that reads them next (one bucket, one per output shard, or one per group-step partition).

Every count here ends up in a unit record; the card sums records, never anything a worker
reported on the side, so a unit that ran twice (its first worker died) counts once.
"""
from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import pyarrow as pa
import xxhash

from curate.contract import StageOutput
from curate.run.units import RunError, WorkerContext
from curate.schema import REJECT_SCHEMA, conform
from curate.stages.base import GROUP_KEY

KEY_COLUMN = "__group_key"


class StageTally:
    """One stage's counts over one unit."""

    def __init__(self):
        self.documents_in = 0
        self.kept = 0
        self.rejected: dict[str, int] = defaultdict(int)
        self.busy_s = 0.0
        self.counters: dict[str, float] = defaultdict(float)
        self.histograms: dict[str, list[int]] = {}

    def add_output(self, out: StageOutput, documents_in: int, busy_s: float, stage_name: str) -> None:
        kept, rejected = out.kept.num_rows, out.rejected.num_rows
        # The contract: every document comes out kept or rejected — nothing vanishes, nothing is invented.
        if kept + rejected != documents_in:
            raise RunError(f"stage {stage_name!r} returned {kept} kept + {rejected} rejected rows for {documents_in} "
                           "documents in; a stage must account for every document")
        self.documents_in += documents_in
        self.kept += kept
        if rejected:
            for reason, n in _value_counts(out.rejected.column("reason")).items():
                self.rejected[reason] += n
        self.busy_s += busy_s
        self.add_counters(out.counters)
        self.add_histograms(out.histograms)

    def add_counters(self, counters: dict) -> None:
        for key, value in counters.items():
            self.counters[key] += value

    def add_histograms(self, histograms: dict) -> None:
        for column, counts in histograms.items():
            total = self.histograms.setdefault(column, [0] * len(counts))
            self.histograms[column] = [a + b for a, b in zip(total, counts, strict=True)]

    def to_json(self) -> dict:
        return {
            "in": self.documents_in, "kept": self.kept, "rejected": dict(sorted(self.rejected.items())),
            "busy_s": round(self.busy_s, 4),
            "counters": {k: (int(v) if float(v).is_integer() else v) for k, v in sorted(self.counters.items())},
            "histograms": dict(sorted(self.histograms.items())),
        }


def _value_counts(column) -> dict[str, int]:
    import pyarrow.compute as pc

    counts = pc.value_counts(column)
    return {c["values"].as_py(): c["counts"].as_py() for c in counts}


def slices(table: pa.Table, rows: int):
    for start in range(0, table.num_rows, rows):
        yield table.slice(start, rows)


class Chain:
    """Consecutive per-document stages, run in order over each batch inside one worker (each
    stage's model is loaded once per worker); ``members`` are (ResolvedStage, in schema, out schema)."""

    def __init__(self, members: list[tuple], batch_size: int):
        self.members = members
        self.batch_size = batch_size

    @property
    def names(self) -> list[str]:
        return [resolved.cls.name for resolved, _, _ in self.members]

    def new_tallies(self) -> dict[str, StageTally]:
        return {name: StageTally() for name in self.names}

    def run(self, ctx: WorkerContext, docs: pa.Table, tallies: dict[str, StageTally], rejects) -> pa.Table:
        """``docs`` through every stage, in batches of ``batch_size``; reject rows go to ``rejects``
        (a PartWriter); returns the documents every stage kept."""
        out_parts = []
        for batch in slices(docs, self.batch_size):
            for resolved, in_schema, out_schema in self.members:
                if not batch.num_rows:
                    break
                stage = ctx.stage(resolved)
                started = time.perf_counter()
                out = stage.process(conform(batch, in_schema))
                tallies[stage.name].add_output(out, batch.num_rows, time.perf_counter() - started, stage.name)
                if out.rejected.num_rows:
                    rejects.add(conform(out.rejected, REJECT_SCHEMA))
                batch = conform(out.kept, out_schema)
            if batch.num_rows:
                out_parts.append(batch)
        if not out_parts:
            return conform(docs.slice(0, 0), self.members[-1][2]) if self.members else docs
        return pa.concat_tables(out_parts)


def id_buckets(ids: list[str], buckets: int) -> np.ndarray:
    """Bucket of each document id (xxh64, stable across processes and machines — Python's hash() is salted)."""
    return np.fromiter((xxhash.xxh64_intdigest(i.encode("utf-8")) % buckets for i in ids), dtype=np.int64, count=len(ids))


def key_buckets(keys: list[str], buckets: int) -> np.ndarray:
    return np.fromiter((xxhash.xxh64_intdigest(k.encode("utf-8")) % buckets for k in keys), dtype=np.int64, count=len(keys))


class Outlet:
    """How a unit writes its kept documents for the next pass. The plain outlet: one bucket."""

    buckets: int = 1

    def schema(self, document_schema: pa.Schema) -> pa.Schema:
        return document_schema

    def prepare(self, ctx: WorkerContext, docs: pa.Table) -> pa.Table:
        return docs

    def bucketer(self):
        return None


class ShardOutlet(Outlet):
    """Documents (and every reject) bucketed by output shard: xxh64(id) mod N."""

    def __init__(self, num_shards: int):
        self.buckets = num_shards

    def bucketer(self):
        n = self.buckets
        return lambda table: id_buckets(table.column("id").to_pylist(), n)


class GroupOutlet(Outlet):
    """Documents keyed for a group step (URL or exact dedup): its ``group_key``, computed here in
    the unit that already holds the documents, and the partition xxh64(key) mod P."""

    def __init__(self, resolved, partitions: int):
        self.resolved = resolved
        self.buckets = partitions

    def schema(self, document_schema: pa.Schema) -> pa.Schema:
        return document_schema.append(pa.field(KEY_COLUMN, pa.string()))

    def prepare(self, ctx: WorkerContext, docs: pa.Table) -> pa.Table:
        stage = ctx.stage(self.resolved)
        started = time.perf_counter()
        keys = stage.group_key(docs) if docs.num_rows else pa.array([], pa.string())
        ctx.note_busy(stage.name, time.perf_counter() - started)
        return docs.append_column(KEY_COLUMN, pa.array(keys, pa.string()))

    def bucketer(self):
        n = self.buckets
        return lambda table: key_buckets(table.column(KEY_COLUMN).to_pylist(), n)


def with_group_key(partition: pa.Table) -> pa.Table:
    """A reduce partition as a GroupStage expects it: the key column named ``group_key``."""
    index = partition.schema.get_field_index(KEY_COLUMN)
    return partition.rename_columns([GROUP_KEY if i == index else n for i, n in enumerate(partition.column_names)])
