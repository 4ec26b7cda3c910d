"""A run: phases planned from the pipeline, each a pass (or a few) of units committed one by one,
resumed from whatever an earlier, interrupted attempt committed.

Phases (ARCHITECTURE.md has the picture):

* ``documents`` — one unit per input file: read, and every per-document stage before the first
  global step;
* one phase per global step (group: URL / exact dedup; cluster: fuzzy dedup; key-count: line
  dedup), shuffling through bucketed part files;
* a ``map`` phase for per-document stages between or after global steps (one unit per part);
* ``shards`` — one unit per output shard; then the ``mix``, when the pipeline has one;
* the card, and the commit of the staged layout into OUT.

Each pass's output is laid out for the pass that reads it (outlets, stage_calls.py), so a global
step's shuffle costs no pass of its own. The driver sees file names, records and per-stratum
numbers — never a document.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from curate.config import PipelineConfig
from curate.hashing import IdDigest, sha256_file
from curate.readers import list_inputs_with_skipped
from curate.run import out as out_mod
from curate.run.cluster_step import run_cluster_step
from curate.run.group_step import GroupReducePass, group_units
from curate.run.key_count_step import run_key_count_step
from curate.run.map_pass import READ_STAGE, DocumentsPass, MapPass
from curate.run.mix_passes import run_mix
from curate.run.parts import row_slices
from curate.run.progress import Progress
from curate.run.shards import ShardPass, shard_units
from curate.run.stage_calls import Chain, GroupOutlet, Outlet, ShardOutlet
from curate.run.units import DriverFault, PassSpec, RunError, Unit, WorkerPool, committed_records, run_pass
from curate.run.work import WorkStore, open_store
from curate.schema import DOCUMENT_SCHEMA, evolve_schema
from curate.stages.base import ClusterStage, GroupStage, KeyCountStage

WORK_FORMAT = "curate-work/1"


class ResumeRefused(Exception):
    """An unfinished run's work cannot be reused (the pipeline or the inputs changed); exit code 2."""


@dataclass
class RunResult:
    run_id: str
    out_dir: Path
    card_dir: Path
    card: dict = field(default_factory=dict)


def plan_num_shards(total_input_bytes: int, shard_input_mib: float) -> int:
    return max(1, math.ceil(total_input_bytes / (shard_input_mib * 2**20)))


# --------------------------------------------------------------------------- the engine


class Engine:
    """Runs passes on a worker pool sized to the cluster, reusing committed units and passes."""

    def __init__(self, store: WorkStore, final_dir: Path, progress: Progress, cpus: int, gpus: int, partitions: int,
                 num_shards: int, batch_size: int, unit_documents: int = 1000, max_workers: int | None = None):
        self.store = store
        self.final_dir = str(final_dir)
        self.final_store = WorkStore(str(final_dir))
        self.progress = progress
        self.cpus, self.gpus = max(1, cpus), gpus
        self.partitions, self.num_shards, self.batch_size = partitions, num_shards, batch_size
        self.unit_documents = unit_documents
        self.max_workers = max_workers
        self.driver_fault = DriverFault()
        self.records: dict[str, dict[str, dict]] = {}
        self.reuse: dict[str, tuple[int, int]] = {}
        self.step_counters: dict[str, dict] = {}
        self.top_keys: dict[str, list[dict]] = {}
        self.pool: WorkerPool | None = None
        self.pool_sizes: dict[str, int] = {}
        self.spans: dict[str, tuple[float, float]] = {}  # pass -> (start, end), wall clock
        self.discarded: set[str] = set()

    def _pool_for(self, spec: PassSpec) -> WorkerPool:
        shape = (spec.num_cpus, spec.num_gpus, spec.memory_bytes)
        if self.pool is not None and self.pool.shape() == shape:
            return self.pool
        if self.pool is not None:
            self.pool.close()
        size = int(self.cpus // max(spec.num_cpus, 1e-9)) if spec.num_cpus else self.cpus
        if spec.num_gpus:
            size = min(size, int(self.gpus // spec.num_gpus))
            if size < 1:
                raise RunError(f"{spec.title}: its stages ask for {spec.num_gpus} GPU(s) per worker; the cluster has {self.gpus}")
        if self.max_workers:
            size = min(size, self.max_workers)
        self.pool = WorkerPool(self.store, self.final_dir, spec.num_cpus, spec.num_gpus, max(1, size), spec.memory_bytes)
        return self.pool

    def run(self, spec: PassSpec, units: list[Unit]) -> dict[str, dict]:
        keys = sorted(u.key for u in units)
        began = time.time()
        marker = self.store.read_json(f"{spec.name}/_pass.json")
        if marker is not None and sorted(marker["records"]) == keys:
            records = marker["records"]
            self.progress.say(f"[{spec.title}] {len(units)} {spec.unit_noun}: committed by an earlier attempt, reused")
            self.reuse[spec.name] = (len(units), len(units))
        else:
            reused = committed_records(self.store, spec, units, self.final_store)
            if reused:
                self.progress.say(f"resuming: {spec.title} {len(reused)}/{len(units)} {spec.unit_noun} done")
            pool = self._pool_for(spec) if len(reused) < len(units) else None
            if pool is not None:
                self.pool_sizes[spec.name] = len(pool.actors)
            records = run_pass(pool, spec, units, progress=self.progress, driver_fault=self.driver_fault, reused=reused,
                               documents_of=_documents_of)
            self.store.write_json(f"{spec.name}/_pass.json", {"records": records})
            self.reuse[spec.name] = (len(reused), len(units))
        self.records[spec.name] = records
        self.spans[spec.name] = (began, time.time())
        return records

    def discard_after_phase(self, earlier: set[str]) -> None:
        """Once a phase is committed, nothing reads the documents of the phases before it, nor the
        intermediate files (keys, links, edges) of any committed phase: delete them, so the work
        folder holds about two phases' documents at a time. Rejects stay for the shards; records
        and _pass.json stay, so a resume still reuses everything."""
        keep = {"rejects"}
        for name, records in self.records.items():
            if name in self.discarded:
                continue
            finished_phase = name in earlier
            for record in records.values():
                for kind, entry in (record.get("outputs") or {}).items():
                    if kind in keep or not isinstance(entry, dict) or not entry.get("path") or entry.get("final"):
                        continue
                    if kind == "docs" and not finished_phase:
                        continue  # the documents the next phase reads
                    self.store.remove(entry["path"])
            if finished_phase:
                self.discarded.add(name)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def _documents_of(record: dict) -> int:
    return max((int(t.get("in", 0)) for t in (record.get("stages") or {}).values()), default=0)


# --------------------------------------------------------------------------- phases


@dataclass
class Segment:
    kind: str  # "map" | "group" | "cluster" | "key_count"
    indices: list[int]  # positions of its stages in config.stages


def plan_segments(config: PipelineConfig) -> list[Segment]:
    """The documents phase (every stage before the first global step), then each global step alone
    and each run of per-document stages between them as a map phase."""
    segments = [Segment("map", [])]
    for index, resolved in enumerate(config.stages):
        kind = _step_kind(resolved.cls)
        if kind == "map":
            if segments[-1].kind == "map":
                segments[-1].indices.append(index)
            else:
                segments.append(Segment("map", [index]))
        else:
            segments.append(Segment(kind, [index]))
    return segments


def _step_kind(cls) -> str:
    for base, kind in ((ClusterStage, "cluster"), (KeyCountStage, "key_count"), (GroupStage, "group")):
        if issubclass(cls, base):
            return kind
    return "map"


def _stage_schemas(config: PipelineConfig) -> list[pa.Schema]:
    schemas = [DOCUMENT_SCHEMA]
    for resolved in config.stages:
        schemas.append(evolve_schema(schemas[-1], resolved.cls.output_columns(resolved.params), resolved.cls.drops))
    return schemas


def _outlet_for(config: PipelineConfig, segments: list[Segment], position: int, partitions: int, num_shards: int) -> Outlet:
    """How segment ``position`` lays out its documents for the one after it."""
    if position + 1 >= len(segments):
        return ShardOutlet(num_shards)
    following = segments[position + 1]
    if following.kind == "group":
        return GroupOutlet(config.stages[following.indices[0]], partitions)
    return Outlet()


def _run_phases(engine: Engine, config: PipelineConfig, files, schemas, segments, num_shards: int) -> tuple[list[dict], list[dict]]:
    """Every phase up to the shards; returns (the last phase's documents entries, every rejects entry)."""
    partitions = engine.partitions

    def chain_of(indices: list[int]) -> Chain:
        return Chain([(config.stages[i], schemas[i], schemas[i + 1]) for i in indices], config.ray.batch_size)

    first = segments[0]
    out_schema = schemas[first.indices[-1] + 1] if first.indices else schemas[0]
    spec = DocumentsPass("01-documents", chain_of(first.indices), out_schema, _outlet_for(config, segments, 0, partitions, num_shards),
                         num_shards, config.read.batch_size)
    units = [Unit(f"{i:05d}", f.source, {"uri": f.uri, "source": f.source, "size": f.size, "format": f.format}, max(1, f.size))
             for i, f in enumerate(files)]
    records = engine.run(spec, units)
    previous = [(key, r["outputs"]["docs"]) for key, r in sorted(records.items())]
    for position, segment in enumerate(segments[1:], start=1):
        earlier_phases = set(engine.records)
        index = segment.indices[0]
        resolved = config.stages[index]
        outlet = _outlet_for(config, segments, position, partitions, num_shards)
        in_schema, out_schema = schemas[index], schemas[segment.indices[-1] + 1]
        number = position + 1
        if segment.kind == "map":
            spec = MapPass(f"{number:02d}-map", "filters" if len(segment.indices) > 1 else resolved.cls.name,
                           chain_of(segment.indices), out_schema, outlet, num_shards)
            slices = [(key, piece) for key, e in previous for piece in row_slices(e, engine.unit_documents)]
            units = [Unit(f"{i:05d}", f"part {int(key)} rows {piece['rows']}", {"docs": piece}, piece["rows"])
                     for i, (key, piece) in enumerate(slices)]
            records = engine.run(spec, units)
        else:
            records = PLANNERS[segment.kind](engine, number, resolved, previous, in_schema, out_schema, outlet)
        engine.discard_after_phase(earlier_phases)
        previous = [(key, r["outputs"]["docs"]) for key, r in sorted(records.items())]
    rejects = [r["outputs"]["rejects"] for name in sorted(engine.records) for _, r in sorted(engine.records[name].items())
               if "rejects" in (r.get("outputs") or {})]
    return [e for _, e in previous], rejects


def _run_group_step(engine: Engine, number: int, resolved, previous, in_schema, out_schema, outlet) -> dict[str, dict]:
    spec = GroupReducePass(f"{number:02d}-{resolved.cls.name}", resolved, in_schema, out_schema, outlet, engine.num_shards)
    return engine.run(spec, group_units([e for _, e in previous], engine.partitions))


# The table of planners: one function per kind of global step (a map phase is planned inline).
PLANNERS = {"group": _run_group_step, "cluster": run_cluster_step, "key_count": run_key_count_step}


# --------------------------------------------------------------------------- the ledger's inputs


def stage_totals(engine: Engine) -> dict[str, dict]:
    """Per stage, the sum of every committed unit's tally (and side busy time, plan counters)."""
    totals: dict[str, dict] = {}

    def entry(name: str) -> dict:
        return totals.setdefault(name, {"rows_in": 0, "kept": 0, "rejected": 0, "rejected_by_reason": {}, "busy_s": 0.0,
                                        "setup_s": 0.0, "batches": 0, "counters": {}, "histograms": {}})

    for name in sorted(engine.records):
        for _, record in sorted(engine.records[name].items()):
            for stage, tally in (record.get("stages") or {}).items():
                e = entry(stage)
                e["rows_in"] += tally["in"]
                e["kept"] += tally["kept"]
                e["rejected"] += sum(tally["rejected"].values())
                for reason, n in tally["rejected"].items():
                    e["rejected_by_reason"][reason] = e["rejected_by_reason"].get(reason, 0) + n
                e["busy_s"] += tally["busy_s"]
                e["batches"] += 1
                for key, value in tally["counters"].items():
                    e["counters"][key] = e["counters"].get(key, 0) + value
                for column, counts in tally.get("histograms", {}).items():
                    have = e["histograms"].setdefault(column, [0] * len(counts))
                    e["histograms"][column] = [a + b for a, b in zip(have, counts, strict=True)]
            for stage, seconds in (record.get("side_busy_s") or {}).items():
                entry(stage)["busy_s"] += seconds
            for stage, seconds in (record.get("setup_s") or {}).items():
                entry(stage)["setup_s"] += seconds
    for stage, counters in engine.step_counters.items():
        entry(stage)["counters"].update(counters)
    return totals


def unit_problems(engine: Engine, stage_order: list[str]) -> list[str]:
    """Per committed unit of a per-document pass: the stage chain holds (each stage's input is the
    previous one's kept, in pipeline order) and its files hold what its tallies say."""
    problems = []
    for name, records in sorted(engine.records.items()):
        for key, record in sorted(records.items()):
            outputs = record.get("outputs") or {}
            tallies = record.get("stages") or {}
            if "docs" not in outputs or not tallies or not any(t["in"] for t in tallies.values()):
                continue
            chain = [tallies[s] for s in stage_order if s in tallies]
            for before, after in zip(chain, chain[1:], strict=False):
                if after["in"] != before["kept"]:
                    problems.append(f"{name} unit {key} ({record.get('label')}): a stage received {after['in']} documents, "
                                    f"the one before it kept {before['kept']}")
            if outputs["docs"]["rows"] != chain[-1]["kept"]:
                problems.append(f"{name} unit {key} ({record.get('label')}): {outputs['docs']['rows']} documents written, "
                                f"its last stage kept {chain[-1]['kept']}")
            rejected = sum(sum(t["rejected"].values()) for t in chain)
            if outputs.get("rejects", {}).get("rows", 0) != rejected:
                problems.append(f"{name} unit {key} ({record.get('label')}): {outputs.get('rejects', {}).get('rows', 0)} reject rows "
                                f"written, its stages rejected {rejected}")
    return problems


# --------------------------------------------------------------------------- work folder state


def _input_listing(files) -> list[dict]:
    """What identifies the inputs cheaply (before any is read): name, size and modification stamp."""
    listing = []
    for f in files:
        stamp = None
        if "://" not in f.uri:
            try:
                stamp = os.stat(f.uri).st_mtime_ns
            except OSError:
                stamp = None
        else:
            try:
                import fsspec

                info = fsspec.core.url_to_fs(f.uri)[0].info(f.uri)
                stamp = str(info.get("mtime") or info.get("LastModified") or info.get("ETag") or info.get("etag") or "")
            except Exception:
                stamp = None
        listing.append({"source": f.source, "size": f.size, "modified": stamp})
    return listing


def _config_differences(before: dict, after: dict, path: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            where = f"{path}.{key}" if path else str(key)
            if key not in before:
                out.append(f"{where} added")
            elif key not in after:
                out.append(f"{where} removed")
            else:
                out += _config_differences(before[key], after[key], where)
        return out
    if isinstance(before, list) and isinstance(after, list):
        if path == "stages":
            names_b, names_a = [s.get("stage") for s in before], [s.get("stage") for s in after]
            if names_b != names_a:
                return [f"stages: {' → '.join(names_b)} became {' → '.join(names_a)}"]
            out = []
            for i, (b, a) in enumerate(zip(before, after, strict=True)):
                out += _config_differences(b, a, f"stages[{i}] ({b.get('stage')})")
            return out
        return [] if before == after else [f"{path} changed"]
    return [] if before == after else [f"{path}: {json.dumps(before)} → {json.dumps(after)}"]


def _listing_differences(before: list[dict], after: list[dict]) -> list[str]:
    b, a = {f["source"]: f for f in before}, {f["source"]: f for f in after}
    out = []
    added, removed = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    changed = sorted(s for s in set(a) & set(b) if (a[s]["size"], a[s]["modified"]) != (b[s]["size"], b[s]["modified"]))
    for label, names in (("added", added), ("removed", removed), ("changed", changed)):
        if names:
            out.append(f"{len(names)} {label} ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})")
    return out


def _hashed_config(config: PipelineConfig) -> dict:
    return {k: v for k, v in config.resolved().items() if k != "ray"}


def resumable_state(store: WorkStore, config: PipelineConfig, corpus: str, listing: list[dict], fresh: bool) -> dict | None:
    """The unfinished run's state when there is one to resume (refused, naming what changed, when
    the pipeline or the inputs differ); None for a new run. ``fresh`` discards it."""
    state = store.read_json("run.json")
    if state is None:
        return None
    if fresh:
        for name in store.listdir(""):
            store.remove(name)
        return None
    problems = []
    if state.get("format") != WORK_FORMAT:
        problems.append(f"its work folder has format {state.get('format')!r}, this curate writes {WORK_FORMAT!r}")
    if state.get("config_sha256") != config.config_hash():
        changes = _config_differences(state.get("config", {}), _hashed_config(config)) or ["the resolved config"]
        problems.append("the pipeline changed: " + "; ".join(changes[:6]) + (" …" if len(changes) > 6 else ""))
    if state.get("corpus") != corpus:
        problems.append(f"the corpus changed: {state.get('corpus')} → {corpus}")
    elif state.get("inputs") != listing:
        problems.append("the inputs changed: " + "; ".join(_listing_differences(state.get("inputs", []), listing)))
    if problems:
        raise ResumeRefused(f"an unfinished run ({state.get('run_id')}) is in {store.root}, but " + "; ".join(problems)
                            + ". Rerun with the same pipeline and inputs to resume it, or pass --fresh to start over")
    return state


def start_attempt(store: WorkStore, state: dict | None, config: PipelineConfig, corpus: str, listing: list[dict], plan: dict,
                  run_id: str) -> dict:
    """run.json for this attempt: the resumed state with one more attempt, or a new run's."""
    if state is None:
        state = {"format": WORK_FORMAT, "run_id": run_id, "created": time.time(), "config_sha256": config.config_hash(),
                 "config": _hashed_config(config), "corpus": corpus, "inputs": listing, "plan": plan, "attempts": []}
    state.setdefault("attempts", []).append({"started": time.time(), "pid": os.getpid()})
    store.write_json("run.json", state)
    return state


# --------------------------------------------------------------------------- the run


def run_pipeline(
    config: PipelineConfig,
    corpus: str,
    out_dir: str | Path,
    *,
    cards_dir: str | Path | None = "dataset_cards",
    ray_address: str | None = None,
    run_id: str | None = None,
    work_dir: str | None = None,
    fresh: bool = False,
    force: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Run (or resume) a pipeline; OUT gets the new layout only if it succeeds."""
    import ray

    from curate import card as card_mod
    from curate.run.environment import init_ray, session_dir

    started_wall = time.time()
    started = time.perf_counter()
    progress = progress or Progress()
    out_dir = Path(out_dir).resolve()
    control = out_dir / out_mod.CONTROL
    files, skipped = list_inputs_with_skipped(corpus)
    total_bytes = sum(f.size for f in files)
    # The passes' files: OUT/.work/run, or a folder (or URI) of the user's, dedicated to this OUT.
    work_root = work_dir or str(control / "run")
    out_mod.preflight(out_dir, work_root, out_mod.estimate_output_bytes(total_bytes), force=force)
    out_mod.acquire_lock(control)
    try:
        ended = out_mod.end_orphans(control)
        if ended:
            progress.say(f"ended {len(ended)} process(es) left by an earlier run of this OUT that was killed: {', '.join(ended[:6])}")
        if out_mod.finish_interrupted_commit(out_dir, control):
            progress.say("finished committing an earlier run whose driver died while moving its files into OUT")
            shutil.rmtree(control / "final", ignore_errors=True)
        store = open_store(work_root)
        listing = _input_listing(files)
        previous = resumable_state(store, config, corpus, listing, fresh)
        resumed = previous is not None
        num_shards = plan_num_shards(total_bytes, config.output.shard_input_mib)
        owns_ray = not ray.is_initialized() and not ray_address
        ray_info = init_ray(config, ray_address)
        if ray_info["mode"] == "embedded":
            out_mod.record_processes(control, session_dir())
        # Enough partitions to keep every CPU busy, and more as the input grows, so that what one
        # reduce unit holds does not grow with the corpus. Fixed in run.json: a resume on another
        # cluster reads the part files the first attempt bucketed.
        partitions = max(num_shards, 2 * max(1, ray_info["cpus"]), plan_num_shards(total_bytes, config.ray.partition_input_mib))
        plan = {"num_shards": num_shards, "partitions": partitions, "unit_documents": config.ray.unit_documents}
        state = start_attempt(store, previous, config, corpus, listing, plan,
                              run_id or card_mod.make_run_id(config, started_wall))
        run_id = state["run_id"]
        num_shards, partitions = state["plan"]["num_shards"], state["plan"]["partitions"]
        if resumed:
            progress.say(f"resuming run {run_id} (attempt {len(state['attempts'])}) from {store.root}")
        final_dir = control / "final"
        if not resumed:
            shutil.rmtree(final_dir, ignore_errors=True)
        final_dir.mkdir(parents=True, exist_ok=True)
        engine = Engine(store, final_dir, progress, ray_info["cpus"], ray_info["gpus"], partitions, num_shards, config.ray.batch_size,
                        state["plan"].get("unit_documents", config.ray.unit_documents), config.ray.max_actors)
        schemas = _stage_schemas(config)
        segments = plan_segments(config)
        try:
            last_docs, rejects = _run_phases(engine, config, files, schemas, segments, num_shards)
            shard_spec = ShardPass(f"{len(segments) + 1:02d}-shards", schemas[-1], num_shards, config.output.model_dump())
            shard_records = engine.run(shard_spec, shard_units(last_docs, rejects, num_shards))
            shard_rows = _shard_rows(shard_records)
            mix_manifest = None
            if config.mix is not None:
                data = [r for r in shard_rows if r["kind"] == "data"]
                mix_manifest = run_mix(engine, len(segments) + 2, config, data, sum(r["rows"] for r in data), schemas[-1], run_id)
        finally:
            engine.close()
        wall_s = time.perf_counter() - started
        snapshot = _snapshot(engine)
        ledger_extra = {"unit_problems": unit_problems(engine, [READ_STAGE, *(s.cls.name for s in config.stages)]), "ids": _id_check(engine, shard_spec.name)}
        card = card_mod.build_card(
            run_id=run_id, config=config, corpus=corpus, out_dir=out_dir, started_wall=state["created"] if resumed else started_wall,
            wall_s=wall_s, ray_info=ray_info, num_shards=num_shards, shard_rows=shard_rows, snapshot=snapshot,
            skipped_inputs=skipped, final_schema=schemas[-1], mix=mix_manifest,
            mix_sha256=sha256_file(final_dir / "mix" / "mix.json") if mix_manifest is not None else None,
            ledger_extra=ledger_extra, checkpoints=_checkpoints(engine, state, resumed, store.root), shards_root=final_dir,
        )
        card_mod.write_card(card, final_dir, None)
        if not card["ledger"]["balanced"]:
            raise RunError(f"ledger does not balance: {card['ledger']['explanation']} (the card is in {final_dir}; OUT was not changed)")
        if mix_manifest is not None and not mix_manifest["ledger"]["balanced"]:
            raise RunError(f"mix ledger does not balance: {mix_manifest['ledger']['explanation']} (OUT was not changed)")
        out_mod.commit(out_dir, final_dir, control, run_id)
        card_dir = card_mod.copy_card(out_dir, run_id, Path(cards_dir) if cards_dir else None)
        if owns_ray:
            ray.shutdown()
        (control / "processes.json").unlink(missing_ok=True)
        store.remove("")
        shutil.rmtree(control, ignore_errors=True)
        return RunResult(run_id=run_id, out_dir=out_dir, card_dir=card_dir, card=card)
    finally:
        if control.is_dir():
            out_mod.release_lock(control)


def _shard_rows(records: dict[str, dict]) -> list[dict]:
    rows = []
    for _, record in sorted(records.items()):
        for kind in ("data", "rejects"):
            e = record["outputs"].get(kind)
            if e:
                rows.append({"kind": kind, "path": e["path"], "rows": e["rows"], "bytes": e["bytes"], "sha256": e["sha256"],
                             "reasons": json.dumps(e.get("reasons", {}), sort_keys=True)})
    return rows


def _snapshot(engine: Engine) -> dict:
    totals = stage_totals(engine)
    files = []
    for name, records in engine.records.items():
        if name.endswith("-documents"):
            files += [dict(r["file"]) for r in records.values()]
    return {
        "stages": {k: {kk: v[kk] for kk in ("rows_in", "kept", "rejected", "busy_s", "setup_s", "batches", "counters", "rejected_by_reason")}
                   for k, v in totals.items()},
        "files": sorted(files, key=lambda r: r["source"]),
        "top": dict(engine.top_keys),
        "histograms": {k: v["histograms"] for k, v in totals.items() if v["histograms"]},
    }


def _id_check(engine: Engine, shard_pass: str) -> dict:
    """The ids the readers emitted against the ids the shards hold (count and xxh3 sum)."""
    read, written = IdDigest(), IdDigest()
    for name, records in engine.records.items():
        if name.endswith("-documents"):
            for r in records.values():
                read.merge(IdDigest.from_json(r["file"]["ids"]))
    for r in engine.records.get(shard_pass, {}).values():
        written.merge(IdDigest.from_json(r["ids"]))
    return {"read": read.to_json(), "written": written.to_json(), "match": read == written}


def _checkpoints(engine: Engine, state: dict, resumed: bool, root: str) -> dict:
    passes = []
    for name, records in sorted(engine.records.items()):
        reused, units = engine.reuse.get(name, (0, len(records)))
        written = sum(e.get("bytes", 0) for r in records.values() for e in (r.get("outputs") or {}).values()
                      if isinstance(e, dict) and e.get("path") and not e.get("final"))
        span = engine.spans.get(name, (0.0, 0.0))
        passes.append({"pass": name, "units": units, "reused": reused, "work_bytes": written,
                       "unit_wall_s": round(sum(r.get("wall_s", 0) for r in records.values()), 2),
                       "unit_cpu_s": round(sum(r.get("cpu_s", 0) for r in records.values()), 2),
                       "io_write_s": round(sum(r.get("io_s", {}).get("write", 0) for r in records.values()), 3),
                       "io_read_s": round(sum(r.get("io_s", {}).get("read", 0) for r in records.values()), 3),
                       "started_at": round(span[0], 3), "seconds": round(span[1] - span[0], 2),
                       "workers": engine.pool_sizes.get(name)})
    return {
        "work_root": root,
        "resumed": resumed,
        "attempts": len(state.get("attempts", [])),
        "units": sum(p["units"] for p in passes),
        "units_reused": sum(p["reused"] for p in passes),
        "work_bytes": sum(p["work_bytes"] for p in passes),
        # Seconds units spent writing and reading part files, against all the seconds units ran.
        "io_seconds": round(sum(p["io_write_s"] + p["io_read_s"] for p in passes), 2),
        "unit_seconds": round(sum(p["unit_wall_s"] for p in passes), 2),
        "passes": passes,
    }


def mix_only(config: PipelineConfig, out_dir: str | Path, data_paths: list[str], documents_in: int, document_schema: pa.Schema,
             run_id: str, *, progress: Progress | None = None) -> dict:
    """The mix passes alone over an existing run's data shards (``out_dir/data``): writes
    ``out_dir/mix`` and returns mix.json's content. Ray must be initialised."""
    import tempfile

    import pyarrow.parquet as pq
    import ray

    out_dir = Path(out_dir).resolve()
    cpus = int(ray.cluster_resources().get("CPU", 1))
    with tempfile.TemporaryDirectory(prefix="curate-mix-", dir=out_dir) as tmp:
        engine = Engine(open_store(tmp), out_dir, progress or Progress(), cpus, 0, 1, 1, config.ray.batch_size)
        data = [{"path": p, "rows": pq.ParquetFile(out_dir / p).metadata.num_rows} for p in sorted(data_paths)]
        try:
            return run_mix(engine, 1, config, data, documents_in, document_schema, run_id)
        finally:
            engine.close()
