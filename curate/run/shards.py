"""The output shards: one unit per shard gathers its bucket (shard = xxh64(id) mod N) of the last
pass's documents and of every pass's rejects, sorts them by id and writes ``data/`` and
``rejects/`` Parquet files into the run's staging folder (committed into OUT only when the whole
run succeeds).

Sorting by id inside a shard chosen by hash(id) makes the bytes independent of how many nodes ran
the job, of the order units finished in and of whether the run was resumed. Each shard unit also
checks that no id appears twice in it (data and rejects together) — an id can only ever land in
its own shard, so this proves it across the run — and digests its ids for the ledger.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.hashing import IdDigest, sha256_file
from curate.run.parts import read_bucket
from curate.run.units import PassSpec, RunError, Unit, WorkerContext
from curate.schema import REJECT_SCHEMA


def shard_name(shard: int, num_shards: int) -> str:
    return f"part-{shard:05d}-of-{num_shards:05d}.parquet"


def write_parquet(table: pa.Table, path: Path, output: dict) -> dict:
    """Write ``table`` to ``path`` through a temporary name (a reader never sees half a file);
    returns bytes and sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    compression = output["compression"]
    pq.write_table(
        table, tmp,
        compression=None if compression == "none" else compression,
        compression_level=output["compression_level"] if compression in ("zstd", "gzip") else None,
        row_group_size=output["row_group_rows"],
    )
    os.replace(tmp, path)
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def reason_counts(rejects: pa.Table) -> dict[str, int]:
    """{"stage/reason": rows} of a REJECT_SCHEMA table."""
    keys = pc.binary_join_element_wise(rejects.column("stage"), rejects.column("reason"), "/")
    return {c["values"].as_py(): c["counts"].as_py() for c in pc.value_counts(keys)}


class ShardPass(PassSpec):
    unit_noun = "shards"
    weight_unit = "documents"

    def __init__(self, name: str, document_schema: pa.Schema, num_shards: int, output: dict):
        self.name = name
        self.title = "shards"
        self.document_schema = document_schema
        self.num_shards = num_shards
        self.output = output

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        shard = int(unit.key)
        name = shard_name(shard, self.num_shards)
        final = Path(ctx.final_dir)
        docs = read_bucket(ctx.store, unit.inputs["docs"], shard, self.document_schema, self.document_schema.names)
        rejects = read_bucket(ctx.store, unit.inputs["rejects"], shard, REJECT_SCHEMA)
        docs = docs.sort_by([("id", "ascending"), ("source", "ascending"), ("url", "ascending")])
        rejects = rejects.sort_by([("id", "ascending"), ("stage", "ascending"), ("reason", "ascending"), ("source", "ascending")])
        ids = pa.concat_arrays([docs.column("id").combine_chunks(), rejects.column("id").combine_chunks()])
        distinct = pc.count_distinct(ids).as_py() if len(ids) else 0
        if distinct != len(ids):
            repeated = pc.value_counts(ids).filter(pc.greater(pc.value_counts(ids).field("counts"), 1))
            example = repeated.field("values")[0].as_py()
            raise RunError(f"shard {shard}: {len(ids) - distinct} document id(s) appear more than once across data and rejects "
                           f"(e.g. {example}); every input document must land exactly once")
        digest = IdDigest()
        digest.add(ids.to_pylist())
        ctx.fault_point()
        outputs = {}
        if docs.num_rows:
            outputs["data"] = {"path": f"data/{name}", "final": True, "rows": docs.num_rows, **write_parquet(docs, final / "data" / name, self.output)}
        if rejects.num_rows:
            outputs["rejects"] = {"path": f"rejects/{name}", "final": True, "rows": rejects.num_rows,
                                  **write_parquet(rejects, final / "rejects" / name, self.output), "reasons": reason_counts(rejects)}
        return {"outputs": outputs, "ids": digest.to_json()}


def shard_units(last_docs: list[dict], rejects: list[dict], num_shards: int) -> list[Unit]:
    from curate.run.parts import bucket_rows, bucket_slices

    units = []
    for i in range(num_shards):
        docs, rej = bucket_slices(last_docs, i), bucket_slices(rejects, i)
        units.append(Unit(f"{i:05d}", f"shard {i}", {"docs": docs, "rejects": rej}, bucket_rows(docs, i) + bucket_rows(rej, i)))
    return units
