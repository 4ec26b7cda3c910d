"""Domain (code / math / prose) and knowledge topic from static token embeddings.

Llama 3 ran code and math/reasoning classifiers to route documents to those parts of the mix, and
classified pages into knowledge categories so the mix could down-sample the over-represented ones.
This stage writes the same columns as the fastText students it replaces in the default pipeline
(``domain_fasttext``, ``topic_fasttext``), so mix rules and the teacher's audit read them unchanged:

* ``domain_<label>`` — P(code), P(math), P(prose), summing to 1 (``domain_head``, default
  ``builtin:domain_static``); the head's gates apply (``code`` needs two lines that read as code,
  ``math`` two lines with a formula, else the mass goes to ``prose``: what a page is *made of* is a
  question of form that a mean embedding blurs);
* ``topic`` and ``topic_score`` — the most probable of the 20 categories of
  ``classifiers/domain/taxonomy.json`` and its probability (``topic_head``, ``builtin:topic_static``).

Both heads are ``LabelHead`` JSON files (softmax regressions) trained by ``classifiers/domain_static``
on the MiniLM teacher's labels over the same static embeddings as ``quality_static``
(``builtin:static_minilm``, first 1,024 tokens). A text is tokenized once per worker for all three:
the embedder reuses the rows the quality filter just computed (``embeddings_reused``).
``drop_topics`` rejects documents whose topic is listed and whose ``topic_score`` is at least
``drop_min_score`` -> ``topic_dropped`` (detail ``topic=shopping_promotional score=0.91``).
Counters: ``documents_scored``, ``empty_text``, ``tokens_read``, ``embeddings_reused``,
``model_seconds``.
"""
from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from curate.contract import ScoreHistogram, StageOutput, StageParams
from curate.models.heads import LabelHead
from curate.models.resolve import model_card_entry, resolve_model
from curate.stages.base import Stage
from curate.stages.fasttext_classifier import local_reference
from curate.stages.quality_static import _embeddings_reference, same_embeddings


class StaticLabelsParams(StageParams):
    embeddings: str = Field(default="builtin:static_minilm", validate_default=True,
                            description="static embeddings: builtin:<name>, a folder, or a hub id in the local cache")
    domain_head: str | None = Field(default="builtin:domain_static", description="LabelHead JSON for domain_<label>, or null")
    topic_head: str | None = Field(default="builtin:topic_static", description="LabelHead JSON for topic / topic_score, or null")
    drop_topics: list[str] = Field(default=[], description="topics to reject")
    drop_min_score: float = Field(default=0.0, ge=0.0, le=1.0, description="reject a listed topic only from this topic_score")

    @field_validator("embeddings")
    @classmethod
    def _embeddings(cls, value: str) -> str:
        return _embeddings_reference(value)

    @field_validator("domain_head", "topic_head")
    @classmethod
    def _heads(cls, value: str | None) -> str | None:
        return None if value is None else local_reference(value)

    @model_validator(mode="after")
    def _consistent(self):
        heads = self.load_heads()
        if not heads:
            raise ValueError("nothing to score: set domain_head or topic_head")
        for name, head in heads.items():
            if not same_embeddings(head.encoder, self.embeddings):
                raise ValueError(f"{name}_head was trained on embeddings {head.encoder!r}, not {self.embeddings!r}")
        if len({head.max_tokens for head in heads.values()}) > 1:
            raise ValueError("domain_head and topic_head must read the same max_tokens (one embedding per text)")
        if self.drop_topics:
            if "topic" not in heads:
                raise ValueError("drop_topics needs a topic_head")
            unknown = sorted(set(self.drop_topics) - set(heads["topic"].labels))
            if unknown:
                raise ValueError(f"drop_topics: {unknown} are not topics of {self.topic_head} (its topics: {heads['topic'].labels})")
        return self

    def load_heads(self) -> dict[str, LabelHead]:
        out = {}
        for name, reference in (("domain", self.domain_head), ("topic", self.topic_head)):
            if reference is not None:
                try:
                    out[name] = LabelHead.load(resolve_model(reference))
                except (OSError, ValueError, KeyError) as exc:
                    raise ValueError(f"{name}_head {reference}: {exc}") from None
        return out


class StaticLabels(Stage):
    name = "static_labels"
    version = "1"
    Params = StaticLabelsParams
    writes = {"topic": pa.string(), "topic_score": pa.float32()}
    uses_model = True
    num_cpus = 1.0

    @classmethod
    def output_columns(cls, params: StaticLabelsParams) -> dict[str, pa.DataType]:
        heads = params.load_heads()
        out: dict[str, pa.DataType] = {}
        if "domain" in heads:
            out.update({f"domain_{label}": pa.float32() for label in heads["domain"].labels})
        if "topic" in heads:
            out.update(cls.writes)
        return out

    @classmethod
    def score_histograms(cls, params: StaticLabelsParams) -> dict[str, ScoreHistogram]:
        out = {}
        for column, kind in cls.output_columns(params).items():
            if pa.types.is_floating(kind):
                thresholds = (params.drop_min_score,) if column == "topic_score" and params.drop_topics and params.drop_min_score else ()
                label = "topic: P(top topic)" if column == "topic_score" else f"domain: P({column[len('domain_'):]})"
                out[column] = ScoreHistogram(0.0, 1.0, 40, thresholds=thresholds, label=f"{label}, static embeddings")
        return out

    @classmethod
    def models(cls, params: StaticLabelsParams) -> list[dict]:
        entries = [model_card_entry("embeddings", resolve_model(params.embeddings, allow_hub=True), reference=params.embeddings)]
        for name, reference in (("domain_head", params.domain_head), ("topic_head", params.topic_head)):
            if reference is not None:
                entries.append(model_card_entry(name, resolve_model(reference), reference=reference))
        return entries

    def setup(self) -> None:
        import os

        from curate.models.static_embed import StaticEmbedder, local_folder

        if self.num_cpus <= 1:
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.heads = self.params.load_heads()
        max_tokens = next(iter(self.heads.values())).max_tokens
        self.embedder = StaticEmbedder(local_folder(resolve_model(self.params.embeddings, allow_hub=True)), max_tokens=max_tokens)

    def process(self, batch: pa.Table) -> StageOutput:
        self.ensure_setup()
        p: StaticLabelsParams = self.params
        texts = batch.column("text").to_pylist() if "text" in batch.column_names else [None] * batch.num_rows
        before = (self.embedder.tokens_read, self.embedder.reused)
        started = time.perf_counter()
        embeddings = self.embedder.encode(texts)
        empty = ~np.any(embeddings, axis=1)
        columns: dict[str, pa.Array] = {}
        topic_probabilities = None
        if "domain" in self.heads:
            head = self.heads["domain"]
            probabilities = head.predict(embeddings, texts)
            for j, label in enumerate(head.labels):
                columns[f"domain_{label}"] = pa.array(probabilities[:, j], type=pa.float32(), mask=empty)
        if "topic" in self.heads:
            head = self.heads["topic"]
            topic_probabilities = head.predict(embeddings, texts)
            best = np.nan_to_num(topic_probabilities, nan=-1.0).argmax(axis=1)
            top = topic_probabilities[np.arange(len(best)), best] if len(best) else np.zeros(0)
            columns["topic"] = pa.array([None if e else head.labels[b] for e, b in zip(empty, best, strict=True)], type=pa.string())
            columns["topic_score"] = pa.array(top, type=pa.float32(), mask=empty)
        seconds = time.perf_counter() - started
        for column, array in columns.items():
            index = batch.schema.get_field_index(column)
            batch = batch.set_column(index, column, array) if index >= 0 else batch.append_column(column, array)
        histograms = self.histogram_counts(batch)

        reasons: list[str | None] = [None] * batch.num_rows
        details: list[str | None] = [None] * batch.num_rows
        if p.drop_topics and topic_probabilities is not None:
            labels = self.heads["topic"].labels
            dropped = {labels.index(t) for t in p.drop_topics}
            for row, scores in enumerate(topic_probabilities):
                if empty[row]:
                    continue
                best = int(scores.argmax())
                if best in dropped and scores[best] >= p.drop_min_score:
                    reasons[row], details[row] = "topic_dropped", f"topic={labels[best]} score={scores[best]:.2f}"
        kept, rejected = self.split(batch, [r is None for r in reasons], reasons, details)
        counters = {
            "documents_scored": float((~empty).sum()), "empty_text": float(empty.sum()),
            "tokens_read": float(self.embedder.tokens_read - before[0]),
            "embeddings_reused": float(self.embedder.reused - before[1]), "model_seconds": seconds,
        }
        return StageOutput(kept=kept, rejected=rejected, counters=counters, histograms=histograms)
