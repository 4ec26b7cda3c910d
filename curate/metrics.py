"""Ranking metrics the product itself uses (a classifier head's cross-validation, a distilled
student's agreement): ROC-AUC, its bootstrap interval, stratified folds. The evaluation harness
(``evals/``) imports them from here."""
from __future__ import annotations

import random
from collections.abc import Sequence


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """P(score of a random positive > score of a random negative), ties counted half (Mann-Whitney)."""
    pairs = sorted(zip(scores, labels, strict=True))
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        raise ValueError("ROC-AUC needs both labels")
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mid_rank = (i + 1 + j) / 2  # 1-based average rank of the tie group
        rank_sum += mid_rank * sum(label for _, label in pairs[i:j])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def bootstrap_auc(scores: Sequence[float], labels: Sequence[int], rounds: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the AUC over bootstrap resamples of the documents."""
    rng = random.Random(seed)
    n = len(scores)
    values = []
    for _ in range(rounds):
        idx = [rng.randrange(n) for _ in range(n)]
        sample_labels = [labels[i] for i in idx]
        if 0 < sum(sample_labels) < n:
            values.append(roc_auc([scores[i] for i in idx], sample_labels))
    values.sort()
    return values[int(0.025 * len(values))], values[int(0.975 * len(values)) - 1]


def stratified_folds(labels: Sequence[int], folds: int, seed: int = 0) -> list[int]:
    """A fold number per document: each label's documents shuffled (seeded) and dealt round-robin,
    so every fold has both labels in the corpus's proportion (cross-validating the classifiers)."""
    if folds < 2:
        raise ValueError(f"folds must be >= 2, not {folds}")
    rng = random.Random(seed)
    assignment = [0] * len(labels)
    for label in sorted(set(labels)):
        members = [i for i, value in enumerate(labels) if value == label]
        rng.shuffle(members)
        for position, i in enumerate(members):
            assignment[i] = position % folds
    return assignment
