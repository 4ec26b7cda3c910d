"""Ray for a run: the environment every Ray process needs on loopback-only machines, starting or
joining Ray, and recording which processes an embedded run started (so the next run can end them
if this one is killed — see out.py)."""
from __future__ import annotations

import logging
import os
from typing import Any

from curate.config import PipelineConfig


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

    from curate.run import opencensus_fix

    embedded = not address
    os.environ.update(ray_environment(embedded))
    # Ray 2.60's workers can abort at exit ("Mutex corrupt ... SIGABRT", opencensus_fix.py has the
    # cause): each worker, and this driver, builds the object whose late construction races.
    opencensus_fix.prime_worker()
    if ray.is_initialized():
        mode = "existing"
    elif embedded:
        # address="local": always start a fresh embedded instance; a bare init() would join any
        # cluster a `ray start` on this machine left recorded in /tmp/ray. Worker output stays in
        # the session's log files: the console shows curate's progress, and a worker that dies is
        # reported by the unit that was running on it.
        kwargs: dict[str, Any] = {"address": "local", "include_dashboard": False, "log_to_driver": False,
                                  "logging_level": logging.WARNING, "runtime_env": opencensus_fix.runtime_env()}
        if config.ray.num_cpus:
            kwargs["num_cpus"] = config.ray.num_cpus
        if config.ray.object_store_mib:
            kwargs["object_store_memory"] = config.ray.object_store_mib * 2**20
        ray.init(**kwargs)
        mode = "embedded"
    else:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, runtime_env=opencensus_fix.runtime_env())
        mode = "cluster"
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return {
        "mode": mode,
        "ray_version": ray.__version__,
        "nodes": len(nodes),
        "cpus": int(sum(n.get("Resources", {}).get("CPU", 0) for n in nodes)),
        "gpus": int(sum(n.get("Resources", {}).get("GPU", 0) for n in nodes)),
    }


def session_dir() -> str | None:
    """The embedded Ray session's folder (every process of the session names it on its command line)."""
    try:
        import ray

        return ray._private.worker._global_node.get_session_dir_path()
    except Exception:
        return None
