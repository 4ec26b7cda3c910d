"""fastText text classifiers: one text normalisation for training and inference, label probabilities
for every label, and the student recipe (train, quantise, check) the ``classifiers/`` folders use.

Normalisation (``fasttext_line``): fastText reads one line of space-separated tokens, so line
breaks become spaces; text is lower-cased and every punctuation or symbol character becomes a token
of its own (``f(x) {`` -> ``f ( x ) {``), which gives a code detector ``{ ; = (`` to count and a
small student fewer distinct words to learn. The same function runs at training and at scoring:
a model trained on other preprocessing still loads, and its scores are as good as the match.

Reproducibility: training runs one thread with a fixed seed (fastText's Hogwild threads make the
weights depend on scheduling otherwise), in a fresh interpreter (this build diverges to NaN far
more often in a process that has already quantised a model; ``_train_supervised``). Even so, it is
not bit-reproducible: measured here, one retraining in three gives different weights (and labels
that agree on the clear cases). A run's output is reproducible because the artifact is a committed file whose
sha256 the card records, not because retraining gives the same bytes.

fastText 0.9.2 (the fasttext-numpy2-wheel build) fails with "Encountered NaN" when trained with
``wordNgrams=1`` (no hashed n-gram buckets): ``train_student`` needs ``word_ngrams >= 2``.
"""
from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

LABEL_PREFIX = "__label__"
DEFAULT_MAX_CHARS = 20_000
# A line is the text's tokens joined by single spaces: maximal runs of word characters, and every
# other non-space character on its own. One findall pass does what "split off each symbol, then
# collapse the whitespace" does, 1.6x faster on real pages (tested equal).
_TOKEN = re.compile(r"\w+|[^\w\s]")


def fasttext_line(text: str | None, max_chars: int | None = DEFAULT_MAX_CHARS) -> str:
    """What a classifier reads: the head of ``text`` (``max_chars``), lower-cased, symbols split off,
    on one line. "" for an empty text."""
    if not text:
        return ""
    if max_chars is not None:
        text = text[:max_chars]
    return " ".join(_TOKEN.findall(text.lower()))


# The lines of the last batch normalised in this process, by (text, max_chars). The fastText stages
# run one after another on the same batch in one actor (the runner chains them), and normalising is
# half of a student's time: with this the second and third student find the lines already made.
_LAST_LINES: dict[tuple[str, int | None], str] = {}


def fasttext_lines(texts: Sequence[str | None], max_chars: int | None = DEFAULT_MAX_CHARS) -> list[str]:
    """``fasttext_line`` of each text, reusing the previous call's lines for texts it saw too."""
    global _LAST_LINES
    made: dict[tuple[str, int | None], str] = {}
    lines = []
    for text in texts:
        if not text:
            lines.append("")
            continue
        key = (text, max_chars)
        line = made.get(key)
        if line is None:
            line = _LAST_LINES.get(key)
            if line is None:
                line = fasttext_line(text, max_chars)
            made[key] = line
        lines.append(line)
    _LAST_LINES = made
    return lines


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
        return self.predict_lines(fasttext_lines(texts, self.max_chars))

    def predict_lines(self, lines: Sequence[str]) -> np.ndarray:
        out = np.full((len(lines), len(self.labels)), np.nan)
        todo = [i for i, line in enumerate(lines) if line]
        if todo:
            labels, probabilities = self.model.predict([lines[i] for i in todo], k=-1)
            for i, row_labels, row_probabilities in zip(todo, labels, probabilities, strict=True):
                row = out[i]
                row[:] = 0.0
                for label, p in zip(row_labels, row_probabilities, strict=True):
                    row[self._index[label[len(LABEL_PREFIX):]]] = p
        return np.clip(out, 0.0, 1.0)


def labels_of(path: str | Path) -> tuple[str, ...]:
    """A model's labels (loads it: for a quantised student that is a few MB and milliseconds)."""
    return FastTextClassifier(path).labels


TRAIN_ATTEMPTS = 5


def _finite(model) -> bool:
    """Whether a trained model's weights are all finite (quantised models are checked by quantize)."""
    import numpy as np

    if model.is_quantized():
        return True
    return bool(np.isfinite(model.get_output_matrix()).all() and np.isfinite(model.get_input_matrix()).all())


def _train_once(train_file: str, quantize: bool, cutoff: int, **arguments):
    import fasttext

    model = fasttext.train_supervised(input=train_file, **arguments)
    if not _finite(model):
        raise RuntimeError("Encountered NaN (in the trained weights)")
    if quantize:
        model.quantize(input=train_file, qnorm=True, retrain=True, cutoff=cutoff, thread=1, verbose=0)
    return model


def _train_supervised(train_file: str, out_path: str, quantize: bool, cutoff: int, **arguments) -> None:
    """Train (and quantise) into ``out_path``, from scratch again on "Encountered NaN". This fastText
    build now and then diverges — in training, or leaving non-finite weights — and far more often
    once the process has quantised a model (measured on a 320-line toy set: 0 of 15 fresh trainings,
    70 of 71 trainings after a quantisation in the same process), so ``train_student`` runs this in
    a fresh process each time. fastText is not bit-reproducible here anyway: another try is another
    sample of the same training, not a different recipe."""
    for attempt in range(TRAIN_ATTEMPTS):
        try:
            model = _train_once(train_file, quantize, cutoff, **{**arguments, "seed": arguments.get("seed", 0) + attempt})
            model.save_model(out_path)
            return
        except RuntimeError as exc:
            if "NaN" not in str(exc) or attempt == TRAIN_ATTEMPTS - 1:
                raise


def _train_job(job: dict) -> None:
    _train_supervised(job["train_file"], job["out_path"], job["quantize"], job["cutoff"], **job["arguments"])


def train_student(examples: Iterable[tuple[str, str]], out_path: str | Path, *, dim: int = 64, epoch: int = 25,
                  lr: float = 0.5, word_ngrams: int = 2, min_count: int = 2, bucket: int = 200_000,
                  quantize: bool = True, cutoff: int = 50_000, seed: int = 0, max_chars: int | None = DEFAULT_MAX_CHARS,
                  balance: bool = True, max_repeat: int = 20) -> Path:
    """Train a supervised fastText model on ``(label, text)`` pairs and save it to ``out_path``
    (``.ftz`` when quantised: product-quantised, vocabulary cut to the ``cutoff`` most useful words
    and retrained, typically 50-100x smaller than the ``.bin``)."""
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
        arguments = dict(dim=dim, epoch=epoch, lr=lr, wordNgrams=word_ngrams, minCount=min_count, bucket=bucket,
                         thread=1, seed=seed, verbose=0)
        # A fresh interpreter per training (see _train_supervised for why); it imports only this module.
        job = json.dumps({"train_file": train_file, "out_path": str(out_path), "quantize": quantize, "cutoff": cutoff,
                          "arguments": arguments})
        code = "import json, sys; from curate.models.fasttext_classifier import _train_job; _train_job(json.loads(sys.argv[1]))"
        done = subprocess.run([sys.executable, "-c", code, job], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"fastText training failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    finally:
        os.unlink(train_file)
    return out_path
