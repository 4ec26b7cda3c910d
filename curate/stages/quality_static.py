"""Score quality with static token embeddings and a logistic head; filter the languages it knows.

Each document's text (its first ``max_tokens`` tokens, 1,024 by default: a static embedder can
afford most of the page) becomes the mean of its tokens' rows of a static embedding matrix
(``curate.models.static_embed``; ``builtin:static_minilm`` is distilled from the MiniLM teacher's
encoder), and a ``LogisticHead`` trained on DCLM's human quality labels
(``builtin:quality_static``, ``classifiers/quality_static``) turns it into ``quality_static`` =
P(high quality). Any head trained on the same embeddings works — ``curate distill`` writes one
trained on a run's own documents labelled by the teacher.

Keep rule: with ``min_score`` > 0, a document whose ``lang`` is in ``languages`` and whose score is
below ``min_score`` is rejected as ``quality_low`` (detail ``quality_static=0.12<0.30``). Documents
in other languages are scored (the column is a label the mix can read) but never removed by it:
the head learned English pages, and its scores elsewhere are not evidence (counted as
``documents_outside_languages`` and, of those, ``below_threshold_outside_languages``). An empty
``languages`` list applies the threshold to every document.

Counters: ``documents_scored``, ``empty_text``, ``tokens_read``, ``truncated_documents``,
``model_seconds``. A document's score depends on its text alone (each row is a sum over its own
sorted token ids), so batches and workers cannot change a bit of it. The tokenizer's Rust thread
pool is kept to the worker's one CPU (``TOKENIZERS_PARALLELISM=false`` unless set): Ray already
runs one worker per core, and a pool per worker would oversubscribe them.
"""
from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from curate.contract import ScoreHistogram, StageOutput, StageParams
from curate.models.heads import LogisticHead
from curate.models.resolve import ModelReferenceError, model_card_entry, resolve_model
from curate.stages.base import Stage
from curate.stages.embed_classifier import _encoder_reference as _embeddings_reference
from curate.stages.fasttext_classifier import format_beyond, local_reference

COLUMN = "quality_static"
REASON = "quality_low"


def same_embeddings(a: str, b: str) -> bool:
    """Whether two references name the same embeddings (as written, or resolved)."""
    if a == b:
        return True
    try:
        return resolve_model(a, allow_hub=True) == resolve_model(b, allow_hub=True)
    except ModelReferenceError:
        return False


class QualityStaticParams(StageParams):
    embeddings: str = Field(default="builtin:static_minilm", validate_default=True,
                            description="static embeddings: builtin:<name>, a folder, or a hub id in the local cache")
    head: str = Field(default="builtin:quality_static", validate_default=True,
                      description="LogisticHead JSON trained on these embeddings (builtin:<name> or a path)")
    min_score: float = Field(default=0.0, ge=0.0, le=1.0, description=f"{COLUMN} below this -> {REASON} (0: label only)")
    languages: list[str] = Field(default=["en"], description="lang values the threshold applies to (empty: all)")

    @field_validator("embeddings")
    @classmethod
    def _embeddings(cls, value: str) -> str:
        return _embeddings_reference(value)

    @field_validator("head")
    @classmethod
    def _head(cls, value: str) -> str:
        return local_reference(value)

    @model_validator(mode="after")
    def _head_matches(self):
        head = self.load_head()
        if not same_embeddings(head.encoder, self.embeddings):
            raise ValueError(f"head {self.head} was trained on embeddings {head.encoder!r}, not {self.embeddings!r}")
        return self

    def load_head(self) -> LogisticHead:
        try:
            return LogisticHead.load(resolve_model(self.head))
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"head {self.head}: {exc}") from None


class QualityStatic(Stage):
    name = "quality_static"
    version = "1"
    Params = QualityStaticParams
    writes = {COLUMN: pa.float32()}
    uses_model = True
    num_cpus = 1.0
    # The card's quality-filter section: the score column and the reason it rejects with.
    filter_score = (COLUMN, REASON)

    @classmethod
    def reads(cls, params: QualityStaticParams) -> dict[str, str]:
        return {"languages": "lang"} if params.languages and params.min_score else {}

    @classmethod
    def score_histograms(cls, params: QualityStaticParams) -> dict[str, ScoreHistogram]:
        thresholds = (params.min_score,) if params.min_score else ()
        return {COLUMN: ScoreHistogram(0.0, 1.0, 40, thresholds=thresholds, label="quality P(high quality), static embeddings")}

    @classmethod
    def models(cls, params: QualityStaticParams) -> list[dict]:
        head = params.load_head()
        return [
            model_card_entry("embeddings", resolve_model(params.embeddings, allow_hub=True), reference=params.embeddings),
            model_card_entry("quality_head", resolve_model(params.head), reference=params.head,
                             trained_on=head.metrics.get("trained_on") or head.metrics.get("data")),
        ]

    def setup(self) -> None:
        import os

        from curate.models.static_embed import StaticEmbedder, local_folder

        if self.num_cpus <= 1:
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

        p: QualityStaticParams = self.params
        self.head = p.load_head()
        self.embedder = StaticEmbedder(local_folder(resolve_model(p.embeddings, allow_hub=True)), max_tokens=self.head.max_tokens)
        self.languages = set(p.languages)

    def process(self, batch: pa.Table) -> StageOutput:
        self.ensure_setup()
        p: QualityStaticParams = self.params
        texts = batch.column("text").to_pylist() if "text" in batch.column_names else [None] * batch.num_rows
        before = (self.embedder.tokens_read, self.embedder.truncated, self.embedder.reused)
        started = time.perf_counter()
        embeddings = self.embedder.encode(texts)
        scores = self.head.predict(embeddings)
        seconds = time.perf_counter() - started
        empty = np.isnan(scores)
        array = pa.array(scores, type=pa.float32(), mask=empty)
        index = batch.schema.get_field_index(COLUMN)
        batch = batch.set_column(index, COLUMN, array) if index >= 0 else batch.append_column(COLUMN, array)
        histograms = self.histogram_counts(batch)

        langs = batch.column("lang").to_pylist() if "lang" in batch.column_names else [None] * batch.num_rows
        applies = [not self.languages or lang in self.languages for lang in langs]
        # The stored float32 is what a reader of the shard sees: decide on it, so the detail and the
        # column never disagree about which side of the threshold a document is.
        stored = array.to_numpy(zero_copy_only=False)
        reasons: list[str | None] = [None] * batch.num_rows
        details: list[str | None] = [None] * batch.num_rows
        outside_below = 0
        for row, score in enumerate(stored):
            if empty[row] or not p.min_score or not score < p.min_score:
                continue
            if applies[row]:
                reasons[row], details[row] = REASON, f"{COLUMN}={format_beyond(float(score), p.min_score, '<')}"
            else:
                outside_below += 1
        kept, rejected = self.split(batch, [r is None for r in reasons], reasons, details)
        counters = {
            "documents_scored": float((~empty).sum()), "empty_text": float(empty.sum()),
            "tokens_read": float(self.embedder.tokens_read - before[0]),
            "truncated_documents": float(self.embedder.truncated - before[1]), "model_seconds": seconds,
            "embeddings_reused": float(self.embedder.reused - before[2]),
            "documents_outside_languages": float(sum(1 for a, e in zip(applies, empty, strict=True) if not a and not e)),
            "below_threshold_outside_languages": float(outside_below),
        }
        return StageOutput(kept=kept, rejected=rejected, counters=counters, histograms=histograms)
