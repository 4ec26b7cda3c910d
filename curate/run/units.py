"""Units of work on a pool of Ray actors: each unit committed once, counted once.

A *pass* is a list of units (an input file, a shuffle partition, a part of the previous pass) and
one ``PassSpec`` that knows how to run any of them. The driver hands units to a pool of
``PassWorker`` actors — one per CPU of the cluster (or per GPU for a GPU pass), alive for the whole
run so every model loads once per worker — and each worker runs the unit, writes its files, then
writes the unit's *record* (its counts, reject reasons, counters and the files it commits). The
record is the commit: a unit with a record is never run again, and every count in the card is a
sum of records. A worker that dies (killed, OOM, node lost) is restarted by Ray and its unit is
given out again; the half-written files of the dead attempt are never named by any record, so
nothing is counted twice. A unit that kills its worker ``max_attempts`` times fails the run with
its name.

Fault injection for tests (the chaos tests in tests/test_chaos.py use it):
``CURATE_FAULT_KILL_WORKER=<pass>:<unit key>[,<pass>:<unit key>...]`` makes the worker running
each such unit SIGKILL itself half-way through (once), ``CURATE_FAULT_KILL_DRIVER=<pass>:<n>`` makes the driver SIGKILL itself
once n units of that pass are committed. ``<pass>`` matches any pass whose name contains it.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from curate.run.progress import Progress
from curate.run.work import WorkStore

log = logging.getLogger("curate.run")

FAULT_WORKER_ENV = "CURATE_FAULT_KILL_WORKER"
FAULT_DRIVER_ENV = "CURATE_FAULT_KILL_DRIVER"


class RunError(RuntimeError):
    """The run could not complete, or its ledger does not balance."""


@dataclass(frozen=True)
class Unit:
    key: str  # unique within its pass, sorts in unit order
    label: str  # for people: an input file, "partition 12"
    inputs: Any = None  # what the pass's spec needs to run it
    weight: float = 1.0  # its share of the pass's progress (bytes or documents)


class PassSpec:
    """What a pass runs. Subclasses set the attributes and implement ``run_unit``."""

    name: str = ""  # the pass's folder under the work root, e.g. "03-url_dedup/reduce"
    title: str = ""  # progress line title
    unit_noun: str = "units"
    weight_unit: str = "documents"
    stage_names: tuple[str, ...] = ()
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_bytes: int | None = None  # Ray's memory reservation per worker (None: none)

    def run_unit(self, worker: WorkerContext, unit: Unit) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def record_path(self, key: str) -> str:
        return f"{self.name}/records/{key}.json"


def inputs_digest(unit: Unit) -> str:
    """What a unit was given, hashed: a record is reused only for the very same inputs."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(unit.inputs, sort_keys=True, default=str).encode()).hexdigest()


def record_files(record: dict) -> list[dict]:
    """Every file entry a record commits (``outputs`` values with a path)."""
    return [e for e in (record.get("outputs") or {}).values() if isinstance(e, dict) and e.get("path")]


class WorkerContext:
    """What a worker keeps between units: the work store, built stages (models loaded once) and
    the staging folder of the final outputs."""

    def __init__(self, store: WorkStore, final_dir: str, fault_worker: str | None):
        self.store = store
        self.final_dir = final_dir
        self.fault_worker = fault_worker
        self._stages: dict[tuple, Any] = {}
        self._unit: tuple[str, str] | None = None
        # Time a stage spends outside its own pass (a group step's keys, computed by the unit
        # before it): recorded with that unit, under "side_busy_s".
        self.side_busy: dict[str, float] = {}
        self.setup_s: dict[str, float] = {}

    def note_busy(self, stage_name: str, seconds: float) -> None:
        self.side_busy[stage_name] = self.side_busy.get(stage_name, 0.0) + seconds

    def stage(self, resolved):
        """The built, set-up stage for ``resolved`` (a ResolvedStage), once per worker."""
        key = (resolved.cls.__module__, resolved.cls.__qualname__, resolved.params.model_dump_json())
        stage = self._stages.get(key)
        if stage is None:
            started = time.perf_counter()
            stage = resolved.build()
            stage.ensure_setup()
            self._stages[key] = stage
            # Loading a model is the stage's work too, once per worker: recorded apart from busy time.
            self.setup_s[stage.name] = self.setup_s.get(stage.name, 0.0) + time.perf_counter() - started
        return stage

    def cached(self, key: tuple, make):
        """Any other per-worker object (a tokenizer, an annotator) built once."""
        value = self._stages.get(key)
        if value is None:
            value = self._stages[key] = make()
        return value

    def fault_point(self) -> None:
        """Where an injected worker fault fires: mid-unit, with part of its output written."""
        if not self.fault_worker or self._unit is None:
            return
        pass_name, unit_key = self._unit
        for spec in self.fault_worker.split(","):
            pass_match, _, key = spec.strip().rpartition(":")
            if pass_match and pass_match in pass_name and key == unit_key:
                marker = f"faults/{pass_name.replace('/', '_')}-{unit_key}.json"
                if not self.store.exists(marker):
                    self.store.write_json(marker, {"pid": os.getpid(), "time": time.time()})
                    os.kill(os.getpid(), signal.SIGKILL)


def _worker_class():
    import ray

    @ray.remote
    class PassWorker:
        def __init__(self, store_root: str, final_dir: str, fault_worker: str | None):
            from curate.run.work import WorkStore

            self.ctx = WorkerContext(WorkStore(store_root), final_dir, fault_worker)

        def run(self, spec: PassSpec, unit: Unit) -> dict:
            from curate.run.parts import IO_SECONDS

            started, cpu, wall_clock = time.perf_counter(), time.process_time(), time.time()
            io_before = dict(IO_SECONDS)
            self.ctx._unit = (spec.name, unit.key)
            self.ctx.side_busy = {}
            self.ctx.setup_s = {}
            try:
                record = spec.run_unit(self.ctx, unit)
            finally:
                self.ctx._unit = None
            if self.ctx.side_busy:
                record["side_busy_s"] = {k: round(v, 4) for k, v in sorted(self.ctx.side_busy.items())}
            if self.ctx.setup_s:
                record["setup_s"] = {k: round(v, 4) for k, v in sorted(self.ctx.setup_s.items())}
            record.update({
                "pass": spec.name, "unit": unit.key, "label": unit.label,
                "wall_s": round(time.perf_counter() - started, 4), "cpu_s": round(time.process_time() - cpu, 4),
                "started_at": round(wall_clock, 3), "inputs_sha256": inputs_digest(unit),
                "io_s": {k: round(IO_SECONDS[k] - io_before[k], 4) for k in IO_SECONDS},
                "worker": {"pid": os.getpid(), "host": socket.gethostname()},
            })
            self.ctx.store.write_json(spec.record_path(unit.key), record)
            return record

        def pid(self) -> int:
            return os.getpid()

    return PassWorker


_SYSTEM_FAILURES: tuple[type[BaseException], ...] | None = None


def _system_failures() -> tuple[type[BaseException], ...]:
    """Failures of a worker process or node (retried), as opposed to an exception a stage raised."""
    global _SYSTEM_FAILURES
    if _SYSTEM_FAILURES is None:
        from ray import exceptions as rx

        names = ["RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError", "OutOfMemoryError",
                 "ObjectLostError", "OwnerDiedError", "NodeDiedError", "LocalRayletDiedError", "TaskUnschedulableError"]
        _SYSTEM_FAILURES = tuple(getattr(rx, n) for n in names if hasattr(rx, n))
    return _SYSTEM_FAILURES


@dataclass
class WorkerPool:
    """Actors of one resource shape; ``size`` of them, spread over the cluster's nodes."""

    store: WorkStore
    final_dir: str
    num_cpus: float
    num_gpus: float
    size: int
    memory_bytes: int | None = None
    actors: list = field(default_factory=list)

    def __post_init__(self):
        cls = _worker_class()
        options: dict[str, Any] = {"num_cpus": self.num_cpus, "max_restarts": -1, "max_task_retries": 0,
                                   "scheduling_strategy": "SPREAD"}
        if self.num_gpus:
            options["num_gpus"] = self.num_gpus
        if self.memory_bytes:
            options["memory"] = self.memory_bytes
        fault = os.environ.get(FAULT_WORKER_ENV) or None
        self.actors = [cls.options(**options).remote(self.store.root, self.final_dir, fault) for _ in range(self.size)]

    def shape(self) -> tuple[float, float, int | None]:
        return (self.num_cpus, self.num_gpus, self.memory_bytes)

    def pids(self) -> list[int]:
        import ray

        return ray.get([a.pid.remote() for a in self.actors])

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors = []


def committed_records(store: WorkStore, spec: PassSpec, units: list[Unit], final_store: WorkStore | None = None) -> dict[str, dict]:
    """Records of units a previous attempt of the run committed, whose files are all still there."""
    done = {}
    for unit in units:
        record = store.read_json(spec.record_path(unit.key))
        if record is None or record.get("inputs_sha256") != inputs_digest(unit):
            continue
        ok = True
        for entry in record_files(record):
            where = final_store if entry.get("final") else store
            if where is None or not where.exists(entry["path"]) or where.size(entry["path"]) != entry["bytes"]:
                ok = False
                break
        if ok:
            done[unit.key] = record
    return done


class DriverFault:
    """The injected driver kill (tests): SIGKILL once ``n`` units of a matching pass are committed."""

    def __init__(self):
        spec = os.environ.get(FAULT_DRIVER_ENV) or ""
        self.pass_match, _, n = spec.rpartition(":")
        self.after = int(n) if n.isdigit() else None
        self.count = 0

    def committed(self, pass_name: str) -> None:
        if self.after is None or self.pass_match not in pass_name:
            return
        self.count += 1
        if self.count >= self.after:
            os.kill(os.getpid(), signal.SIGKILL)


def run_pass(pool: WorkerPool, spec: PassSpec, units: list[Unit], *, progress: Progress, driver_fault: DriverFault,
             reused: dict[str, dict] | None = None, max_attempts: int = 3, documents_of=None) -> dict[str, dict]:
    """Run every unit not in ``reused``; returns all records by unit key (reused ones included)."""
    import ray

    records: dict[str, dict] = dict(reused or {})
    todo = deque(u for u in units if u.key not in records)
    weight_reused = sum(u.weight for u in units if u.key in records)
    progress.start(spec.title, units_total=len(units), unit_noun=spec.unit_noun, weight_total=sum(u.weight for u in units),
                   weight_unit=spec.weight_unit, stages=list(spec.stage_names), units_reused=len(records), weight_reused=weight_reused)
    documents_of = documents_of or (lambda record: 0)
    if todo:
        spec_ref = ray.put(spec)
        idle = list(pool.actors)
        in_flight: dict[Any, tuple[Unit, Any]] = {}
        attempts: dict[str, int] = {}
        while todo or in_flight:
            while todo and idle:
                actor, unit = idle.pop(), todo.popleft()
                in_flight[actor.run.remote(spec_ref, unit)] = (unit, actor)
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=max(0.2, min(progress.interval_s, 5.0)))
            progress.tick()
            for ref in ready:
                unit, actor = in_flight.pop(ref)
                try:
                    record = ray.get(ref)
                except _system_failures() as e:
                    attempts[unit.key] = attempts.get(unit.key, 0) + 1
                    if attempts[unit.key] >= max_attempts:
                        raise RunError(f"{spec.title}: {unit.label} failed {attempts[unit.key]} times; its worker died each time "
                                       f"({type(e).__name__}). Rerun to resume; the committed units are kept.") from None
                    progress.say(f"  {spec.title}: the worker running {unit.label} died ({type(e).__name__}); "
                                 f"running it again (attempt {attempts[unit.key] + 1} of {max_attempts})")
                    todo.appendleft(unit)
                    idle.append(actor)  # Ray restarts the actor; calls wait for it
                    continue
                except ray.exceptions.RayTaskError as e:
                    cause = e.cause if getattr(e, "cause", None) is not None else e
                    raise RunError(f"{spec.title}: {unit.label}: {type(cause).__name__}: {cause}") from None
                records[unit.key] = record
                idle.append(actor)
                progress.unit_done(unit.weight, documents_of(record), record.get("stages"))
                driver_fault.committed(spec.name)
    progress.finish()
    return records
