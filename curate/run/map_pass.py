"""Per-document passes: the *documents* pass (one unit per input file: read, then every stage up
to the first global step) and *map* passes (one unit per part of the previous pass: the filters
and classifiers between or after global steps).

A unit streams its input batch by batch through the stage chain and writes two part files: the
kept documents, laid out for the next pass by an outlet, and the reject rows, bucketed by output
shard. Its record holds each stage's counts, the reader's counts and the input file's sha256, and
(documents pass) the digest of every id the reader emitted — what `curate audit` later finds again
in data/ and rejects/.
"""
from __future__ import annotations

import time

import pyarrow as pa

from curate.hashing import IdDigest
from curate.readers import InputFile, read_file, sha256_of
from curate.run.parts import PartWriter, read_part
from curate.run.stage_calls import Chain, Outlet, ShardOutlet, StageTally, slices
from curate.run.units import PassSpec, Unit, WorkerContext
from curate.schema import REJECT_SCHEMA

READ_STAGE = "read"


class _ChainPass(PassSpec):
    def __init__(self, name: str, title: str, chain: Chain, out_schema: pa.Schema, outlet: Outlet, num_shards: int):
        self.name = name
        self.title = title
        self.chain = chain
        self.out_schema = out_schema
        self.outlet = outlet
        self.num_shards = num_shards
        self.stage_names = tuple(chain.names)
        placements = [resolved.placement for resolved, _, _ in chain.members]
        self.num_cpus = max([p.cpus for p in placements], default=1.0) or 1.0
        self.num_gpus = max([p.gpus for p in placements], default=0.0)
        self.memory_bytes = max([p.memory_bytes for p in placements if p.memory_bytes], default=None)

    def _writers(self, ctx: WorkerContext, key: str) -> tuple[PartWriter, PartWriter]:
        docs = PartWriter(ctx.store, f"{self.name}/parts/{key}.docs", self.outlet.schema(self.out_schema), self.outlet.bucketer())
        rejects = PartWriter(ctx.store, f"{self.name}/parts/{key}.rejects", REJECT_SCHEMA, ShardOutlet(self.num_shards).bucketer())
        return docs, rejects

    def _through_chain(self, ctx, docs: pa.Table, tallies, docs_writer: PartWriter, rejects_writer: PartWriter) -> None:
        kept = self.chain.run(ctx, docs, tallies, rejects_writer) if self.chain.members else docs
        if kept.num_rows:
            docs_writer.add(self.outlet.prepare(ctx, kept))


class DocumentsPass(_ChainPass):
    """Unit = one input file."""

    unit_noun = "files"
    weight_unit = "bytes"

    def __init__(self, name: str, chain: Chain, out_schema: pa.Schema, outlet: Outlet, num_shards: int, read_batch_size: int):
        super().__init__(name, "documents", chain, out_schema, outlet, num_shards)
        self.read_batch_size = read_batch_size
        self.stage_names = (READ_STAGE, *chain.names)

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        f = InputFile(**unit.inputs)
        docs_writer, rejects_writer = self._writers(ctx, unit.key)
        tallies = {READ_STAGE: StageTally(), **self.chain.new_tallies()}
        read = tallies[READ_STAGE]
        ids = IdDigest()
        documents = rejected = 0
        reader = read_file(f, batch_size=self.read_batch_size)
        try:
            while True:
                started = time.perf_counter()
                out = next(reader, None)
                read.busy_s += time.perf_counter() - started
                if out is None:
                    break
                ids.add(out.kept.column("id").to_pylist())
                ids.add(out.rejected.column("id").to_pylist())
                documents += out.kept.num_rows
                rejected += out.rejected.num_rows
                read.documents_in += out.kept.num_rows + out.rejected.num_rows
                read.kept += out.kept.num_rows
                if out.rejected.num_rows:
                    rejects_writer.add(out.rejected)
                    for reason, n in _reasons(out.rejected).items():
                        read.rejected[reason] += n
                read.add_counters(out.counters)
                if out.kept.num_rows:
                    self._through_chain(ctx, out.kept, tallies, docs_writer, rejects_writer)
                ctx.fault_point()
            started = time.perf_counter()
            digest = sha256_of(f)
            read.busy_s += time.perf_counter() - started
        except BaseException:
            docs_writer.abort()
            rejects_writer.abort()
            raise
        return {
            "outputs": {"docs": docs_writer.close(), "rejects": rejects_writer.close()},
            "stages": {name: t.to_json() for name, t in tallies.items()},
            "file": {"source": f.source, "format": f.format, "bytes": f.size, "sha256": digest, "documents": documents,
                     "rejects": rejected, "ids": ids.to_json()},
        }


class MapPass(_ChainPass):
    """Unit = one part of the previous pass (its documents file)."""

    unit_noun = "parts"
    weight_unit = "documents"

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        docs_writer, rejects_writer = self._writers(ctx, unit.key)
        tallies = self.chain.new_tallies()
        try:
            docs = read_part(ctx.store, unit.inputs["docs"], 0)
            if docs is not None:
                in_schema = self.chain.members[0][1]
                docs = docs.select(in_schema.names)
                for chunk in slices(docs, max(self.chain.batch_size * 16, 1024)):
                    self._through_chain(ctx, chunk, tallies, docs_writer, rejects_writer)
                    ctx.fault_point()
        except BaseException:
            docs_writer.abort()
            rejects_writer.abort()
            raise
        return {"outputs": {"docs": docs_writer.close(), "rejects": rejects_writer.close()},
                "stages": {name: t.to_json() for name, t in tallies.items()}}


def _reasons(rejects: pa.Table) -> dict[str, int]:
    from curate.run.stage_calls import _value_counts

    return _value_counts(rejects.column("reason"))
