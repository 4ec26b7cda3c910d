"""The runner: the only package that knows Ray.

A run is a short sequence of phases, each a pass (or a few) of units of work committed one by
one under the run's work folder; ``run_pipeline`` plans them from the pipeline, resumes an
interrupted run from what it committed, builds the card from the committed records and moves the
finished layout into OUT. Modules, one per kind of step:

* ``units`` — units, their records (the commit), the worker pool and the pass scheduler;
* ``work`` / ``parts`` — the work folder (local or fsspec URI) and bucketed part files;
* ``stage_calls`` — stage tallies, the per-document chain, outlets (how a pass lays out its output);
* ``map_pass`` — the documents pass (one unit per input file) and map passes;
* ``group_step`` / ``cluster_step`` / ``key_count_step`` — the global steps;
* ``shards`` — the output shards; ``mix_passes`` — the mix;
* ``out`` — OUT's checks, lock, orphaned processes and the commit; ``progress`` — the console;
* ``environment`` — Ray on loopback; ``pipeline`` — phases, resume, the ledger's inputs, the run.
"""
# The names below load on first use (PEP 562), so that importing one light module of this package
# does not import the runner: a Ray worker's setup hook (``opencensus_fix.prime_worker``) must run
# as early as it can, and importing the runner (pyarrow, numpy, Ray Data) took 0.25 s and more on
# a loaded machine, long enough for an idle worker to be told to exit before the hook had run.
import importlib

_EXPORTS = {
    "init_ray": "environment", "ray_environment": "environment", "OutError": "out",
    "ResumeRefused": "pipeline", "RunResult": "pipeline", "plan_num_shards": "pipeline", "plan_segments": "pipeline",
    "run_pipeline": "pipeline", "RunError": "units",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"curate.run.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'curate.run' has no attribute {name!r}")
