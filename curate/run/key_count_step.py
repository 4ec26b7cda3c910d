"""Key-count steps (line dedup): how many documents of the corpus hold each key, and what each
document does with its keys that are too common.

Passes, each committed per unit:

1. ``keys`` — one unit per part of the previous pass: a row per (document, distinct key) with the
   document's part, bucketed by key mod P.
2. ``count`` — one unit per partition: documents per key; the (document, key) rows of frequent
   keys go out bucketed by the document's part; the most common keys (hash, count, an example id —
   never the line) in the record.
3. ``apply`` — one unit per part: its documents with their frequent keys, through ``apply``.

No process holds the corpus's counts: a count unit holds its partition's key occurrences
(≈ 30 B per document-line).
"""
from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.run.parts import PartWriter, bucket_rows, bucket_slices, read_bucket, read_part
from curate.run.stage_calls import Outlet, ShardOutlet, StageTally, slices
from curate.run.units import PassSpec, Unit, WorkerContext
from curate.schema import REJECT_SCHEMA, conform

KEY_SCHEMA = pa.schema([("key", pa.uint64()), ("id", pa.string()), ("part", pa.int32())])


class _KeyPass(PassSpec):
    def __init__(self, name: str, resolved, title: str, documents: int):
        self.name = name
        self.resolved = resolved
        self.title = title
        self.documents = documents
        self.stage_names = (resolved.cls.name,)
        self.num_cpus = resolved.placement.cpus or 1.0
        self.memory_bytes = resolved.placement.memory_bytes

    def _stage(self, ctx: WorkerContext):
        stage = ctx.stage(self.resolved)
        stage.plan(self.documents)
        return stage

    def _extra(self, busy_s: float, counters: dict | None = None) -> dict:
        tally = StageTally()
        tally.busy_s = busy_s
        tally.add_counters(counters or {})
        return {self.resolved.cls.name: tally.to_json()}


class KeysPass(_KeyPass):
    unit_noun = "parts"

    def __init__(self, name, resolved, documents: int, in_schema, partitions: int, batch_size: int):
        super().__init__(name, resolved, f"{resolved.cls.name}: keys", documents)
        self.in_schema, self.partitions, self.batch_size = in_schema, partitions, batch_size

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        stage = self._stage(ctx)
        part = int(unit.key)
        n = np.uint64(self.partitions)
        writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.keys", KEY_SCHEMA,
                            lambda t: (t.column("key").to_numpy() % n).astype(np.int64))
        busy = 0.0
        docs = read_part(ctx.store, unit.inputs["docs"])
        if docs is not None:
            docs = conform(docs, self.in_schema)
            for batch in slices(docs, self.batch_size * 8):
                started = time.perf_counter()
                keys_per_doc = stage.document_keys(batch)
                lengths = np.fromiter((len(k) for k in keys_per_doc), dtype=np.int64, count=len(keys_per_doc))
                keys = np.fromiter((k for ks in keys_per_doc for k in ks), dtype=np.uint64, count=int(lengths.sum()))
                owner = np.repeat(np.arange(len(keys_per_doc)), lengths)
                rows = pa.table({"key": pa.array(keys, pa.uint64()),
                                 "id": batch.column("id").combine_chunks().take(pa.array(owner, pa.int64())),
                                 "part": pa.array(np.full(len(keys), part, dtype=np.int32))}, schema=KEY_SCHEMA)
                busy += time.perf_counter() - started
                writer.add(rows)
                ctx.fault_point()
        return {"outputs": {"keys": writer.close()}, "stages": self._extra(busy)}


class CountPass(_KeyPass):
    unit_noun = "partitions"
    weight_unit = "key rows"

    def __init__(self, name, resolved, documents: int):
        super().__init__(name, resolved, f"{resolved.cls.name}: count", documents)

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        stage = self._stage(ctx)
        started = time.perf_counter()
        rows = read_bucket(ctx.store, unit.inputs["parts"], unit.inputs["bucket"], KEY_SCHEMA)
        keys = rows.column("key")
        counts = pc.value_counts(keys)
        values, documents = counts.field("values"), counts.field("counts")
        is_frequent = pc.greater(documents, stage.max_documents)
        frequent_values, frequent_counts = values.filter(is_frequent), documents.filter(is_frequent)
        frequent = rows.filter(pc.is_in(keys, value_set=frequent_values))
        top = sorted(zip(frequent_counts.to_pylist(), frequent_values.to_pylist(), strict=True), key=lambda r: (-r[0], r[1]))[: stage.report_top]
        report = []
        if top:
            top_keys = {k for _, k in top}
            example: dict[int, str] = {}
            for key, doc_id in zip(frequent.column("key").to_pylist(), frequent.column("id").to_pylist(), strict=True):
                if key in top_keys and (key not in example or doc_id < example[key]):
                    example[key] = doc_id
            report = [{"key": f"{k:016x}", "documents": n, "example_document": example[k]} for n, k in top]
        ctx.fault_point()
        writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.frequent", KEY_SCHEMA,
                            lambda t: t.column("part").to_numpy().astype(np.int64))
        writer.add(frequent.sort_by([("part", "ascending"), ("id", "ascending"), ("key", "ascending")]))
        counters = {"key_occurrences": rows.num_rows, "distinct_keys": len(values), "frequent_keys": len(frequent_values),
                    "frequent_key_occurrences": frequent.num_rows}
        return {"outputs": {"frequent": writer.close()}, "stages": self._extra(time.perf_counter() - started, counters), "top": report}


class ApplyKeysPass(_KeyPass):
    unit_noun = "parts"

    def __init__(self, name, resolved, documents: int, in_schema, out_schema, outlet: Outlet, num_shards: int, batch_size: int):
        super().__init__(name, resolved, resolved.cls.name, documents)
        self.in_schema, self.out_schema, self.outlet = in_schema, out_schema, outlet
        self.num_shards, self.batch_size = num_shards, batch_size

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        stage = self._stage(ctx)
        tally = StageTally()
        docs_writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.docs", self.outlet.schema(self.out_schema), self.outlet.bucketer())
        rejects_writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.rejects", REJECT_SCHEMA, ShardOutlet(self.num_shards).bucketer())
        docs = read_part(ctx.store, unit.inputs["docs"])
        if docs is not None:
            docs = conform(docs, self.in_schema)
            keys = read_bucket(ctx.store, unit.inputs["frequent"], int(unit.key), KEY_SCHEMA)
            frequent: dict[str, set[int]] = {}
            for doc_id, key in zip(keys.column("id").to_pylist(), keys.column("key").to_pylist(), strict=True):
                frequent.setdefault(doc_id, set()).add(key)
            empty: set[int] = set()
            for batch in slices(docs, self.batch_size):
                started = time.perf_counter()
                out = stage.apply(batch, [frequent.get(i, empty) for i in batch.column("id").to_pylist()])
                tally.add_output(out, batch.num_rows, time.perf_counter() - started, stage.name)
                if out.rejected.num_rows:
                    rejects_writer.add(conform(out.rejected, REJECT_SCHEMA))
                kept = conform(out.kept, self.out_schema)
                if kept.num_rows:
                    docs_writer.add(self.outlet.prepare(ctx, kept))
                ctx.fault_point()
        return {"outputs": {"docs": docs_writer.close(), "rejects": rejects_writer.close()},
                "stages": {stage.name: tally.to_json()}}


def run_key_count_step(engine, index: int, resolved, previous_docs: list[tuple[str, dict]], in_schema, out_schema,
                       outlet: Outlet) -> dict[str, dict]:
    """The passes of one key-count step; returns the apply pass's records (one per previous part)."""
    name = f"{index:02d}-{resolved.cls.name}"
    documents = sum(int(e.get("rows", 0)) for _, e in previous_docs)
    planner = resolved.build()
    planner.ensure_setup()
    engine.step_counters[resolved.cls.name] = {"documents_counted": documents, **planner.plan(documents)}
    parts = {key: entry for key, entry in previous_docs if entry.get("rows")}
    key_units = [Unit(key, f"part {int(key)}", {"docs": e}, e["rows"]) for key, e in sorted(parts.items())]
    keys = engine.run(KeysPass(f"{name}/keys", resolved, documents, in_schema, engine.partitions, engine.batch_size), key_units)
    key_entries = [r["outputs"]["keys"] for _, r in sorted(keys.items())]
    count_units = [Unit(f"{j:05d}", f"partition {j}", {"parts": s, "bucket": j}, bucket_rows(s, j))
                   for j in range(engine.partitions) if (s := bucket_slices(key_entries, j))]
    counts = engine.run(CountPass(f"{name}/count", resolved, documents), count_units)
    frequent = [r["outputs"]["frequent"] for _, r in sorted(counts.items())]
    top = sorted((row for r in counts.values() for row in r.get("top", [])), key=lambda r: (-r["documents"], r["key"]))
    engine.top_keys[resolved.cls.name] = top[: resolved.cls.report_top]
    apply_units = [Unit(key, f"part {int(key)}", {"docs": e, "frequent": bucket_slices(frequent, int(key))}, e["rows"])
                   for key, e in sorted(parts.items())]
    return engine.run(ApplyKeysPass(f"{name}/apply", resolved, documents, in_schema, out_schema, outlet, engine.num_shards,
                                    engine.batch_size), apply_units)
