"""Shared fixtures: paths to ../shared and an embedded Ray session shared by the e2e tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from evals.shared import REPO, SHARED  # the one loader of ../shared (or $CURATE_SHARED)

__all__ = ["REPO", "SHARED", "shared_path"]  # tests import them from here

# Every Ray process these tests start binds to loopback, reports nothing, and agrees on auth.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared is not beside the repository ({path} missing); accuracy data unavailable")
    return path


@pytest.fixture(scope="session")
def ray_session():
    """One embedded Ray for the whole test session (start-up costs seconds)."""
    import ray

    from curate.run import opencensus_fix, ray_environment

    os.environ.update(ray_environment(embedded=True))
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, object_store_memory=512 * 2**20, include_dashboard=False, log_to_driver=False,
                 runtime_env=opencensus_fix.runtime_env())
    yield ray
    ray.shutdown()


# Whole suites of real-data scoring or model retraining: minutes, not seconds.
_ACCURACY_FILES = {"test_classifier_recipes.py", "test_extract_fast.py"}


def pytest_collection_modifyitems(config, items):
    """A test that starts Ray (it takes ``ray_session``) is ``slow``; one that scores a stage on
    the real sets (tests/eval/) or retrains a model is ``accuracy``: ``make test-fast`` leaves both out."""
    for item in items:
        if "ray_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
        path = item.path
        if path.parent.name == "eval" or path.name in _ACCURACY_FILES:
            item.add_marker(pytest.mark.accuracy)
