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
from curate.run.environment import init_ray, ray_environment
from curate.run.out import OutError
from curate.run.pipeline import ResumeRefused, RunResult, plan_num_shards, plan_segments, run_pipeline
from curate.run.units import RunError

__all__ = ["OutError", "ResumeRefused", "RunError", "RunResult", "init_ray", "plan_num_shards", "plan_segments",
           "ray_environment", "run_pipeline"]
