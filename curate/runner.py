"""The runner: the only module that knows Ray.

Plan of a run (one Ray Data stream, one shuffle):
  input files --(read tasks, streaming)--> flowing batches
    --(stage 1 .. n: map_batches; model stages on actor pools)-->
    --(shard = xxh64(id) mod N; groupby shard: sort by id, write data + rejects shards)-->
  shard statistics (a few rows per shard) back to the driver --> ledger + card.
The driver never sees a document: only file names, counters and shard statistics.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from curate.config import PipelineConfig, ResolvedStage
from curate.flow import (
    REJECT_STAGE,
    SHARD,
    documents_of,
    evolve_schema,
    flow_schema,
    rejects_of,
    split_flow,
    to_flow,
)
from curate.readers import InputFile, list_inputs_with_skipped, read_file, sha256_of
from curate.schema import DOCUMENT_SCHEMA, conform
from curate.stages.base import GROUP_KEY, ClusterStage, GroupStage, KeyCountStage

log = logging.getLogger("curate.runner")

READ_STAGE = "read"


class RunError(RuntimeError):
    """The run could not complete, or its ledger does not balance."""


# --------------------------------------------------------------------------- Ray set-up


def ray_environment(embedded: bool) -> dict[str, str]:
    """Environment every Ray process of a run needs on these loopback-only machines."""
    env = {
        "RAY_USAGE_STATS_ENABLED": "0",
        # One explicit auth mode for head, workers and drivers, or joins fail with InvalidAuthToken.
        "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"),
    }
    if embedded:
        # Binds a single-node cluster to 127.0.0.1 instead of the external interface.
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    return env


def init_ray(config: PipelineConfig, address: str | None) -> dict:
    import ray

    embedded = not address
    os.environ.update(ray_environment(embedded))
    if ray.is_initialized():
        mode = "existing"
    elif embedded:
        # address="local": always start a fresh embedded instance; a bare init() would join any
        # cluster a `ray start` on this machine left recorded in /tmp/ray.
        kwargs: dict[str, Any] = {"address": "local", "include_dashboard": False, "log_to_driver": True}
        if config.ray.num_cpus:
            kwargs["num_cpus"] = config.ray.num_cpus
        if config.ray.object_store_mib:
            kwargs["object_store_memory"] = config.ray.object_store_mib * 2**20
        ray.init(**kwargs)
        mode = "embedded"
    else:
        ray.init(address=address)
        mode = "cluster"
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = bool(os.environ.get("CURATE_PROGRESS"))
    ctx.verbose_stats_logs = False
    ctx.shuffle_input_batch_bytes = config.ray.shuffle_map_batch_mib * 2**20
    guard_shuffle_inputs()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return {
        "mode": mode,
        "ray_version": ray.__version__,
        "nodes": len(nodes),
        "cpus": int(sum(n.get("Resources", {}).get("CPU", 0) for n in nodes)),
        "gpus": int(sum(n.get("Resources", {}).get("GPU", 0) for n in nodes)),
    }


def guard_shuffle_inputs() -> bool:
    """Keep row-less blocks out of every hash shuffle (each groupby/map_groups of a run); True once installed.

    Why: Ray Data (2.60, SHUFFLE_V2) types a shuffle map task's empty shards with the schema of
    the task's *first* input block (shuffle_tasks._shuffle_map_task), and a reduce concatenates
    every map task's shard of its partition. A map task led by a 0-row block *without columns*
    therefore gives column-less empty shards, and each partition that also got rows from another
    map task fails: "ArrowInvalid: Schema at index 1 was different: <schema> vs <empty>".
    Such blocks are ordinary Ray output, made without any of our functions: a map task whose
    input holds no rows never calls its UDF (the batcher skips 0-row blocks, batch_size or not)
    and still emits one empty block with no columns. E.g. a shuffle partition no key hashed to
    arrives as a 0-row placeholder after the other partitions, is bundled alone into the next
    map's last task, and comes out column-less; being tiny it is stored inline, has no node, and
    the next shuffle coalesces it into a map task of its own (seen in exact_dedup after lang_id,
    1000-page sample, 17 partitions). So no map or batch size in front of a shuffle can rule them
    out (upstream fix: ray PR 63136, "Defer hash-shuffle schema broadcast to first row-bearing
    block"). Here the shuffle's map operator, in the driver, drops blocks its metadata says hold
    0 rows before coalescing them into map tasks: they add nothing to any partition, so only the
    poisoned schema goes. Aggregations (block_transformer set: sum, count) are left as they are.
    """
    try:
        from ray.data._internal.execution.interfaces import RefBundle
        from ray.data._internal.execution.operators.shuffle_operators.disk_shuffle_map_operator import DiskHashShuffleMapOp
        from ray.data._internal.execution.operators.shuffle_operators.shuffle_map_operator import ShuffleMapOp
    except ImportError:  # another Ray layout: tests/test_empty_blocks_on_ray.py says whether it is needed
        log.warning("Ray's shuffle map operator moved; row-less blocks are not kept out of shuffles")
        return False
    for op_cls in (ShuffleMapOp, DiskHashShuffleMapOp):
        if getattr(op_cls, "_curate_drops_rowless_blocks", False):
            continue
        add_input = op_cls._add_input_inner

        def _add_input_inner(self, refs, input_index, _add_input=add_input):
            if getattr(self, "_block_transformer", None) is None:
                kept = [(b, s) for b, s in zip(refs.blocks, refs.slices) if b.metadata.num_rows != 0]
                if not kept:
                    refs.destroy_if_owned()
                    return
                if len(kept) < len(refs.blocks):
                    refs = RefBundle(tuple(b for b, _ in kept), schema=refs.schema, owns_blocks=refs.owns_blocks,
                                     slices=tuple(s for _, s in kept))
            _add_input(self, refs, input_index)

        op_cls._add_input_inner = _add_input_inner
        op_cls._curate_drops_rowless_blocks = True
    return True


def _run_stats_actor():
    import ray

    @ray.remote(num_cpus=0)
    class RunStats:
        """Collects counters from workers. Ledger numbers come from the files, not from here;
        these counts are the independent side the ledger is checked against."""

        def __init__(self):
            self.stages: dict[str, dict] = defaultdict(
                lambda: {"rows_in": 0, "kept": 0, "rejected": 0, "busy_s": 0.0, "batches": 0, "counters": defaultdict(float)}
            )
            self.files: list[dict] = []
            self.top: dict[str, list[dict]] = {}
            self.histograms: dict[str, dict[str, list[int]]] = defaultdict(dict)  # stage -> score column -> bin counts

        def add_top(self, name: str, rows: list[dict], limit: int):
            """Keep the ``limit`` most common keys a key-count stage reported, ties by key."""
            merged = self.top.get(name, []) + rows
            self.top[name] = sorted(merged, key=lambda r: (-r["documents"], r["key"]))[:limit]

        def add_stage(self, name: str, rows_in: int, kept: int, rejected: int, busy_s: float, counters: dict, histograms: dict | None = None):
            for column, counts in (histograms or {}).items():
                total = self.histograms[name].setdefault(column, [0] * len(counts))
                self.histograms[name][column] = [a + b for a, b in zip(total, counts)]
            s = self.stages[name]
            s["rows_in"] += rows_in
            s["kept"] += kept
            s["rejected"] += rejected
            s["busy_s"] += busy_s
            s["batches"] += 1
            for key, value in counters.items():
                s["counters"][key] += value

        def add_busy(self, name: str, busy_s: float):
            """Time a stage spends outside process() (e.g. computing group keys)."""
            self.stages[name]["busy_s"] += busy_s

        def add_counters(self, name: str, counters: dict):
            for key, value in counters.items():
                self.stages[name]["counters"][key] += value

        def add_file(self, record: dict):
            self.files.append(record)

        def snapshot(self) -> dict:
            return {
                "stages": {k: {**v, "counters": dict(v["counters"])} for k, v in self.stages.items()},
                "files": sorted(self.files, key=lambda r: r["source"]),
                "top": dict(self.top),
                "histograms": {k: dict(v) for k, v in self.histograms.items()},
            }

    return RunStats.remote()


# --------------------------------------------------------------------------- Ray Data UDFs


def _ready_stage(udf):
    """The UDF's stage, built and set up on first use in this worker process (models load once)."""
    if udf._stage is None:
        udf._stage = udf.resolved.build()
        udf._stage.ensure_setup()
    return udf._stage


class ReadFiles:
    """Read task: one input file per call, streamed out as flowing batches."""

    def __init__(self, batch_size: int, stats):
        self.batch_size = batch_size
        self.stats = stats

    def __call__(self, files: pa.Table) -> Iterator[pa.Table]:
        import ray

        schema = DOCUMENT_SCHEMA
        for row in files.to_pylist():
            f = InputFile(uri=row["uri"], source=row["source"], size=row["size"], format=row["format"])
            started = time.perf_counter()
            digest = sha256_of(f)
            counters: dict[str, float] = defaultdict(float)
            documents = rejects = 0
            for out in read_file(f, batch_size=self.batch_size):
                documents += out.kept.num_rows
                rejects += out.rejected.num_rows
                for key, value in out.counters.items():
                    counters[key] += value
                flowing = to_flow(out.kept, out.rejected, schema)
                if flowing.num_rows:
                    yield flowing
            busy = time.perf_counter() - started
            ray.get(self.stats.add_stage.remote(READ_STAGE, documents + rejects, documents, rejects, busy, dict(counters)))
            ray.get(
                self.stats.add_file.remote(
                    {"source": f.source, "format": f.format, "bytes": f.size, "sha256": digest, "documents": documents, "rejects": rejects}
                )
            )


class _StageCall:
    """Runs one stage over a flowing batch; rows rejected earlier pass through untouched."""

    def __init__(self, resolved: ResolvedStage, in_schema: pa.Schema, out_schema: pa.Schema, stats):
        self.resolved = resolved
        self.in_schema = in_schema
        self.out_schema = out_schema
        self.stats = stats
        self._stage = None
        self.__name__ = resolved.cls.__name__  # Ray Data names operators after their function

    def __call__(self, batch: pa.Table) -> pa.Table:
        import ray

        stage = _ready_stage(self)
        alive, rejected_before = split_flow(batch)
        started = time.perf_counter()
        out = self._process(stage, documents_of(alive, self.in_schema)) if alive.num_rows else None
        busy = time.perf_counter() - started
        parts = []
        kept_n = rejected_n = 0
        if out is not None:
            kept_n, rejected_n = out.kept.num_rows, out.rejected.num_rows
            # The contract: every document comes out kept or rejected — nothing vanishes.
            if kept_n + rejected_n != alive.num_rows:
                raise RunError(
                    f"stage {stage.name!r} returned {kept_n} kept + {rejected_n} rejected rows "
                    f"for {alive.num_rows} documents in; a stage must account for every document"
                )
            parts.append(to_flow(out.kept, out.rejected, self.out_schema))
        if rejected_before.num_rows:
            parts.append(conform(rejected_before, flow_schema(self.out_schema)))
        ray.get(
            self.stats.add_stage.remote(
                stage.name, alive.num_rows, kept_n, rejected_n, busy, dict(out.counters) if out else {},
                dict(out.histograms) if out else {},
            )
        )
        if not parts:
            return flow_schema(self.out_schema).empty_table()
        return pa.concat_tables(parts)

    def _process(self, stage, documents: pa.Table):
        return stage.process(documents)


class StageActor(_StageCall):
    """Same as _StageCall, on an actor pool: the model is loaded once, in the constructor."""

    def __init__(self, resolved: ResolvedStage, in_schema: pa.Schema, out_schema: pa.Schema, stats):
        super().__init__(resolved, in_schema, out_schema, stats)
        _ready_stage(self)


class StageChainActor:
    """Consecutive CPU model stages in one actor pool: each stage's model is loaded once per actor,
    and the batch goes through them in order (rows one stage rejects pass the next untouched).

    Why: an actor pool holds its CPUs for the whole run, so three fastText students as three pools
    need three CPUs reserved at once, and on a 2-CPU machine Ray Data waits forever for the third.
    Chained, they need what the largest of them needs. Counters, busy time and rejects stay per stage.
    """

    def __init__(self, members: list[tuple[ResolvedStage, pa.Schema, pa.Schema]], stats):
        self.calls = [StageActor(resolved, in_schema, out_schema, stats) for resolved, in_schema, out_schema in members]
        self.__name__ = "+".join(call.__name__ for call in self.calls)

    def __call__(self, batch: pa.Table) -> pa.Table:
        for call in self.calls:
            batch = call(batch)
        return batch


def actor_chains(stages) -> dict[int, list[int]]:
    """Runs of two or more consecutive actor-pool stages without GPUs: first index -> the run's
    indices, and every other index of the run -> [] (it runs inside the first one's actor)."""
    chains: dict[int, list[int]] = {}
    run: list[int] = []

    def close():
        if len(run) > 1:
            chains[run[0]] = list(run)
            chains.update({i: [] for i in run[1:]})
        run.clear()

    for index, resolved in enumerate(stages):
        on_actors, _, num_gpus = resolved.placement
        plain = not issubclass(resolved.cls, (ClusterStage, KeyCountStage, GroupStage))
        if on_actors and not num_gpus and plain:
            run.append(index)
        else:
            close()
    close()
    return chains


PARTITION = "__partition"


def _id_partitions(ids: list[str], num_partitions: int) -> np.ndarray:
    """Partition of each document id in a shuffle by id: xxh64, stable across processes and
    machines (Python's hash() is salted)."""
    return np.fromiter((xxhash.xxh64_intdigest(i.encode("utf-8")) % num_partitions for i in ids), dtype=np.int32, count=len(ids))


class AddGroupKey:
    """Before a global step: each live document gets its stage's group key and the partition
    (xxh64 of the key) it will be decided in; rows rejected earlier are spread by id."""

    def __init__(self, resolved: ResolvedStage, in_schema: pa.Schema, num_partitions: int, stats):
        self.resolved = resolved
        self.in_schema = in_schema
        self.num_partitions = num_partitions
        self.stats = stats
        self._stage = None

    def __call__(self, batch: pa.Table) -> pa.Table:
        import ray

        started = time.perf_counter()
        _ready_stage(self)
        rejected = pc.is_valid(batch.column(REJECT_STAGE)).to_pylist()
        alive = batch.filter(pc.invert(pc.is_valid(batch.column(REJECT_STAGE))))
        alive_keys = iter(self._stage.group_key(documents_of(alive, self.in_schema)).to_pylist()) if alive.num_rows else iter(())
        ids = batch.column("id").to_pylist()
        keys, parts = [], []
        for row_id, was_rejected in zip(ids, rejected):
            key = None if was_rejected else next(alive_keys)
            keys.append(key)
            parts.append(xxhash.xxh64_intdigest((row_id if key is None else key).encode("utf-8")) % self.num_partitions)
        batch = batch.append_column(GROUP_KEY, pa.array(keys, pa.string()))
        batch = batch.append_column(PARTITION, pa.array(parts, pa.int32()))
        ray.get(self.stats.add_busy.remote(self._stage.name, time.perf_counter() - started))
        return batch


# --------------------------------------------------------------------------- cluster stages

LINK_KEY = "__link_key"


class EmitLinks:
    """Cluster stage, pass 1: one row per (document, bucket key) with what verification needs."""

    def __init__(self, resolved: ResolvedStage, in_schema: pa.Schema, num_partitions: int, stats):
        self.resolved, self.in_schema, self.num_partitions, self.stats = resolved, in_schema, num_partitions, stats
        self._stage = None

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pickle

        import ray

        started = time.perf_counter()
        _ready_stage(self)
        alive, _ = split_flow(batch)
        docs = documents_of(alive, self.in_schema)
        keys, nodes, payloads, ranks, parts = [], [], [], [], []
        if docs.num_rows:
            ids = docs.column("id").to_pylist()
            doc_keys = self._stage.link_keys(docs)
            doc_payloads = self._stage.payload(docs)
            doc_ranks = [pickle.dumps(r) for r in self._stage.rank(docs)]
            for doc_id, its_keys, payload, rank in zip(ids, doc_keys, doc_payloads, doc_ranks):
                for key in its_keys:
                    keys.append(key)
                    nodes.append(doc_id)
                    payloads.append(payload)
                    ranks.append(rank)
                    parts.append(key % self.num_partitions)
        ray.get(self.stats.add_busy.remote(self._stage.name, time.perf_counter() - started))
        return pa.table({
            LINK_KEY: pa.array(keys, pa.uint64()), "node": pa.array(nodes, pa.string()),
            "payload": pa.array(payloads, pa.binary()), "rank": pa.array(ranks, pa.binary()),
            PARTITION: pa.array(parts, pa.int32()),
        })


class EmitEdges:
    """Cluster stage, pass 2: inside each bucket, candidate pairs that pass ``verify`` become edges;
    pairs ``verify`` cannot decide come out marked ``undecided`` for the exact check.

    Buckets of up to ``max_pairwise`` documents are checked pair by pair; larger ones (rare:
    boilerplate-heavy templates) are checked against the bucket's first document only, which still
    links every verified member into one component.
    """

    def __init__(self, resolved: ResolvedStage, stats, max_pairwise: int = 64):
        self.resolved, self.stats, self.max_pairwise = resolved, stats, max_pairwise
        self._stage = None
        self.__name__ = "EmitEdges"

    def __call__(self, partition: pa.Table) -> pa.Table:
        import ray

        started = time.perf_counter()
        _ready_stage(self)
        order = pc.sort_indices(partition, sort_keys=[(LINK_KEY, "ascending"), ("node", "ascending")])
        rows = partition.take(order).select([LINK_KEY, "node", "payload", "rank"]).to_pylist()
        edges: dict[tuple[str, str], tuple[bytes, bytes, bool]] = {}
        checked: set[tuple[str, str]] = set()
        start = 0
        while start < len(rows):
            end = start
            while end < len(rows) and rows[end][LINK_KEY] == rows[start][LINK_KEY]:
                end += 1
            bucket = rows[start:end]
            if len(bucket) > 1:
                pairs = ((i, j) for i in range(len(bucket)) for j in range(i + 1, len(bucket))) if len(bucket) <= self.max_pairwise else ((0, j) for j in range(1, len(bucket)))
                for i, j in pairs:
                    a, b = bucket[i], bucket[j]
                    pair = (a["node"], b["node"])
                    if pair[0] == pair[1] or pair in checked:
                        continue
                    checked.add(pair)
                    verdict = self._stage.verify(a["payload"], b["payload"])
                    if verdict is not False:
                        edges[pair] = (a["rank"], b["rank"], verdict is None)
            start = end
        undecided = sum(1 for e in edges.values() if e[2])
        ray.get(self.stats.add_busy.remote(self._stage.name, time.perf_counter() - started))
        ray.get(self.stats.add_counters.remote(self._stage.name, {
            "candidate_pairs": len(checked), "verified_pairs": len(edges) - undecided, "pairs_checked_exactly": undecided,
        }))
        return pa.table({
            "a": pa.array([k[0] for k in edges], pa.string()), "b": pa.array([k[1] for k in edges], pa.string()),
            "rank_a": pa.array([v[0] for v in edges.values()], pa.binary()), "rank_b": pa.array([v[1] for v in edges.values()], pa.binary()),
            UNDECIDED: pa.array([v[2] for v in edges.values()], pa.bool_()),
        })


UNDECIDED = "__undecided"
# Exact check of undecided pairs: documents' exact payloads and pairs travel in one schema; a row
# with ``id`` set is a document's payload, a row with ``a`` set is a pair.
EXACT_SCHEMA = pa.schema([
    ("id", pa.string()), ("exact", pa.binary()),
    ("a", pa.string()), ("b", pa.string()), ("rank_a", pa.binary()), ("rank_b", pa.binary()), ("exact_a", pa.binary()),
    (PARTITION, pa.int32()),
])


class SelectEdges:
    """The edges ``verify`` decided (``undecided=False``) or the ones it left open (True)."""

    def __init__(self, undecided: bool):
        self.undecided = undecided

    def __call__(self, edges: pa.Table) -> pa.Table:
        mask = edges.column(UNDECIDED)
        return edges.filter(mask if self.undecided else pc.invert(mask)).drop_columns([UNDECIDED])


class ExactPayloads:
    """Exact check, inputs: one row per live document with its exact payload, keyed by id."""

    def __init__(self, resolved: ResolvedStage, in_schema: pa.Schema, num_partitions: int, stats):
        self.resolved, self.in_schema, self.num_partitions, self.stats = resolved, in_schema, num_partitions, stats
        self._stage = None

    def __call__(self, batch: pa.Table) -> pa.Table:
        import ray

        started = time.perf_counter()
        stage = _ready_stage(self)
        docs = documents_of(split_flow(batch)[0], self.in_schema)
        ids = docs.column("id").to_pylist()
        payloads = stage.exact_payload(docs) if ids else []
        ray.get(self.stats.add_busy.remote(stage.name, time.perf_counter() - started))
        table = pa.table({"id": pa.array(ids, pa.string()), "exact": pa.array(payloads, pa.binary()),
                          PARTITION: pa.array(_id_partitions(ids, self.num_partitions), pa.int32())})
        return conform(table, EXACT_SCHEMA)


class PairsByFirst:
    """Exact check: undecided pairs keyed by their first document's id."""

    def __init__(self, num_partitions: int):
        self.num_partitions = num_partitions

    def __call__(self, pairs: pa.Table) -> pa.Table:
        parts = _id_partitions(pairs.column("a").to_pylist(), self.num_partitions)
        return conform(pairs.append_column(PARTITION, pa.array(parts, pa.int32())), EXACT_SCHEMA)


class AttachFirstPayload:
    """Exact check, shuffle 1: each pair picks up document a's payload, then goes to b's partition."""

    def __init__(self, num_partitions: int):
        self.num_partitions = num_partitions
        self.__name__ = "AttachFirstPayload"

    def __call__(self, partition: pa.Table) -> pa.Table:
        is_pair = pc.is_valid(partition.column("a"))
        docs, pairs = partition.filter(pc.invert(is_pair)), partition.filter(is_pair)
        payload = dict(zip(docs.column("id").to_pylist(), docs.column("exact").to_pylist()))
        exact_a = pa.array([payload[a] for a in pairs.column("a").to_pylist()], pa.binary())
        parts = pa.array(_id_partitions(pairs.column("b").to_pylist(), self.num_partitions), pa.int32())
        pairs = pairs.set_column(pairs.schema.get_field_index("exact_a"), "exact_a", exact_a)
        return pairs.set_column(pairs.schema.get_field_index(PARTITION), PARTITION, parts)


class VerifyExactly:
    """Exact check, shuffle 2: with b's payload beside a's, ``verify_exact`` decides the pair."""

    def __init__(self, resolved: ResolvedStage, stats):
        self.resolved, self.stats = resolved, stats
        self._stage = None
        self.__name__ = "VerifyExactly"

    def __call__(self, partition: pa.Table) -> pa.Table:
        import ray

        started = time.perf_counter()
        stage = _ready_stage(self)
        is_pair = pc.is_valid(partition.column("a"))
        docs, pairs = partition.filter(pc.invert(is_pair)), partition.filter(is_pair)
        payload = dict(zip(docs.column("id").to_pylist(), docs.column("exact").to_pylist()))
        keep = [stage.verify_exact(ea, payload[b]) for ea, b in zip(pairs.column("exact_a").to_pylist(), pairs.column("b").to_pylist())]
        ray.get(self.stats.add_busy.remote(stage.name, time.perf_counter() - started))
        ray.get(self.stats.add_counters.remote(stage.name, {"verified_pairs": sum(keep)}))
        return pairs.filter(pa.array(keep, pa.bool_())).select(["a", "b", "rank_a", "rank_b"])


class SendEdges:
    def __init__(self, components):
        self.components = components

    def __call__(self, edges: pa.Table) -> pa.Table:
        import ray

        if edges.num_rows:
            ray.get(self.components.add.remote(edges.to_pydict()))
        return pa.table({"edges": [edges.num_rows]})


def _components_actor():
    import ray

    @ray.remote(num_cpus=0)
    class Components:
        """Union-find over dense integer indices of the documents that have a verified edge.

        A linked document costs one ``id -> index`` dict entry (its id string is shared with the
        ``ids`` list) and 8 bytes of ``parent``: about 120 B for 16-character ids. Survivor ranks are
        kept per component (the best rank of each root), not per document. Documents without a
        verified edge cost nothing. It is the one structure of fuzzy dedup that grows with the
        corpus (with its duplicates) and lives in one process: ~12 GB at 10^8 linked documents,
        where a distributed connected-components pass (e.g. large-star/small-star) would take over.
        """

        def __init__(self):
            from array import array

            self.index: dict[str, int] = {}
            self.ids: list[str] = []
            self.parent = array("q")
            self.best: dict[int, tuple] = {}  # root index -> (rank, id) of its best member

        def _node(self, doc_id: str, rank: bytes) -> int:
            import pickle

            i = self.index.get(doc_id)
            if i is None:
                i = self.index[doc_id] = len(self.ids)
                self.ids.append(doc_id)
                self.parent.append(i)
                self.best[i] = (pickle.loads(rank), doc_id)
            return i

        def _find(self, x: int) -> int:
            parent = self.parent
            root = x
            while parent[root] != root:
                root = parent[root]
            while parent[x] != root:  # path compression
                parent[x], x = root, parent[x]
            return root

        def add(self, edges: dict) -> None:
            for a, b, ra, rb in zip(edges["a"], edges["b"], edges["rank_a"], edges["rank_b"]):
                root_a, root_b = self._find(self._node(a, ra)), self._find(self._node(b, rb))
                if root_a != root_b:
                    # The lower index becomes the root; the survivor is decided by rank, so the
                    # result does not depend on the order edges arrive in.
                    low, high = sorted((root_a, root_b))
                    self.parent[high] = low
                    self.best[low] = min(self.best[low], self.best.pop(high))

        def finalize(self) -> dict:
            import numpy as np

            roots = np.fromiter((self._find(i) for i in range(len(self.ids))), dtype=np.int64, count=len(self.ids))
            sizes = np.bincount(roots)[np.unique(roots)] if len(roots) else np.empty(0, dtype=np.int64)
            histogram = {int(k): int(v) for k, v in zip(*np.unique(sizes, return_counts=True))}
            return {"clusters": int(len(sizes)), "documents_in_clusters": len(self.ids), "cluster_sizes": histogram}

        def lookup(self, nodes: list[str]) -> list[str | None]:
            out: list[str | None] = []
            for doc_id in nodes:
                i = self.index.get(doc_id)
                out.append(None if i is None else self.best[self._find(i)][1])
            return out

    return Components.remote()


class ApplyClusters:
    """Cluster stage, last pass: every linked document that is not its component's survivor is rejected."""

    def __init__(self, resolved: ResolvedStage, in_schema: pa.Schema, out_schema: pa.Schema, stats, components):
        self.resolved, self.in_schema, self.out_schema, self.stats, self.components = resolved, in_schema, out_schema, stats, components

    def __call__(self, batch: pa.Table) -> pa.Table:
        import ray

        cls = self.resolved.cls
        started = time.perf_counter()
        alive, rejected_before = split_flow(batch)
        docs = documents_of(alive, self.in_schema)
        ids = docs.column("id").to_pylist()
        survivors = ray.get(self.components.lookup.remote(ids)) if ids else []
        keep = [s is None or s == i for i, s in zip(ids, survivors)]
        stage = cls(self.resolved.params)
        kept, rejected = stage.split(
            docs, keep, [None if k else cls.reason for k in keep], [None if k else f"survivor={s}" for k, s in zip(keep, survivors)]
        )
        ray.get(self.stats.add_stage.remote(cls.name, docs.num_rows, kept.num_rows, rejected.num_rows, time.perf_counter() - started, {}))
        parts = [to_flow(kept, rejected, self.out_schema)]
        if rejected_before.num_rows:
            parts.append(conform(rejected_before, flow_schema(self.out_schema)))
        return pa.concat_tables(parts)


# --------------------------------------------------------------------------- key-count stages

COUNT_KEY = "__count_key"
ID_PARTITION = "__id_partition"
FREQUENT_KEY = "__frequent_key"


def key_count_schema(in_schema: pa.Schema) -> pa.Schema:
    """Documents and (document, frequent key) rows travel together to the apply pass in this schema;
    a row with ``FREQUENT_KEY`` set is a key for the document ``id``, not a document."""
    return flow_schema(in_schema).append(pa.field(PARTITION, pa.int32())).append(pa.field(FREQUENT_KEY, pa.uint64()))


class CountLive:
    """How many documents are still alive (sizes a key-count stage's buckets)."""

    def __call__(self, batch: pa.Table) -> pa.Table:
        # Live rows are those no stage has marked rejected.
        return pa.table({"live": [batch.column(REJECT_STAGE).null_count]})


class EmitCountKeys:
    """Key-count stage, pass 1: one row per (document, distinct key), partitioned by key."""

    def __init__(self, resolved: ResolvedStage, in_schema: pa.Schema, documents: int, num_partitions: int, stats):
        self.resolved, self.in_schema, self.documents, self.num_partitions, self.stats = resolved, in_schema, documents, num_partitions, stats
        self._stage = None

    def __call__(self, batch: pa.Table) -> pa.Table:
        import ray

        started = time.perf_counter()
        stage = _ready_stage(self)
        stage.plan(self.documents)
        alive, _ = split_flow(batch)
        docs = documents_of(alive, self.in_schema)
        keys_per_doc = stage.document_keys(docs) if docs.num_rows else []
        lengths = np.fromiter((len(k) for k in keys_per_doc), dtype=np.int64, count=len(keys_per_doc))
        keys = np.fromiter((k for doc_keys in keys_per_doc for k in doc_keys), dtype=np.uint64, count=int(lengths.sum()))
        owner = np.repeat(np.arange(len(keys_per_doc)), lengths)
        ids = docs.column("id").combine_chunks() if docs.num_rows else pa.array([], pa.string())
        id_parts = _id_partitions(ids.to_pylist(), self.num_partitions)
        ray.get(self.stats.add_busy.remote(stage.name, time.perf_counter() - started))
        return pa.table({
            COUNT_KEY: pa.array(keys, pa.uint64()),
            "id": ids.take(pa.array(owner, pa.int64())),
            ID_PARTITION: pa.array(id_parts[owner], pa.int32()),
            PARTITION: pa.array((keys % np.uint64(self.num_partitions)).astype(np.int32), pa.int32()),
        })


class CountKeys:
    """Key-count stage, pass 2: inside each key partition, the documents per key; the (document,
    key) rows of frequent keys go on to their documents' partitions."""

    def __init__(self, resolved: ResolvedStage, union_schema: pa.Schema, stats):
        self.resolved, self.union_schema, self.stats = resolved, union_schema, stats
        self._stage = None
        self.__name__ = "CountKeys"

    def __call__(self, partition: pa.Table) -> pa.Table:
        import ray

        started = time.perf_counter()
        stage = _ready_stage(self)
        keys = partition.column(COUNT_KEY)
        counts = pc.value_counts(keys)
        values, documents = counts.field("values"), counts.field("counts")
        is_frequent = pc.greater(documents, stage.max_documents)
        frequent_values, frequent_counts = values.filter(is_frequent), documents.filter(is_frequent)
        rows = partition.filter(pc.is_in(keys, value_set=frequent_values))
        top = sorted(zip(frequent_counts.to_pylist(), frequent_values.to_pylist()), key=lambda r: (-r[0], r[1]))[: stage.report_top]
        if top:
            top_keys = {k for _, k in top}
            example: dict[int, str] = {}
            for key, doc_id in zip(rows.column(COUNT_KEY).to_pylist(), rows.column("id").to_pylist()):
                if key in top_keys and (key not in example or doc_id < example[key]):
                    example[key] = doc_id
            report = [{"key": f"{k:016x}", "documents": n, "example_document": example[k]} for n, k in top]
            ray.get(self.stats.add_top.remote(stage.name, report, stage.report_top))
        ray.get(self.stats.add_busy.remote(stage.name, time.perf_counter() - started))
        ray.get(self.stats.add_counters.remote(stage.name, {
            "key_occurrences": partition.num_rows, "distinct_keys": len(values),
            "frequent_keys": len(frequent_values), "frequent_key_occurrences": rows.num_rows,
        }))
        return conform(
            pa.table({"id": rows.column("id"), PARTITION: rows.column(ID_PARTITION), FREQUENT_KEY: rows.column(COUNT_KEY)}),
            self.union_schema,
        )


class PartitionById:
    """Key-count stage: documents (and rows rejected earlier) keyed for the apply shuffle."""

    def __init__(self, union_schema: pa.Schema, num_partitions: int):
        self.union_schema, self.num_partitions = union_schema, num_partitions

    def __call__(self, batch: pa.Table) -> pa.Table:
        parts = _id_partitions(batch.column("id").to_pylist(), self.num_partitions)
        return conform(batch.append_column(PARTITION, pa.array(parts, pa.int32())), self.union_schema)


class ApplyKeyCounts(_StageCall):
    """Key-count stage, last pass: each partition holds whole documents and their frequent keys."""

    def __init__(self, resolved: ResolvedStage, in_schema: pa.Schema, out_schema: pa.Schema, documents: int, stats):
        super().__init__(resolved, in_schema, out_schema, stats)
        self.documents = documents
        self._frequent: dict[str, set[int]] = {}
        self.__name__ = "ApplyKeyCounts"

    def __call__(self, partition: pa.Table) -> pa.Table:
        is_key = pc.is_valid(partition.column(FREQUENT_KEY))
        keys = partition.filter(is_key)
        self._frequent = defaultdict(set)
        for doc_id, key in zip(keys.column("id").to_pylist(), keys.column(FREQUENT_KEY).to_pylist()):
            self._frequent[doc_id].add(key)
        try:
            return super().__call__(partition.filter(pc.invert(is_key)))
        finally:
            self._frequent = {}

    def _process(self, stage, documents: pa.Table):
        stage.plan(self.documents)
        empty: set[int] = set()
        return stage.apply(documents, [self._frequent.get(i, empty) for i in documents.column("id").to_pylist()])


class AssignShard:
    def __init__(self, num_shards: int):
        self.num_shards = num_shards

    def __call__(self, batch: pa.Table) -> pa.Table:
        shards = _id_partitions(batch.column("id").to_pylist(), self.num_shards)
        return batch.append_column(SHARD, pa.array(shards, type=pa.int32()))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys])
    return table.take(order)


SHARD_STATS_SCHEMA = pa.schema(
    [("kind", pa.string()), ("path", pa.string()), ("rows", pa.int64()), ("bytes", pa.int64()), ("sha256", pa.string()), ("reasons", pa.string())]
)


def reason_counts(rejects: pa.Table) -> dict[str, int]:
    """{"stage/reason": rows} of a REJECT_SCHEMA table."""
    keys = pc.binary_join_element_wise(rejects.column("stage"), rejects.column("reason"), "/")
    counts = pc.value_counts(keys)
    return {c["values"].as_py(): c["counts"].as_py() for c in counts}


class ShardWriter:
    """Writes one shard: kept documents to data/, reject rows to rejects/, sorted by id.

    Sorting by id inside a shard chosen by hash(id) makes the bytes independent of how many
    nodes ran the job and in which order batches arrived.
    """

    def __init__(self, out_dir: str, document_schema: pa.Schema, num_shards: int, output: dict):
        self.out_dir = out_dir
        self.document_schema = document_schema
        self.num_shards = num_shards
        self.output = output
        self.__name__ = "ShardWriter"  # Ray Data names the map_groups operator after its function

    def _write(self, table: pa.Table, kind: str, shard: int) -> dict:
        name = f"part-{shard:05d}-of-{self.num_shards:05d}.parquet"
        directory = Path(self.out_dir) / kind
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / name
        tmp = directory / f".{name}.tmp"
        compression = self.output["compression"]
        pq.write_table(
            table,
            tmp,
            compression=None if compression == "none" else compression,
            compression_level=self.output["compression_level"] if compression in ("zstd", "gzip") else None,
            row_group_size=self.output["row_group_rows"],
        )
        os.replace(tmp, final)
        return {"kind": kind, "path": f"{kind}/{name}", "rows": table.num_rows, "bytes": final.stat().st_size, "sha256": sha256_file(final)}

    def __call__(self, group: pa.Table) -> pa.Table:
        shard = int(group.column(SHARD)[0].as_py())
        alive, rejected = split_flow(group)
        records = []
        if alive.num_rows:
            docs = _sorted(documents_of(alive, self.document_schema), ["id", "source", "url"])
            records.append(self._write(docs, "data", shard))
        if rejected.num_rows:
            rej = _sorted(rejects_of(rejected), ["id", "stage", "reason", "source"])
            record = self._write(rej, "rejects", shard)
            record["reasons"] = json.dumps(reason_counts(rej), sort_keys=True)
            records.append(record)
        return pa.Table.from_pylist(records, schema=SHARD_STATS_SCHEMA)


# --------------------------------------------------------------------------- the mix
#
# After the curated corpus is written, the mix reads it back from data/ (one read task per data
# shard), counts tokens and assigns buckets (pass 1, materialised), sums token histograms per
# stratum in a small actor, lets the driver plan exact per-stratum thresholds from those sums
# (curate/mix/plan.py; a refinement pass over the small key columns when a boundary bin is
# coarse), then expands every document to its copies and shuffles them into mix shards by a
# seeded hash (pass 2). The driver holds only per-stratum numbers and per-shard statistics.


def _mix_stats_actor():
    import ray

    @ray.remote(num_cpus=0)
    class MixStats:
        """Sums the mix's sparse token histograms (per level and stratum) and its counts."""

        def __init__(self):
            self.hist: dict[tuple[int, int], dict[int, list[int]]] = defaultdict(dict)
            self.counts: dict[str, int] = defaultdict(int)

        def add(self, level: int, sparse: dict, counts: dict | None = None):
            for stratum, (bins, tokens, docs) in sparse.items():
                h = self.hist[(level, int(stratum))]
                for b, t, d in zip(bins, tokens, docs):
                    cell = h.setdefault(int(b), [0, 0])
                    cell[0] += int(t)
                    cell[1] += int(d)
            for key, value in (counts or {}).items():
                self.counts[key] += int(value)

        def level(self, level: int) -> dict:
            return {s: dict(h) for (lv, s), h in self.hist.items() if lv == level}

        def totals(self) -> dict:
            return dict(self.counts)

    return MixStats.remote()


class MixAnnotate:
    """Mix pass 1: reads data shards, adds tokens / bucket / stratum / key, and reports the
    top-level token histogram of every stratum."""

    def __init__(self, out_dir: str, mix, tokenizer_path: str, seed: int, document_schema: pa.Schema, batch_size: int, stats):
        self.out_dir, self.mix, self.tokenizer_path, self.seed = out_dir, mix, tokenizer_path, seed
        self.document_schema, self.batch_size, self.stats = document_schema, batch_size, stats
        self._annotator = None

    def __call__(self, files: pa.Table) -> Iterator[pa.Table]:
        import ray

        from curate.mix.plan import histogram, top_window
        from curate.mix.rules import NO_STRATUM, strata_of
        from curate.mix.select import KEY, STRATUM, Annotator

        if self._annotator is None:
            self._annotator = Annotator(self.mix, self.tokenizer_path, self.seed)
        windows = {s.index: top_window().as_tuple() for s in strata_of(self.mix)}
        for path in files.column("path").to_pylist():
            for batch in pq.ParquetFile(Path(self.out_dir) / path).iter_batches(batch_size=self.batch_size):
                started = time.perf_counter()
                table = self._annotator.annotate(conform(pa.Table.from_batches([batch]), self.document_schema))
                strata = table.column(STRATUM).to_numpy()
                tokens = table.column("tokens").to_numpy()
                sparse = histogram(strata, table.column(KEY).to_numpy(), tokens, windows)
                unbucketed = strata == NO_STRATUM
                counts = {"documents": table.num_rows, "tokens": int(tokens.sum()), "unbucketed_documents": int(unbucketed.sum()),
                          "unbucketed_tokens": int(tokens[unbucketed].sum()),
                          "busy_us": int((time.perf_counter() - started) * 1e6)}
                ray.get(self.stats.add.remote(0, sparse, counts))
                yield table


class MixHistogram:
    """Mix refinement pass: token histograms over each unfinished stratum's narrowed key window."""

    def __init__(self, windows: dict, level: int, stats):
        self.windows, self.level, self.stats = windows, level, stats

    def __call__(self, batch: pa.Table) -> pa.Table:
        import ray

        from curate.mix.plan import histogram
        from curate.mix.select import KEY, STRATUM

        sparse = histogram(batch.column(STRATUM).to_numpy(), batch.column(KEY).to_numpy(), batch.column("tokens").to_numpy(), self.windows)
        ray.get(self.stats.add.remote(self.level, sparse))
        return pa.table({"rows": [batch.num_rows]})


class MixExpand:
    """Mix pass 2: each document's copies (with shuffle key and shard) or its ledger line."""

    def __init__(self, mix, selection: dict, num_shards: int, seed: int, document_schema: pa.Schema):
        self.mix, self.selection, self.num_shards, self.seed, self.document_schema = mix, selection, num_shards, seed, document_schema

    def __call__(self, batch: pa.Table) -> pa.Table:
        from curate.mix.select import expand

        return expand(batch, self.mix, self.selection, self.num_shards, self.seed, self.document_schema)


MIX_SHARD_STATS_SCHEMA = pa.schema([("kind", pa.string()), ("record", pa.string())])


class MixShardWriter:
    """Writes one mix shard (rows in shuffle-key order, optional token arrays) and its ledger lines."""

    def __init__(self, out_dir: str, mix, tokenizer_path: str, document_schema: pa.Schema, num_shards: int, output: dict):
        self.out_dir, self.mix, self.tokenizer_path = out_dir, mix, tokenizer_path
        self.document_schema, self.num_shards, self.output = document_schema, num_shards, output
        self.__name__ = "MixShardWriter"

    def __call__(self, group: pa.Table) -> pa.Table:
        from curate.mix.select import LEDGER_REASON, ORDER, SHARD as MIX_SHARD, ledger_rows, mix_schema
        from curate.mix.tokens import TokenCounter
        from curate.mix.write import shard_name, shard_summary, write_megatron, write_npy, write_parquet

        shard = int(group.column(MIX_SHARD)[0].as_py())
        name = shard_name(shard, self.num_shards)
        out = Path(self.out_dir)
        is_ledger = pc.is_valid(group.column(LEDGER_REASON))
        rows, ledger = group.filter(pc.invert(is_ledger)), group.filter(is_ledger)
        records = []
        if rows.num_rows:
            rows = _sorted(rows, [ORDER, "id", "mix_copy"])
            table = conform(rows, mix_schema(self.document_schema))
            record = {"path": f"mix/data/{name}.parquet", **write_parquet(table, out / "mix" / "data" / f"{name}.parquet", self.output),
                      **shard_summary(table)}
            if self.mix.tokenized != "none":
                counter = TokenCounter(self.tokenizer_path)
                sequences = counter.encode(table.column("text").to_pylist())
                if [len(s) for s in sequences] != table.column("tokens").to_pylist():
                    raise RunError(f"mix shard {name}: re-tokenised lengths differ from the token counts")
                prefix = out / "mix" / "tokens" / name
                if self.mix.tokenized == "megatron":
                    files = write_megatron(prefix, sequences, counter.vocab_size)
                else:
                    files = write_npy(prefix.with_name(name + ".npy"), sequences)
                arrays = {"format": self.mix.tokenized, "prefix": f"mix/tokens/{name}"}
                for kind, f in files.items():
                    arrays[kind] = {"path": Path(f["path"]).relative_to(out).as_posix(), "bytes": f["bytes"], "sha256": f["sha256"]}
                record["arrays"] = arrays
            records.append({"kind": "shard", "record": json.dumps(record)})
        if ledger.num_rows:
            lines = _sorted(ledger_rows(ledger), ["id"])
            record = {"path": f"mix/not_selected/{name}.parquet", "rows": lines.num_rows,
                      **write_parquet(lines, out / "mix" / "not_selected" / f"{name}.parquet", self.output)}
            records.append({"kind": "not_selected", "record": json.dumps(record)})
        return pa.Table.from_pylist(records, schema=MIX_SHARD_STATS_SCHEMA)


def run_mix(config: PipelineConfig, out_dir: Path, data_paths: list[str], documents_in: int, document_schema: pa.Schema, run_id: str) -> dict:
    """The mix step; returns mix.json's content (also written to OUT/mix/mix.json)."""
    import ray

    from curate.mix.manifest import build_manifest
    from curate.mix.plan import MixPlan, plan_targets, refine
    from curate.mix.rules import strata_of
    from curate.mix.select import KEY, STRATUM, SHARD as MIX_SHARD
    from curate.mix.tokens import TokenCounter, tokenizer_sha256

    mix, seed, tokenizer_path = config.mix, config.mix_seed, config.mix_tokenizer_path
    started = time.perf_counter()
    stats = _mix_stats_actor()
    files = ray.data.from_items([{"path": p} for p in sorted(data_paths)], override_num_blocks=max(1, len(data_paths)))
    annotated = files.map_batches(
        MixAnnotate(str(out_dir), mix, tokenizer_path, seed, document_schema, config.ray.batch_size * 4, stats),
        batch_size=1, batch_format="pyarrow", num_cpus=1,
    ).materialize()
    totals = ray.get(stats.totals.remote())

    def dense(level: int, plan: MixPlan) -> dict:
        out = {}
        for s, cells in ray.get(stats.level.remote(level)).items():
            p = plan.strata[s]
            if p.done:
                continue
            tokens, docs = np.zeros(p.window.bins, np.int64), np.zeros(p.window.bins, np.int64)
            for b, (t, d) in cells.items():
                tokens[b], docs[b] = t, d
            out[s] = (tokens, docs)
        return out

    top = ray.get(stats.level.remote(0))
    supply = {s: (sum(t for t, _ in cells.values()), sum(d for _, d in cells.values())) for s, cells in top.items()}
    plan = plan_targets(mix, supply, (totals.get("unbucketed_tokens", 0), totals.get("unbucketed_documents", 0)))
    refine(plan, dense(0, plan))
    level = 0
    while not plan.done:
        level += 1
        if level > 8:  # 64-bit keys, 12 bits a level: cannot happen
            raise RunError("mix: threshold search did not converge")
        keys = annotated.select_columns([STRATUM, KEY, "tokens"])
        keys.map_batches(MixHistogram(plan.windows(), level, stats), batch_format="pyarrow").sum("rows")
        refine(plan, dense(level, plan))
    num_shards = max(1, math.ceil(plan.selected_tokens / mix.shard_tokens))
    expanded = annotated.map_batches(
        MixExpand(mix, plan.selection(), num_shards, seed, document_schema), batch_format="pyarrow", batch_size=config.ray.batch_size,
    )
    writer = MixShardWriter(str(out_dir), mix, tokenizer_path, document_schema, num_shards, config.output.model_dump())
    records = expanded.groupby(MIX_SHARD, num_partitions=num_shards).map_groups(writer, batch_format="pyarrow").take_all()
    ray.kill(stats)
    shards = [json.loads(r["record"]) for r in records if r["kind"] == "shard"]
    ledger_files = [json.loads(r["record"]) for r in records if r["kind"] == "not_selected"]
    counter = TokenCounter(tokenizer_path)
    manifest = build_manifest(
        run_id=run_id, seed=seed, config=mix.model_dump(mode="json", by_alias=True),
        tokenizer={"reference": mix.tokenizer, "path": tokenizer_path, "sha256": tokenizer_sha256(tokenizer_path), "vocab_size": counter.vocab_size},
        plan=plan, documents_in=documents_in, shards=shards, not_selected=ledger_files,
        annotated_documents=int(totals.get("documents", 0)), tokens_in=int(totals.get("tokens", 0)),
    )
    manifest["strata"] = len(strata_of(mix))
    manifest["threshold_passes"] = level + 1
    manifest["wall_seconds"] = round(time.perf_counter() - started, 2)
    manifest["busy_seconds_pass1"] = round(totals.get("busy_us", 0) / 1e6, 2)
    (out_dir / "mix").mkdir(parents=True, exist_ok=True)
    (out_dir / "mix" / "mix.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


# --------------------------------------------------------------------------- the run


@dataclass
class RunResult:
    run_id: str
    out_dir: Path
    card_dir: Path
    card: dict = field(default_factory=dict)


def plan_num_shards(total_input_bytes: int, shard_input_mib: float) -> int:
    return max(1, math.ceil(total_input_bytes / (shard_input_mib * 2**20)))


def _prepare_out_dir(out_dir: Path) -> None:
    """Clear what a previous run wrote here (only our own files), so stale shards never mix in."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("data", "rejects", "plots", "mix"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    for name in ("README.md", "card.json"):
        (out_dir / name).unlink(missing_ok=True)


def run_pipeline(
    config: PipelineConfig,
    corpus: str,
    out_dir: str | Path,
    *,
    cards_dir: str | Path | None = "dataset_cards",
    ray_address: str | None = None,
    run_id: str | None = None,
) -> RunResult:
    import ray

    from curate import card as card_mod

    started_wall = time.time()
    started = time.perf_counter()
    out_dir = Path(out_dir).resolve()
    files, skipped = list_inputs_with_skipped(corpus)
    total_bytes = sum(f.size for f in files)
    num_shards = plan_num_shards(total_bytes, config.output.shard_input_mib)
    run_id = run_id or card_mod.make_run_id(config, started_wall)
    _prepare_out_dir(out_dir)

    ray_info = init_ray(config, ray_address)
    stats = _run_stats_actor()

    schemas = [DOCUMENT_SCHEMA]
    for resolved in config.stages:
        schemas.append(evolve_schema(schemas[-1], resolved.cls.output_columns(resolved.params), resolved.cls.drops))

    file_rows = [{"uri": f.uri, "source": f.source, "size": f.size, "format": f.format} for f in files]
    ds = ray.data.from_items(file_rows, override_num_blocks=max(1, len(file_rows)))
    ds = ds.map_batches(ReadFiles(config.read.batch_size, stats), batch_size=1, batch_format="pyarrow", num_cpus=1)
    # Global steps decide each key in one partition: enough partitions to keep every CPU busy, and
    # more as the input grows, so one partition's memory does not grow with the corpus.
    num_partitions = max(num_shards, 2 * max(1, ray_info["cpus"]), plan_num_shards(total_bytes, config.ray.partition_input_mib))
    chains = actor_chains(config.stages)
    for index, resolved in enumerate(config.stages):
        if index in chains and not chains[index]:
            continue  # runs inside the actor of the chain it belongs to
        cls = resolved.cls
        on_actors, num_cpus, num_gpus = resolved.placement
        if chains.get(index):
            num_cpus = max(config.stages[i].placement[1] for i in chains[index])
        common = dict(batch_size=config.ray.batch_size, batch_format="pyarrow", num_cpus=num_cpus)
        if num_gpus:
            common["num_gpus"] = num_gpus
        if issubclass(cls, ClusterStage):
            # The documents are read twice (to link, then to resolve): keep them once in the object store.
            ds = ds.materialize()
            components = _components_actor()
            links = ds.map_batches(EmitLinks(resolved, schemas[index], num_partitions, stats), **common)
            edges = links.groupby(PARTITION, num_partitions=num_partitions).map_groups(EmitEdges(resolved, stats), batch_format="pyarrow").materialize()
            edges.map_batches(SelectEdges(undecided=False), batch_format="pyarrow").map_batches(SendEdges(components), batch_format="pyarrow").sum("edges")
            undecided = edges.map_batches(SelectEdges(undecided=True), batch_format="pyarrow").materialize()
            if undecided.count():
                # Pairs the signature could not decide: bring both documents' exact payloads to each
                # pair by two shuffles on the ids, and let the stage decide exactly.
                payloads = ds.map_batches(ExactPayloads(resolved, schemas[index], num_partitions, stats), **common).materialize()
                pairs = undecided.map_batches(PairsByFirst(num_partitions), batch_format="pyarrow")
                # Materialised before the next union: streamed straight into it, the groups that
                # hold no pair gave blocks without columns and the shuffle failed to concatenate
                # them ("Schema at index 1 was different", seen with 31 partitions).
                with_a = payloads.union(pairs).groupby(PARTITION, num_partitions=num_partitions).map_groups(AttachFirstPayload(num_partitions), batch_format="pyarrow").materialize()
                verified = payloads.union(with_a).groupby(PARTITION, num_partitions=num_partitions).map_groups(VerifyExactly(resolved, stats), batch_format="pyarrow")
                verified.map_batches(SendEdges(components), batch_format="pyarrow").sum("edges")
            summary = ray.get(components.finalize.remote())
            counters = {"clusters": summary["clusters"], "documents_in_clusters": summary["documents_in_clusters"]}
            counters.update({f"cluster_size_{size}": n for size, n in sorted(summary["cluster_sizes"].items())})
            ray.get(stats.add_counters.remote(cls.name, counters))
            ds = ds.map_batches(ApplyClusters(resolved, schemas[index], schemas[index + 1], stats, components), **common)
        elif issubclass(cls, KeyCountStage):
            # The documents are read twice (to count their keys, then to apply the counts).
            ds = ds.materialize()
            documents = int(ds.map_batches(CountLive(), batch_format="pyarrow").sum("live") or 0)
            planner = resolved.build()
            planner.ensure_setup()
            ray.get(stats.add_counters.remote(cls.name, {"documents_counted": documents, **planner.plan(documents)}))
            union_schema = key_count_schema(schemas[index])
            occurrences = ds.map_batches(EmitCountKeys(resolved, schemas[index], documents, num_partitions, stats), **common)
            # Materialised before the union, for the same reason as the exact pairs of a cluster step.
            frequent = occurrences.groupby(PARTITION, num_partitions=num_partitions).map_groups(
                CountKeys(resolved, union_schema, stats), batch_format="pyarrow"
            ).materialize()
            keyed = ds.map_batches(PartitionById(union_schema, num_partitions), batch_format="pyarrow")
            ds = keyed.union(frequent).groupby(PARTITION, num_partitions=num_partitions).map_groups(
                ApplyKeyCounts(resolved, schemas[index], schemas[index + 1], documents, stats), batch_format="pyarrow", num_cpus=cls.num_cpus
            )
        elif issubclass(cls, GroupStage):
            keyed_schema = schemas[index].append(pa.field(GROUP_KEY, pa.string()))
            ds = ds.map_batches(AddGroupKey(resolved, schemas[index], num_partitions, stats), **common)
            ds = ds.groupby(PARTITION, num_partitions=num_partitions).map_groups(
                _StageCall(resolved, keyed_schema, schemas[index + 1], stats), batch_format="pyarrow", num_cpus=cls.num_cpus
            )
        elif on_actors and chains.get(index):
            members = chains[index]
            ds = ds.map_batches(
                StageChainActor,
                fn_constructor_args=([(config.stages[i], schemas[i], schemas[i + 1]) for i in members], stats),
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=config.ray.max_actors),
                **common,
            )
        elif on_actors:
            ds = ds.map_batches(
                StageActor,
                fn_constructor_args=(resolved, schemas[index], schemas[index + 1], stats),
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=config.ray.max_actors),
                **common,
            )
        else:
            ds = ds.map_batches(_StageCall(resolved, schemas[index], schemas[index + 1], stats), **common)
    # An explicit batch size makes Ray re-batch the rows, which drops most of the column-less empty
    # blocks that a shuffle's empty partitions leave behind. Without it, an actor-pool stage as the
    # last stage passed such blocks straight into the shard shuffle, whose reduce then failed
    # ("Schema at index 1 was different"; test_actor_stage_last_after_a_shuffle). Not all: a task
    # whose input has no rows still emits one; guard_shuffle_inputs() keeps those out of shuffles.
    ds = ds.map_batches(AssignShard(num_shards), batch_format="pyarrow", batch_size=config.ray.batch_size)
    writer = ShardWriter(str(out_dir), schemas[-1], num_shards, config.output.model_dump())
    # One shuffle partition per output shard: the shuffle does no more work than the output needs.
    shard_rows = ds.groupby(SHARD, num_partitions=num_shards).map_groups(writer, batch_format="pyarrow").take_all()
    snapshot = ray.get(stats.snapshot.remote())
    ray.kill(stats)
    mix_manifest = None
    if config.mix is not None:
        data_shards = [r for r in shard_rows if r["kind"] == "data"]
        mix_manifest = run_mix(config, out_dir, [r["path"] for r in data_shards], sum(r["rows"] for r in data_shards), schemas[-1], run_id)
    wall_s = time.perf_counter() - started

    card = card_mod.build_card(
        run_id=run_id,
        config=config,
        corpus=corpus,
        out_dir=out_dir,
        started_wall=started_wall,
        wall_s=wall_s,
        ray_info=ray_info,
        num_shards=num_shards,
        shard_rows=shard_rows,
        snapshot=snapshot,
        skipped_inputs=skipped,
        final_schema=schemas[-1],
        mix=mix_manifest,
        mix_sha256=sha256_file(out_dir / "mix" / "mix.json") if mix_manifest is not None else None,
    )
    card_dir = card_mod.write_card(card, out_dir, Path(cards_dir) if cards_dir else None)
    if not card["ledger"]["balanced"]:
        raise RunError(f"ledger does not balance: {card['ledger']['explanation']} (card written to {card_dir})")
    if mix_manifest is not None and not mix_manifest["ledger"]["balanced"]:
        raise RunError(f"mix ledger does not balance: {mix_manifest['ledger']['explanation']} (card written to {card_dir})")
    return RunResult(run_id=run_id, out_dir=out_dir, card_dir=card_dir, card=card)
