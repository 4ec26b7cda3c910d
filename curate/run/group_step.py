"""Group steps (URL and exact dedup): every document of a key decided together.

The pass before writes its kept documents with their group key, bucketed by partition
(xxh64(key) mod P — a ``GroupOutlet``), so the shuffle's map side costs nothing extra. Here one
unit per partition reads its bucket from every part of that pass, sorts it by id (so the result
never depends on which part arrived first), and lets the stage decide key by key; kept documents
go out through the next pass's outlet, rejects bucketed by output shard.
"""
from __future__ import annotations

import time

import pyarrow as pa

from curate.run.parts import PartWriter, bucket_rows, bucket_slices, read_bucket
from curate.run.stage_calls import KEY_COLUMN, Outlet, ShardOutlet, StageTally, with_group_key
from curate.run.units import PassSpec, Unit, WorkerContext
from curate.schema import REJECT_SCHEMA, conform


class GroupReducePass(PassSpec):
    unit_noun = "partitions"
    weight_unit = "documents"

    def __init__(self, name: str, resolved, in_schema: pa.Schema, out_schema: pa.Schema, outlet: Outlet, num_shards: int):
        self.name = name
        self.title = resolved.cls.name
        self.resolved = resolved
        self.in_schema = in_schema
        self.out_schema = out_schema
        self.outlet = outlet
        self.num_shards = num_shards
        self.stage_names = (resolved.cls.name,)
        self.num_cpus = resolved.placement.cpus or 1.0
        self.memory_bytes = resolved.placement.memory_bytes

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        stage = ctx.stage(self.resolved)
        keyed_schema = self.in_schema.append(pa.field(KEY_COLUMN, pa.string()))
        partition = read_bucket(ctx.store, unit.inputs["parts"], unit.inputs["bucket"], keyed_schema)
        partition = partition.select(keyed_schema.names)
        # Arrival order depends on the previous pass's parts; the decision must not.
        partition = partition.sort_by([("id", "ascending")])
        tally = StageTally()
        docs_writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.docs", self.outlet.schema(self.out_schema), self.outlet.bucketer())
        rejects_writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.rejects", REJECT_SCHEMA, ShardOutlet(self.num_shards).bucketer())
        try:
            if partition.num_rows:
                started = time.perf_counter()
                out = stage.process(with_group_key(partition))
                tally.add_output(out, partition.num_rows, time.perf_counter() - started, stage.name)
                ctx.fault_point()
                if out.rejected.num_rows:
                    rejects_writer.add(conform(out.rejected, REJECT_SCHEMA))
                kept = conform(out.kept, self.out_schema)
                if kept.num_rows:
                    docs_writer.add(self.outlet.prepare(ctx, kept))
        except BaseException:
            docs_writer.abort()
            rejects_writer.abort()
            raise
        return {"outputs": {"docs": docs_writer.close(), "rejects": rejects_writer.close()},
                "stages": {stage.name: tally.to_json()}}


def group_units(previous_docs: list[dict], partitions: int) -> list[Unit]:
    """One unit per partition that any part holds rows of (an empty partition has nothing to decide)."""
    units = []
    for j in range(partitions):
        parts = bucket_slices(previous_docs, j)
        if parts:
            units.append(Unit(key=f"{j:05d}", label=f"partition {j}", inputs={"parts": parts, "bucket": j},
                              weight=bucket_rows(parts, j)))
    return units
