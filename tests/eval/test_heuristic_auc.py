"""The combined heuristics against human quality labels (DCLM annotations in ../shared), and the
AUC arithmetic itself."""
from __future__ import annotations

import pytest

from evals.quality import bootstrap_auc, direction, load_labelled, roc_auc, score_labelled
from tests.conftest import REPO, shared_path


def test_roc_auc_counts_ties_half():
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert roc_auc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5
    assert roc_auc([3, 2, 1], [1, 1, 0]) == 1.0
    low, high = bootstrap_auc([0.1, 0.4, 0.35, 0.8, 0.2, 0.9], [0, 0, 1, 1, 0, 1], rounds=200)
    assert 0.0 <= low <= high <= 1.0


def test_score_directions_come_from_the_rules():
    assert direction("rep_dup_line_frac") == -1 and direction("gopher_stop_words") == 1
    assert direction("token_kl_excess") == -1 and direction("gopher_word_count") is None


@pytest.mark.slow
def test_heuristics_rank_human_labels_better_than_chance():
    rows = load_labelled(shared_path("data", "quality", "dclm-human", "agreement_data.jsonl"))
    report = score_labelled(rows, REPO / "pipelines" / "llama3.yaml")
    combined = report["scores"]["combined (rules passed)"]
    assert combined["auc"] >= 0.65 and combined["ci"][0] > 0.5, combined
    assert report["scores"]["gopher_stop_words"]["auc"] >= 0.8
