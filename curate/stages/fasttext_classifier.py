"""Score documents with any fastText classifier (``.bin`` or ``.ftz``); optionally keep by score.

Every label's probability becomes a column ``<prefix>_<label>`` (float32; null for an empty text),
so a later mix can change its mind without re-scoring (Dolma's "tag first, decide later"). The
text a model reads is ``curate.models.fasttext_classifier.fasttext_line`` of the document: its
head (``max_chars``), lower-cased, symbols split off, on one line — what curate's own students are
trained on. The model is loaded once per actor; fastText is single-threaded, so one CPU.

Keep rules, checked in label order (the first that fires is the reason):

* ``min_score: {label: t}`` — P(label) < t -> ``fasttext_low_score`` (detail ``label=hq score=0.12<0.50``);
* ``max_score: {label: t}`` — P(label) > t -> ``fasttext_high_score`` (detail ``label=spam score=0.97>0.90``).

Empty texts get null scores and are kept (no evidence either way); they are counted
(``empty_text``). Counters: ``documents_scored``, ``chars_scanned``, ``model_seconds`` (the card's
throughput figures come from these). The card draws a histogram per score column.

The named students (``quality_fasttext``, ``domain_fasttext``, ``topic_fasttext``) are this stage
with curate's shipped models and their own column names; use this one for a model of your own.
"""
from __future__ import annotations

import time
from functools import lru_cache
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from curate.contract import ScoreHistogram, StageOutput, StageParams
from curate.models.fasttext_classifier import DEFAULT_MAX_CHARS, fasttext_lines
from curate.models.fasttext_classifier import FastTextClassifier as FastTextModel
from curate.models.resolve import ModelReferenceError, model_card_entry, resolve_model
from curate.stages.base import Stage

_IDENTIFIER = r"^[a-z][a-z0-9_]*$"


@lru_cache(maxsize=32)
def model_labels(path: str) -> tuple[str, ...]:
    """The labels of the model at ``path`` (loaded once per process for validation)."""
    return FastTextModel(path).labels


def local_reference(reference: str, expect: str = "file") -> str:
    """Check a model reference on the driver; a relative local path becomes absolute (workers may
    run elsewhere), ``builtin:`` references stay as written (they resolve the same everywhere)."""
    try:
        resolved = resolve_model(reference, expect=expect)
    except ModelReferenceError as exc:
        raise ValueError(str(exc)) from None
    return reference if reference.startswith("builtin:") else resolved


def format_beyond(score: float, threshold: float, sign: str) -> str:
    """``0.123<0.50``: enough digits that the score never prints as the threshold."""
    digits = 2
    while digits < 6 and round(score, digits) == round(threshold, digits):
        digits += 1
    return f"{score:.{digits}f}{sign}{threshold:.2f}"


class StudentModelParams(StageParams):
    """Parameters every fastText student stage shares: its model (checked, relative paths made
    absolute) and how much of each text it reads. Subclasses set the default model."""

    model: str = Field(description="the fastText model: a .bin/.ftz path or builtin:<name>")
    max_chars: int | None = Field(default=DEFAULT_MAX_CHARS, ge=1, description="characters of each text the model reads")

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        return local_reference(value)

    def model_labels(self) -> tuple[str, ...]:
        return model_labels(resolve_model(self.model))


class FastTextClassifierParams(StageParams):
    model: str = Field(description="the fastText model: a .bin/.ftz path or builtin:<name>")
    prefix: str = Field(default="fasttext", pattern=_IDENTIFIER, description="score columns are <prefix>_<label>")
    labels: list[str] | None = Field(default=None, description="labels to write columns for (null: every label of the model)")
    min_score: dict[str, float] = Field(default={}, description="label -> P(label) below this rejects")
    max_score: dict[str, float] = Field(default={}, description="label -> P(label) above this rejects")
    max_chars: int | None = Field(default=DEFAULT_MAX_CHARS, ge=1, description="characters of each text the model reads")

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        return local_reference(value)

    @model_validator(mode="after")
    def _labels_exist(self):
        known = model_labels(resolve_model(self.model))
        for where, names in (("labels", self.labels or []), ("min_score", self.min_score), ("max_score", self.max_score)):
            unknown = sorted(set(names) - set(known))
            if unknown:
                raise ValueError(f"{where}: {unknown} are not labels of {self.model} (its labels: {list(known)})")
        for where, thresholds in (("min_score", self.min_score), ("max_score", self.max_score)):
            for label, value in thresholds.items():
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{where}[{label!r}] = {value} is outside [0, 1]")
        return self

    def written_labels(self) -> tuple[str, ...]:
        known = model_labels(resolve_model(self.model))
        return tuple(self.labels) if self.labels else known


class FastTextClassifier(Stage):
    name = "fasttext_classifier"
    version = "1"
    Params = FastTextClassifierParams
    uses_model = True
    num_cpus = 1.0
    # What the card's histograms call the scores.
    score_label: ClassVar[str] = "fastText P(label)"

    # -- columns ---------------------------------------------------------------------------

    @classmethod
    def output_columns(cls, params: FastTextClassifierParams) -> dict[str, pa.DataType]:
        return {f"{params.prefix}_{label}": pa.float32() for label in params.written_labels()}

    def score_columns(self, probabilities: np.ndarray, labels: tuple[str, ...]) -> dict[str, pa.Array]:
        """Column name -> values, from the (rows, model labels) probabilities (NaN rows: empty text)."""
        p: FastTextClassifierParams = self.params
        out = {}
        for label in p.written_labels():
            values = probabilities[:, labels.index(label)]
            out[f"{p.prefix}_{label}"] = pa.array(values, type=pa.float32(), mask=np.isnan(values))
        return out

    def decide(self, probabilities: np.ndarray, labels: tuple[str, ...]) -> tuple[list[str | None], list[str | None]]:
        p: FastTextClassifierParams = self.params
        reasons: list[str | None] = [None] * len(probabilities)
        details: list[str | None] = [None] * len(probabilities)
        rules = [(label, t, "<", "fasttext_low_score") for label, t in p.min_score.items()]
        rules += [(label, t, ">", "fasttext_high_score") for label, t in p.max_score.items()]
        for row, scores in enumerate(probabilities):
            if np.isnan(scores).any():
                continue
            for label, threshold, sign, reason in rules:
                score = float(scores[labels.index(label)])
                if (score < threshold) if sign == "<" else (score > threshold):
                    reasons[row], details[row] = reason, f"label={label} score={format_beyond(score, threshold, sign)}"
                    break
        return reasons, details

    @classmethod
    def thresholds(cls, params: FastTextClassifierParams) -> dict[str, tuple[float, ...]]:
        out: dict[str, list[float]] = {}
        for label, value in [*params.min_score.items(), *params.max_score.items()]:
            out.setdefault(f"{params.prefix}_{label}", []).append(value)
        return {k: tuple(v) for k, v in out.items()}

    # -- contract --------------------------------------------------------------------------

    @classmethod
    def score_histograms(cls, params) -> dict[str, ScoreHistogram]:
        thresholds = cls.thresholds(params)
        return {column: ScoreHistogram(0.0, 1.0, 40, thresholds=thresholds.get(column, ()), label=f"{cls.score_label}: {column}")
                for column, kind in cls.output_columns(params).items() if pa.types.is_floating(kind)}

    @classmethod
    def models(cls, params) -> list[dict]:
        return [model_card_entry(cls.name, resolve_model(params.model), reference=params.model)]

    def setup(self) -> None:
        self.model = FastTextModel(resolve_model(self.params.model), max_chars=self.params.max_chars)

    def process(self, batch: pa.Table) -> StageOutput:
        self.ensure_setup()
        texts = batch.column("text").to_pylist() if "text" in batch.column_names else [None] * batch.num_rows
        started = time.perf_counter()
        lines = fasttext_lines(texts, self.params.max_chars)
        probabilities = self.model.predict_lines(lines)
        seconds = time.perf_counter() - started
        for column, array in self.score_columns(probabilities, self.model.labels).items():
            index = batch.schema.get_field_index(column)
            batch = batch.set_column(index, column, array) if index >= 0 else batch.append_column(column, array)
        histograms = self.histogram_counts(batch)
        reasons, details = self.decide(probabilities, self.model.labels)
        kept, rejected = self.split(batch, [r is None for r in reasons], reasons, details)
        empty = sum(1 for line in lines if not line)
        counters = {"documents_scored": float(len(lines) - empty), "empty_text": float(empty),
                    "chars_scanned": float(sum(len(line) for line in lines)), "model_seconds": seconds}
        return StageOutput(kept=kept, rejected=rejected, counters=counters, histograms=histograms)

