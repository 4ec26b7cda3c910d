"""fastText text classifiers: one text normalisation for training and inference, label probabilities
for every label, and the student recipe (train, quantise, check) the ``classifiers/`` folders use.

Normalisation (``fasttext_line``): fastText reads one line of space-separated tokens, so line
breaks become spaces; text is lower-cased and every punctuation or symbol character becomes a token
of its own (``f(x) {`` -> ``f ( x ) {``), which gives a code detector ``{ ; = (`` to count and a
small student fewer distinct words to learn. The same function runs at training and at scoring:
a model trained on other preprocessing still loads, and its scores are as good as the match.

Reproducibility: training runs one thread with a fixed seed (fastText's Hogwild threads make the
weights depend on scheduling otherwise). Even so, this fastText build is not bit-reproducible:
measured here, one retraining in three gives different weights (and labels that agree on the
clear cases). A run's output is reproducible because the artifact is a committed file whose
sha256 the card records, not because retraining gives the same bytes.

fastText 0.9.2 (the fasttext-numpy2-wheel build) fails with "Encountered NaN" when trained with
``wordNgrams=1`` (no hashed n-gram buckets): ``train_student`` needs ``word_ngrams >= 2``.
"""
from __future__ import annotations

import math
import os
import random
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

LABEL_PREFIX = "__label__"
DEFAULT_MAX_CHARS = 20_000
_BREAKS = re.compile(r"\s+")
_SYMBOL = re.compile(r"([^\w\s])")


def fasttext_line(text: str | None, max_chars: int | None = DEFAULT_MAX_CHARS) -> str:
    """What a classifier reads: the head of ``text`` (``max_chars``), lower-cased, symbols split off,
    on one line. "" for an empty text."""
    if not text:
        return ""
    if max_chars is not None:
        text = text[:max_chars]
    return _BREAKS.sub(" ", _SYMBOL.sub(r" \1 ", text.lower())).strip()


def _load(path: str):
    import fasttext

    # fastText prints a warning to stderr for every load of a .bin from the 0.9 C++ API; harmless.
    return fasttext.load_model(path)


class FastTextClassifier:
    """``FastTextClassifier(path).predict_proba(["some text"])`` -> (1, labels) probabilities."""

    def __init__(self, path: str | Path, max_chars: int | None = DEFAULT_MAX_CHARS):
        self.path = str(path)
        self.model = _load(self.path)
        self.labels = tuple(label[len(LABEL_PREFIX):] if label.startswith(LABEL_PREFIX) else label
                            for label in self.model.get_labels())
        self._index = {label: i for i, label in enumerate(self.labels)}
        self.max_chars = max_chars

    def predict_proba(self, texts: Sequence[str | None]) -> np.ndarray:
        """(len(texts), len(labels)) float64; NaN rows for empty texts (no evidence is not a score)."""
        return self.predict_lines([fasttext_line(t, self.max_chars) for t in texts])

    def predict_lines(self, lines: Sequence[str]) -> np.ndarray:
        out = np.full((len(lines), len(self.labels)), np.nan)
        todo = [i for i, line in enumerate(lines) if line]
        if todo:
            labels, probabilities = self.model.predict([lines[i] for i in todo], k=-1)
            for i, row_labels, row_probabilities in zip(todo, labels, probabilities):
                row = out[i]
                row[:] = 0.0
                for label, p in zip(row_labels, row_probabilities):
                    row[self._index[label[len(LABEL_PREFIX):]]] = p
        return np.clip(out, 0.0, 1.0)


def labels_of(path: str | Path) -> tuple[str, ...]:
    """A model's labels (loads it: for a quantised student that is a few MB and milliseconds)."""
    return FastTextClassifier(path).labels


def train_student(examples: Iterable[tuple[str, str]], out_path: str | Path, *, dim: int = 64, epoch: int = 25,
                  lr: float = 0.5, word_ngrams: int = 2, min_count: int = 2, bucket: int = 200_000,
                  quantize: bool = True, cutoff: int = 50_000, seed: int = 0, max_chars: int | None = DEFAULT_MAX_CHARS,
                  balance: bool = True, max_repeat: int = 20) -> Path:
    """Train a supervised fastText model on ``(label, text)`` pairs and save it to ``out_path``
    (``.ftz`` when quantised: product-quantised, vocabulary cut to the ``cutoff`` most useful words
    and retrained, typically 50-100x smaller than the ``.bin``)."""
    import fasttext

    if word_ngrams < 2:
        raise ValueError("word_ngrams must be >= 2 (fastText 0.9.2 diverges to NaN without n-gram buckets)")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    lines = [(label, line) for label, line in ((label, fasttext_line(text, max_chars)) for label, text in examples) if line]
    if balance and lines:
        counts = Counter(label for label, _ in lines)
        largest = max(counts.values())
        lines = [row for row in lines for _ in range(min(max_repeat, math.ceil(largest / counts[row[0]])))]
    random.Random(seed).shuffle(lines)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as handle:
        train_file = handle.name
        for label, line in lines:
            handle.write(f"{LABEL_PREFIX}{label} {line}\n")
    try:
        model = fasttext.train_supervised(input=train_file, dim=dim, epoch=epoch, lr=lr, wordNgrams=word_ngrams,
                                          minCount=min_count, bucket=bucket, thread=1, seed=seed, verbose=0)
        if quantize:
            model.quantize(input=train_file, qnorm=True, retrain=True, cutoff=cutoff, thread=1, verbose=0)
        model.save_model(str(out_path))
    finally:
        os.unlink(train_file)
    return out_path
