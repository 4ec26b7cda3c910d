"""Score documents with any Hugging Face sequence classifier; optionally keep by score.

``model`` is a model reference (``curate.models.resolve``): a folder written by ``save_pretrained``,
``builtin:<name>``, or a hub id found in the local Hugging Face cache — the same folder layout, so a
user's own hub model loads exactly like a local one. Its config (read on the driver when the
parameters are validated, so a missing model or a wrong label fails before any work) says what
the stage writes:

* a classification head: ``<prefix>_<label>`` (float32) per label, the softmax probability (a
  sigmoid per label when ``problem_type`` is ``multi_label_classification``); ``labels`` picks
  which ones. Column names are the label lower-cased, other characters than ``[a-z0-9]`` as ``_``.
* a regression head (``problem_type: regression``, or one label without a problem type, as
  ``transformers`` treats it; ``head`` overrides): one ``<prefix>_score`` (float32), the raw output.

The model runs on an actor pool, loaded once per actor (``curate.models.seqcls``): on CUDA when the
actor is given a GPU (``num_gpus``) and one is visible, else on CPU with ``torch_threads`` threads
(default: the actor's ``num_cpus``). Texts are read from their start, ``max_tokens`` tokens at most
(bounded by the model's positions). On CPU each text is its own forward pass, unpadded, so its
scores are bit-identical whatever block, batch size or order it arrives in (given the pinned
thread count, machine type and library versions); on a GPU texts are scored ``batch_size`` at a
time in order of length, padded, and a score can differ in its last bits with its batch companions
(``batch_size: 1`` restores batch independence there; see ``curate.models.batching``).

Filtering: ``min_score: {label: t}`` rejects a document whose score for that label is below ``t``
(``<prefix>_low_score``, detail ``label=high score=0.12<0.50``); ``max_score`` rejects one above
(``<prefix>_high_score``, ``label=toxic score=0.93>0.80``). For a regression head the label is
``score``. The first rule that fires is the reason (``min_score`` rules, then ``max_score``, each in
the order written).

Empty texts (null, or only whitespace) are not scored: their score columns are null, they are
kept whatever the rules say (no score to judge), and counted as ``empty_text``. Other counters:
``documents_scored``, ``tokens_scored`` (tokens the model read, special tokens included),
``truncated_documents`` (texts longer than ``max_tokens`` tokens) and ``model_seconds`` (forward
passes only; ``documents_scored / model_seconds`` is the model's throughput). The card draws a
histogram per score column with the rules' thresholds.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from curate.contract import Resources, ScoreHistogram, StageOutput, StageParams
from curate.models import ModelReferenceError, model_card_entry, resolve_model
from curate.models.seqcls import HEADS, head_kind, label_names, position_limit
from curate.stages.base import Stage

_PREFIX = re.compile(r"^[a-z][a-z0-9_]*$")


@lru_cache(maxsize=64)
def _model_config(resolved: str):
    """The model's ``PretrainedConfig`` (config.json only: no weights, cheap on the driver)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(resolved)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read a model config from {resolved!r}: {exc}") from None


def column_suffix(label: str) -> str:
    """``"High quality"`` -> ``"high_quality"``: a label as part of a column name."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "label"


class HfClassifierParams(StageParams):
    model: str = Field(description="sequence-classification model: local folder, builtin:<name>, or hub id (from the HF cache)")
    prefix: str = Field(default="hf", description="score columns are <prefix>_<label> (<prefix>_score for a regression head)")
    labels: list[str] | None = Field(default=None, description="labels to write a column for (names as in the model's id2label); null: all")
    head: str | None = Field(default=None, description=f"override the head kind read from the config: one of {', '.join(HEADS)}")
    max_tokens: int = Field(default=512, ge=2, description="tokens of each text's start the model reads (default: 512, or the model's positions if fewer)")
    batch_size: int = Field(default=16, ge=1, description="texts per forward pass on a GPU (on CPU each text runs alone, so scores do not depend on the batch)")
    num_cpus: float = Field(default=1.0, gt=0, description="CPUs per actor")
    num_gpus: float = Field(default=0.0, ge=0, description="GPUs per actor (0: CPU)")
    memory_mib: int | None = Field(default=None, ge=1, description="memory Ray reserves per actor (null: none), for a large model")
    torch_threads: int | None = Field(default=None, ge=1, description="CPU threads per actor (null: num_cpus, at least 1)")
    min_score: dict[str, float] = Field(default={}, description="label -> threshold: a score below it rejects (<prefix>_low_score)")
    max_score: dict[str, float] = Field(default={}, description="label -> threshold: a score above it rejects (<prefix>_high_score)")
    score_range: tuple[float, float] | None = Field(
        default=None, description="histogram range [low, high] of a regression score (null: [0, 1]; probabilities are always [0, 1])")

    @field_validator("model")
    @classmethod
    def _resolve(cls, value: str) -> str:
        # Resolved on the driver: every actor gets an absolute path (or the hub id), and a missing
        # model fails before any work starts.
        try:
            resolved = resolve_model(value, expect="dir", allow_hub=True)
        except ModelReferenceError as exc:
            raise ValueError(str(exc)) from None
        _model_config(resolved)
        return resolved

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError(f"prefix {value!r} must be lowercase letters, digits and _, starting with a letter")
        return value

    @field_validator("head")
    @classmethod
    def _head(cls, value: str | None) -> str | None:
        if value is not None and value not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, got {value!r}")
        return value

    @field_validator("score_range")
    @classmethod
    def _range(cls, value):
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"score_range must be [low, high] with low < high, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _fits_the_model(self):
        config = _model_config(self.model)
        architectures = getattr(config, "architectures", None) or []
        if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
            # from_pretrained would add a randomly initialised head and score noise without complaint.
            raise ValueError(
                f"model {self.model!r} is a {', '.join(architectures)}, not a sequence classifier: fine-tune a "
                "classification head first (classifiers/quality_transformer/train.py --base <it>)")
        kind = head_kind(config, self.head)
        available = ["score"] if kind == "regression" else label_names(config)
        suffixes = [column_suffix(label) for label in available]
        if len(set(suffixes)) != len(suffixes):
            raise ValueError(f"labels {available} of {self.model!r} give clashing column names {suffixes}")
        if self.labels is not None:
            unknown = [label for label in self.labels if label not in available]
            if unknown:
                raise ValueError(f"labels: {unknown} not among the model's labels {available}")
            if not self.labels:
                raise ValueError("labels: empty; omit it to write every label")
        written = self.labels if self.labels is not None else available
        for key in ("min_score", "max_score"):
            for label, threshold in getattr(self, key).items():
                if label not in written:
                    raise ValueError(f"{key}: label {label!r} is not a written score (written: {written})")
                if not math.isfinite(threshold):
                    raise ValueError(f"{key}[{label!r}] must be a finite number, got {threshold}")
                if kind != "regression" and not 0.0 <= threshold <= 1.0:
                    raise ValueError(f"{key}[{label!r}] = {threshold} is outside [0, 1], the range of a probability")
        limit = position_limit(config)
        if limit is not None and self.max_tokens > limit:
            if "max_tokens" in self.model_fields_set:
                raise ValueError(f"max_tokens {self.max_tokens} exceeds the {limit} positions of {self.model!r}")
            # The default (512) is a cap, not a request: a model built for fewer positions reads
            # all it can. Frozen parameters are set once here, before anything reads them.
            object.__setattr__(self, "max_tokens", limit)
        return self

    def score_columns(self) -> dict[str, str]:
        """Column name -> label, for the labels this stage writes, in the model's output order."""
        config = _model_config(self.model)
        if head_kind(config, self.head) == "regression":
            return {f"{self.prefix}_score": "score"}
        wanted = set(self.labels) if self.labels is not None else None
        return {f"{self.prefix}_{column_suffix(label)}": label for label in label_names(config) if wanted is None or label in wanted}


def _compare(score: float, threshold: float, sign: str) -> str:
    """``score<threshold`` with enough digits that the score does not print as the threshold."""
    digits = 2
    while digits < 6 and (round(score, digits) >= threshold if sign == "<" else round(score, digits) <= threshold):
        digits += 1
    return f"{score:.{digits}f}{sign}{threshold:.2f}"


class HfClassifier(Stage):
    name = "hf_classifier"
    # 2: on CPU one text per forward pass, unpadded (scores no longer move with the batch).
    version = "2"
    Params = HfClassifierParams
    uses_model = True

    @classmethod
    def output_columns(cls, params: HfClassifierParams) -> dict[str, pa.DataType]:
        return {column: pa.float32() for column in params.score_columns()}

    @classmethod
    def placement(cls, params: HfClassifierParams) -> Resources:
        return Resources(True, params.num_cpus, params.num_gpus, params.memory_mib * 2**20 if params.memory_mib else None)

    @classmethod
    def models(cls, params: HfClassifierParams) -> list[dict]:
        return [model_card_entry("hf_classifier", params.model)]

    @classmethod
    def score_histograms(cls, params: HfClassifierParams) -> dict[str, ScoreHistogram]:
        regression = head_kind(_model_config(params.model), params.head) == "regression"
        low, high = (params.score_range or (0.0, 1.0)) if regression else (0.0, 1.0)
        histograms = {}
        for column, label in params.score_columns().items():
            thresholds = tuple(rules[label] for rules in (params.min_score, params.max_score) if label in rules)
            what = "score (regression head)" if regression else f"P({label})"
            histograms[column] = ScoreHistogram(low, high, 40, thresholds=thresholds, label=f"{what}, {params.model}")
        return histograms

    def setup(self) -> None:
        import torch

        from curate.models.seqcls import SequenceClassifier

        p: HfClassifierParams = self.params
        device = "cuda" if p.num_gpus > 0 and torch.cuda.is_available() else "cpu"
        if device == "cpu":
            # One actor per num_cpus: more threads than that only contend with the other actors.
            torch.set_num_threads(p.torch_threads or max(1, int(p.num_cpus)))
        self.classifier = SequenceClassifier(p.model, max_tokens=p.max_tokens, batch_size=p.batch_size, device=device, head=p.head)
        self.columns = p.score_columns()
        self.output_index = {column: self.classifier.labels.index(label) for column, label in self.columns.items()}

    def process(self, batch: pa.Table) -> StageOutput:
        self.ensure_setup()
        p: HfClassifierParams = self.params
        texts = batch.column("text").to_pylist() if "text" in batch.column_names else [None] * batch.num_rows
        result = self.classifier.score(texts)
        scores: dict[str, list[float | None]] = {}
        for column, index in self.output_index.items():
            values = result.values[:, index]
            scores[column] = [float(v) if ok else None for v, ok in zip(values, result.scored, strict=True)]
            array = pa.array(scores[column], type=pa.float32())
            position = batch.schema.get_field_index(column)
            batch = batch.set_column(position, column, array) if position >= 0 else batch.append_column(column, array)
        histograms = self.histogram_counts(batch)

        label_column = {label: column for column, label in self.columns.items()}
        keep, reasons, details = [], [], []
        for i in range(batch.num_rows):
            reason = detail = None
            for rules, sign, suffix in ((p.min_score, "<", "low_score"), (p.max_score, ">", "high_score")):
                for label, threshold in rules.items():
                    score = scores[label_column[label]][i]
                    if score is not None and (score < threshold if sign == "<" else score > threshold):
                        reason, detail = f"{p.prefix}_{suffix}", f"label={label} score={_compare(score, threshold, sign)}"
                        break
                if reason:
                    break
            keep.append(reason is None)
            reasons.append(reason)
            details.append(detail)
        kept, rejected = self.split(batch, keep, reasons, details)
        counters = {
            "documents_scored": float(result.scored.sum()),
            "tokens_scored": float(result.tokens.sum()),
            "truncated_documents": float(result.truncated.sum()),
            "model_seconds": result.model_seconds,
            "empty_text": float((~result.scored).sum()),
        }
        return StageOutput(kept=kept, rejected=rejected, counters=counters, histograms=histograms)
