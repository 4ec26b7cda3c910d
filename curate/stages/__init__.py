"""Stage registry: the YAML ``stage:`` key -> the class that implements it.

Each stage lives in its own module; add new ones to ``_STAGE_MODULES``.
"""
from __future__ import annotations

import importlib

from curate.contract import StageOutput, StageParams, reject_rows
from curate.stages.base import Stage

_STAGE_MODULES = [
    "curate.stages.url_filter",
    "curate.stages.extract_html",
    "curate.stages.length_filter",
    "curate.stages.decontaminate",
    "curate.stages.url_key",
    "curate.stages.url_dedup",
    "curate.stages.pii_scrub",
    "curate.stages.lang_id",
    "curate.stages.exact_dedup",
    "curate.stages.fuzzy_dedup",
    "curate.stages.line_dedup",
    "curate.stages.gopher_repetition",
    "curate.stages.gopher_quality",
    "curate.stages.c4_quality",
    "curate.stages.dirty_words",
    "curate.stages.token_distribution",
    "curate.stages.fasttext_classifier",
    "curate.stages.quality_fasttext",
    "curate.stages.quality_static",
    "curate.stages.static_labels",
    "curate.stages.domain_fasttext",
    "curate.stages.topic_fasttext",
    "curate.stages.embed_classifier",
    "curate.stages.hf_classifier",
]


def registry() -> dict[str, type[Stage]]:
    stages: dict[str, type[Stage]] = {}
    for module_name in _STAGE_MODULES:
        module = importlib.import_module(module_name)
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Stage) and obj.__module__ == module_name and "name" in vars(obj):
                stages[obj.name] = obj
    return stages


__all__ = ["Stage", "StageOutput", "StageParams", "reject_rows", "registry"]
