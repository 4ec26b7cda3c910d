"""Consecutive CPU model stages share one actor pool (the runner's chaining rule)."""
from __future__ import annotations

from curate.config import parse_pipeline
from curate.runner import actor_chains


def _stages(*names, params=None):
    params = params or {}
    return parse_pipeline({"name": "t", "stages": [{"stage": n, "params": params.get(n, {})} for n in names]}).stages


def test_runs_of_cpu_actor_stages_are_chained():
    stages = _stages("length_filter", "lang_id", "quality_fasttext", "domain_fasttext", "exact_dedup", "topic_fasttext")
    # lang_id + two students form one chain; the lone student after the shuffle runs on its own pool.
    assert actor_chains(stages) == {1: [1, 2, 3], 2: [], 3: []}


def test_a_gpu_stage_breaks_the_chain():
    stages = _stages("quality_fasttext", "embed_classifier", "topic_fasttext", params={"embed_classifier": {"num_gpus": 1}})
    assert actor_chains(stages) == {}
    stages = _stages("quality_fasttext", "embed_classifier", "topic_fasttext")
    assert actor_chains(stages) == {0: [0, 1, 2], 1: [], 2: []}
