"""Cluster steps (fuzzy dedup): link similar documents, keep one per connected component.

Passes, each committed per unit (see units.py):

1. ``links`` — one unit per part of the previous pass: a row per (document, bucket key) with what
   a pair check needs and the document's part, bucketed by key mod P.
2. ``edges`` — one unit per partition: candidate pairs inside each bucket, verified by the stage;
   pairs it cannot decide from the payloads are written apart, bucketed by the part of their first
   document.
3. ``attach`` / ``verify`` — only when there are undecided pairs: the pair picks up its first
   document's exact payload in that document's part, then its second's, and the stage decides
   exactly. Keyed by part, so no document is read by more than its own unit.
4. ``components`` — one unit: union-find over every verified edge (dense indices of the *linked*
   documents only, ~120 B each), the survivor of each component by the stage's rank; every other
   linked document goes out as (id, survivor) bucketed by its part.
5. ``apply`` — one unit per part: its documents minus those the components unit rejected.
"""
from __future__ import annotations

import pickle
import time
from array import array

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.run.parts import PartWriter, bucket_rows, bucket_slices, read_bucket, read_part
from curate.run.stage_calls import Outlet, ShardOutlet, StageTally, slices
from curate.run.units import PassSpec, Unit, WorkerContext
from curate.schema import REJECT_SCHEMA, conform

LINK_SCHEMA = pa.schema([("link_key", pa.uint64()), ("node", pa.string()), ("part", pa.int32()),
                         ("payload", pa.binary()), ("rank", pa.binary())])
EDGE_SCHEMA = pa.schema([("a", pa.string()), ("b", pa.string()), ("part_a", pa.int32()), ("part_b", pa.int32()),
                         ("rank_a", pa.binary()), ("rank_b", pa.binary())])
ATTACHED_SCHEMA = EDGE_SCHEMA.append(pa.field("exact_a", pa.binary()))
REJECT_LIST_SCHEMA = pa.schema([("id", pa.string()), ("survivor", pa.string()), ("part", pa.int32())])


def _part_index(key: str) -> int:
    return int(key)


class _ClusterPass(PassSpec):
    def __init__(self, name: str, resolved, title: str):
        self.name = name
        self.resolved = resolved
        self.title = title
        self.stage_names = (resolved.cls.name,)
        self.num_cpus = resolved.placement.cpus or 1.0
        self.memory_bytes = resolved.placement.memory_bytes

    def _extra(self, busy_s: float, counters: dict | None = None) -> dict:
        tally = StageTally()
        tally.busy_s = busy_s
        tally.add_counters(counters or {})
        return {self.resolved.cls.name: tally.to_json()}


class LinksPass(_ClusterPass):
    unit_noun = "parts"

    def __init__(self, name, resolved, in_schema: pa.Schema, partitions: int, batch_size: int):
        super().__init__(name, resolved, f"{resolved.cls.name}: link keys")
        self.in_schema, self.partitions, self.batch_size = in_schema, partitions, batch_size

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        stage = ctx.stage(self.resolved)
        part = _part_index(unit.key)
        n = np.uint64(self.partitions)
        writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.links", LINK_SCHEMA,
                            lambda t: (t.column("link_key").to_numpy() % n).astype(np.int64))
        busy = 0.0
        docs = read_part(ctx.store, unit.inputs["docs"])
        if docs is not None:
            docs = conform(docs, self.in_schema)
            for batch in slices(docs, self.batch_size):
                started = time.perf_counter()
                keys, payloads = stage.link_keys(batch), stage.payload(batch)
                ranks = [pickle.dumps(r) for r in stage.rank(batch)]
                ids = batch.column("id").to_pylist()
                lengths = [len(k) for k in keys]
                rows = pa.table({
                    "link_key": pa.array([k for ks in keys for k in ks], pa.uint64()),
                    "node": pa.array(np.repeat(np.array(ids, dtype=object), lengths).tolist(), pa.string()),
                    "part": pa.array(np.full(sum(lengths), part, dtype=np.int32)),
                    "payload": pa.array(np.repeat(np.array(payloads, dtype=object), lengths).tolist(), pa.binary()),
                    "rank": pa.array(np.repeat(np.array(ranks, dtype=object), lengths).tolist(), pa.binary()),
                }, schema=LINK_SCHEMA)
                busy += time.perf_counter() - started
                writer.add(rows)
                ctx.fault_point()
        return {"outputs": {"links": writer.close()}, "stages": self._extra(busy)}


class EdgesPass(_ClusterPass):
    """Inside each bucket: buckets of up to ``max_pairwise`` documents are checked pair by pair;
    larger ones (rare: boilerplate-heavy templates) against the bucket's first document only,
    which still links every verified member into one component."""

    unit_noun = "partitions"
    weight_unit = "key rows"

    def __init__(self, name, resolved, max_pairwise: int = 64):
        super().__init__(name, resolved, f"{resolved.cls.name}: verify pairs")
        self.max_pairwise = max_pairwise

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        stage = ctx.stage(self.resolved)
        started = time.perf_counter()
        rows = read_bucket(ctx.store, unit.inputs["parts"], unit.inputs["bucket"], LINK_SCHEMA)
        rows = rows.sort_by([("link_key", "ascending"), ("node", "ascending")]).to_pylist()
        edges: dict[tuple[str, str], tuple] = {}
        checked: set[tuple[str, str]] = set()
        start = 0
        while start < len(rows):
            end = start
            while end < len(rows) and rows[end]["link_key"] == rows[start]["link_key"]:
                end += 1
            bucket = rows[start:end]
            if len(bucket) > 1:
                pairs = (((i, j) for i in range(len(bucket)) for j in range(i + 1, len(bucket)))
                         if len(bucket) <= self.max_pairwise else ((0, j) for j in range(1, len(bucket))))
                for i, j in pairs:
                    a, b = bucket[i], bucket[j]
                    pair = (a["node"], b["node"])
                    if pair[0] == pair[1] or pair in checked:
                        continue
                    checked.add(pair)
                    verdict = stage.verify(a["payload"], b["payload"])
                    if verdict is not False:
                        edges[pair] = (a["part"], b["part"], a["rank"], b["rank"], verdict is None)
            start = end
        decided = [(k, v) for k, v in sorted(edges.items()) if not v[4]]
        undecided = [(k, v) for k, v in sorted(edges.items()) if v[4]]
        busy = time.perf_counter() - started
        ctx.fault_point()
        out = {}
        for kind, items, bucketer in (("decided", decided, None), ("undecided", undecided, lambda t: t.column("part_a").to_numpy().astype(np.int64))):
            writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.{kind}", EDGE_SCHEMA, bucketer)
            if items:
                writer.add(_edge_table(items))
            out[kind] = writer.close()
        counters = {"candidate_pairs": len(checked), "verified_pairs": len(decided), "pairs_checked_exactly": len(undecided)}
        return {"outputs": out, "stages": self._extra(busy, counters)}


def _edge_table(items) -> pa.Table:
    return pa.table({
        "a": [k[0] for k, _ in items], "b": [k[1] for k, _ in items],
        "part_a": pa.array([v[0] for _, v in items], pa.int32()), "part_b": pa.array([v[1] for _, v in items], pa.int32()),
        "rank_a": pa.array([v[2] for _, v in items], pa.binary()), "rank_b": pa.array([v[3] for _, v in items], pa.binary()),
    }, schema=EDGE_SCHEMA)


def _exact_payloads(stage, ctx: WorkerContext, docs_entry: dict, in_schema: pa.Schema, wanted: set[str]) -> dict[str, bytes]:
    docs = read_part(ctx.store, docs_entry)
    if docs is None or not wanted:
        return {}
    docs = conform(docs, in_schema)
    docs = docs.filter(pc.is_in(docs.column("id"), value_set=pa.array(sorted(wanted), pa.string())))
    return dict(zip(docs.column("id").to_pylist(), stage.exact_payload(docs) if docs.num_rows else [], strict=True))


class AttachPass(_ClusterPass):
    """Undecided pairs pick up the exact payload of their first document, in its part."""

    unit_noun = "parts"
    weight_unit = "pairs"

    def __init__(self, name, resolved, in_schema):
        super().__init__(name, resolved, f"{resolved.cls.name}: exact check (1/2)")
        self.in_schema = in_schema

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        stage = ctx.stage(self.resolved)
        started = time.perf_counter()
        pairs = read_bucket(ctx.store, unit.inputs["pairs"], unit.inputs["bucket"], EDGE_SCHEMA)
        payload = _exact_payloads(stage, ctx, unit.inputs["docs"], self.in_schema, set(pairs.column("a").to_pylist()))
        attached = pairs.append_column("exact_a", pa.array([payload[a] for a in pairs.column("a").to_pylist()], pa.binary()))
        writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.pairs", ATTACHED_SCHEMA,
                            lambda t: t.column("part_b").to_numpy().astype(np.int64))
        writer.add(attached)
        return {"outputs": {"pairs": writer.close()}, "stages": self._extra(time.perf_counter() - started)}


class VerifyPass(_ClusterPass):
    """With the second document's exact payload beside the first's, the stage decides the pair."""

    unit_noun = "parts"
    weight_unit = "pairs"

    def __init__(self, name, resolved, in_schema):
        super().__init__(name, resolved, f"{resolved.cls.name}: exact check (2/2)")
        self.in_schema = in_schema

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        stage = ctx.stage(self.resolved)
        started = time.perf_counter()
        pairs = read_bucket(ctx.store, unit.inputs["pairs"], unit.inputs["bucket"], ATTACHED_SCHEMA)
        payload = _exact_payloads(stage, ctx, unit.inputs["docs"], self.in_schema, set(pairs.column("b").to_pylist()))
        keep = [stage.verify_exact(ea, payload[b])
                for ea, b in zip(pairs.column("exact_a").to_pylist(), pairs.column("b").to_pylist(), strict=True)]
        verified = pairs.filter(pa.array(keep, pa.bool_())).select(EDGE_SCHEMA.names)
        writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.verified", EDGE_SCHEMA)
        writer.add(verified)
        return {"outputs": {"verified": writer.close()},
                "stages": self._extra(time.perf_counter() - started, {"verified_pairs": int(sum(keep))})}


class ComponentsPass(_ClusterPass):
    """Union-find over dense integer indices of the documents that have a verified edge.

    A linked document costs one ``id -> index`` dict entry, 8 bytes of ``parent`` and its part:
    about 120 B for 16-character ids; survivor ranks are kept per component (the best rank of each
    root), not per document. It is the one structure of fuzzy dedup that grows with the corpus
    (with its duplicates) and lives in one process: ~12 GB at 10^8 linked documents, where a
    distributed connected-components pass would take over (docs/scale.md).
    """

    unit_noun = "unit"
    weight_unit = "edges"

    def __init__(self, name, resolved, parts: int):
        super().__init__(name, resolved, f"{resolved.cls.name}: components")
        self.parts = parts

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        started = time.perf_counter()
        index: dict[str, int] = {}
        ids: list[str] = []
        parent = array("q")
        part_of = array("i")
        best: dict[int, tuple] = {}

        def node(doc_id: str, part: int, rank: bytes) -> int:
            i = index.get(doc_id)
            if i is None:
                i = index[doc_id] = len(ids)
                ids.append(doc_id)
                parent.append(i)
                part_of.append(part)
                best[i] = (pickle.loads(rank), doc_id)
            return i

        def find(x: int) -> int:
            root = x
            while parent[root] != root:
                root = parent[root]
            while parent[x] != root:  # path compression
                parent[x], x = root, parent[x]
            return root

        for entry in unit.inputs["edges"]:
            table = read_part(ctx.store, entry)
            if table is None:
                continue
            for a, b, pa_, pb, ra, rb in zip(*(table.column(c).to_pylist() for c in EDGE_SCHEMA.names), strict=True):
                root_a, root_b = find(node(a, pa_, ra)), find(node(b, pb, rb))
                if root_a != root_b:
                    # The lower index becomes the root; the survivor is decided by rank, so the
                    # result does not depend on the order edges arrive in.
                    low, high = sorted((root_a, root_b))
                    parent[high] = low
                    best[low] = min(best[low], best.pop(high))
        roots = np.fromiter((find(i) for i in range(len(ids))), dtype=np.int64, count=len(ids))
        survivor = [best[r][1] for r in roots.tolist()]
        losers = [i for i in range(len(ids)) if survivor[i] != ids[i]]
        rejected = pa.table({"id": [ids[i] for i in losers], "survivor": [survivor[i] for i in losers],
                             "part": pa.array([part_of[i] for i in losers], pa.int32())}, schema=REJECT_LIST_SCHEMA)
        rejected = rejected.sort_by([("part", "ascending"), ("id", "ascending")])
        writer = PartWriter(ctx.store, f"{self.name}/parts/components", REJECT_LIST_SCHEMA,
                            lambda t: t.column("part").to_numpy().astype(np.int64))
        writer.add(rejected)
        sizes = np.bincount(roots)[np.unique(roots)] if len(roots) else np.empty(0, dtype=np.int64)
        histogram = {int(k): int(v) for k, v in zip(*np.unique(sizes, return_counts=True), strict=True)}
        counters = {"clusters": int(len(sizes)), "documents_in_clusters": len(ids)}
        counters.update({f"cluster_size_{size}": n for size, n in sorted(histogram.items())})
        return {"outputs": {"losers": writer.close()}, "stages": self._extra(time.perf_counter() - started, counters)}


class ApplyClustersPass(_ClusterPass):
    """Every linked document that is not its component's survivor is rejected."""

    unit_noun = "parts"

    def __init__(self, name, resolved, in_schema, out_schema, outlet: Outlet, num_shards: int):
        super().__init__(name, resolved, resolved.cls.name)
        self.in_schema, self.out_schema, self.outlet, self.num_shards = in_schema, out_schema, outlet, num_shards

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        stage = ctx.stage(self.resolved)
        tally = StageTally()
        docs_writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.docs", self.outlet.schema(self.out_schema), self.outlet.bucketer())
        rejects_writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.rejects", REJECT_SCHEMA, ShardOutlet(self.num_shards).bucketer())
        docs = read_part(ctx.store, unit.inputs["docs"])
        if docs is not None:
            started = time.perf_counter()
            docs = conform(docs, self.in_schema)
            losers = read_bucket(ctx.store, unit.inputs["rejects"], _part_index(unit.key), REJECT_LIST_SCHEMA)
            survivor_of = dict(zip(losers.column("id").to_pylist(), losers.column("survivor").to_pylist(), strict=True))
            ids = docs.column("id").to_pylist()
            keep = [i not in survivor_of for i in ids]
            kept, rejected = stage.split(docs, keep, [None if k else self.resolved.cls.reason for k in keep],
                                         [None if k else f"survivor={survivor_of[i]}" for k, i in zip(keep, ids, strict=True)])
            from curate.contract import StageOutput

            tally.add_output(StageOutput(kept, rejected), docs.num_rows, time.perf_counter() - started, stage.name)
            ctx.fault_point()
            rejects_writer.add(rejected)
            kept = conform(kept, self.out_schema)
            if kept.num_rows:
                docs_writer.add(self.outlet.prepare(ctx, kept))
        return {"outputs": {"docs": docs_writer.close(), "rejects": rejects_writer.close()},
                "stages": {stage.name: tally.to_json()}}


def run_cluster_step(engine, index: int, resolved, previous_docs: list[tuple[str, dict]], in_schema, out_schema,
                     outlet: Outlet) -> dict[str, dict]:
    """The passes of one cluster step; returns the apply pass's records (one per previous part)."""
    name = f"{index:02d}-{resolved.cls.name}"
    partitions, batch_size = engine.partitions, engine.batch_size
    parts = {key: entry for key, entry in previous_docs}
    link_units = [Unit(key, f"part {int(key)}", {"docs": e}, e["rows"]) for key, e in previous_docs if e.get("rows")]
    links = engine.run(LinksPass(f"{name}/links", resolved, in_schema, partitions, batch_size), link_units)
    link_entries = [r["outputs"]["links"] for _, r in sorted(links.items())]
    edge_units = [Unit(f"{j:05d}", f"partition {j}", {"parts": s, "bucket": j}, bucket_rows(s, j))
                  for j in range(partitions) if (s := bucket_slices(link_entries, j))]
    edges = engine.run(EdgesPass(f"{name}/edges", resolved), edge_units)
    edge_files = [r["outputs"]["decided"] for _, r in sorted(edges.items())]
    undecided = [r["outputs"]["undecided"] for _, r in sorted(edges.items())]
    if sum(e["rows"] for e in undecided):
        attach_units = [Unit(key, f"part {int(key)}", {"docs": parts[key], "pairs": s, "bucket": int(key)}, bucket_rows(s, int(key)))
                        for key in sorted(parts) if (s := bucket_slices(undecided, int(key)))]
        attached = engine.run(AttachPass(f"{name}/attach", resolved, in_schema), attach_units)
        attached_files = [r["outputs"]["pairs"] for _, r in sorted(attached.items())]
        verify_units = [Unit(key, f"part {int(key)}", {"docs": parts[key], "pairs": s, "bucket": int(key)}, bucket_rows(s, int(key)))
                        for key in sorted(parts) if (s := bucket_slices(attached_files, int(key)))]
        verified = engine.run(VerifyPass(f"{name}/verify", resolved, in_schema), verify_units)
        edge_files += [r["outputs"]["verified"] for _, r in sorted(verified.items())]
    edge_files = [e for e in edge_files if e.get("path")]
    components = engine.run(ComponentsPass(f"{name}/components", resolved, len(parts)),
                            [Unit("00000", "all edges", {"edges": edge_files}, sum(e["rows"] for e in edge_files) or 1)])
    reject_entry = components["00000"]["outputs"]["losers"]
    apply_units = [Unit(key, f"part {int(key)}", {"docs": parts[key], "rejects": bucket_slices([reject_entry], int(key))}, parts[key]["rows"])
                   for key in sorted(parts) if parts[key].get("rows")]
    return engine.run(ApplyClustersPass(f"{name}/apply", resolved, in_schema, out_schema, outlet, engine.num_shards), apply_units)
