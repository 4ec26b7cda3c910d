"""The embedding teacher as a stage: MiniLM (or any encoder) embeddings with small heads.

Each document is embedded once (``curate.models.embed.MeanPooledEncoder``: mean-pooled, unit length,
truncated to ``max_tokens``) and scored by:

* ``quality_head`` (default ``builtin:quality_embed``, a ``LogisticHead`` JSON trained on DCLM's
  human labels by ``classifiers/quality_embed/train.py``) -> ``quality_embed`` = P(high quality);
* every head of ``taxonomy`` (default ``builtin:taxonomy`` = ``classifiers/domain/taxonomy.json``,
  zero-shot: similarity to written label descriptions) listed in ``heads`` -> ``<head>_embed`` (the
  top label), ``<head>_embed_score`` (its probability) and, with ``label_probabilities``, one
  ``<head>_embed_<label>`` probability per label.

On a CPU this runs at tens of documents per second (the fastText students at thousands): the
default pipeline runs the students, and this stage runs where a GPU is given (``num_gpus``; the
encoder moves to CUDA when the actor has one) or on a sample, to audit the students or label data
for new ones. ``min_quality`` > 0 rejects lower ``quality_embed`` as ``quality_embed_low``.
Counters: ``documents_scored``, ``tokens_read``, ``truncated_documents``, ``model_seconds``.

Determinism: a document's columns are a function of its text alone. On CPU the encoder runs each
text in its own forward call, unpadded, with torch's threads pinned to ``torch_threads`` (default
``num_cpus``), so the same text gets bit-identical float32 scores whatever block, batch size or
order it arrives in (on the same machine type and library versions). On a GPU texts are batched
``batch_size`` at a time, padded, and a score can differ in its last bits with its batch
companions; ``batch_size: 1`` restores batch independence there (``curate.models.batching``).

Auditing on a sample: with ``sample_fraction`` < 1 only the documents whose id hashes (xxh64,
salted with ``sample_seed``) below that fraction are embedded; the others get null teacher columns
and are kept untouched (``documents_not_sampled``), so a CPU run can afford the teacher on, say,
2 % of the corpus. Where the students ran before this stage, every scored document is compared with
them and the card's counters say how often they agree: ``audit_quality_documents`` /
``audit_quality_agree`` (``quality_fasttext`` and ``quality_embed`` on the same side of 0.5),
``audit_quality_static_*`` (the same for ``quality_static``),
``audit_domain_*`` (top label of ``domain_<label>`` vs ``domain_embed``), ``audit_topic_*``
(``topic`` vs ``topic_embed``) — the students' agreement with their teacher on this run's data.
The card warns when an agreement is below the student's ``agreement_floors`` entry (a student used
outside what it learned: another kind of crawl, another language mix, or an extraction that changed).
"""
from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import xxhash
from pydantic import Field, field_validator, model_validator

from curate.contract import Resources, ScoreHistogram, StageOutput, StageParams
from curate.models.heads import LogisticHead, ZeroShotHead, load_taxonomy
from curate.models.resolve import ModelReferenceError, model_card_entry, resolve_model
from curate.stages.base import Stage
from curate.stages.fasttext_classifier import format_beyond, local_reference


def _encoder_reference(value: str) -> str:
    try:
        resolved = resolve_model(value, expect="dir", allow_hub=True)
    except ModelReferenceError as exc:
        raise ValueError(str(exc)) from None
    return value if value.startswith("builtin:") or resolved == value else resolved


# Quality students' columns -> the name of their audit counters (``audit_<name>_documents`` / ``_agree``).
QUALITY_STUDENTS = {"quality_fasttext": "quality", "quality_static": "quality_static"}
# Below these shares of agreement the card warns. Each is 0.05-0.2 under what the student showed on
# real English pages it was not trained on (quality_static 71 % at 0.5 on 280 real pages — it is
# the better judge, so it disagrees with its teacher by design; quality_fasttext 93 %, domain 98 %,
# topic 85 % on held-out pages): a drop below means text unlike what either learned.
AGREEMENT_FLOORS = {"quality_static": 0.6, "quality": 0.8, "domain": 0.9, "topic": 0.65}


class EmbedClassifierParams(StageParams):
    encoder: str = Field(default="builtin:all-MiniLM-L6-v2", validate_default=True,
                         description="encoder: builtin:<name>, a local folder, or a hub id in the local cache")
    max_tokens: int = Field(default=256, ge=8, le=8192, description="tokens of each text the encoder reads")
    batch_size: int = Field(default=32, ge=1, le=4096,
                            description="texts per forward pass on a GPU (on CPU each text runs alone, so scores do not depend on the batch)")
    quality_head: str | None = Field(default="builtin:quality_embed", description="LogisticHead JSON, or null for none")
    taxonomy: str | None = Field(default="builtin:taxonomy", description="zero-shot label descriptions, or null for none")
    heads: list[str] = Field(default=["domain", "topic"], description="taxonomy heads to score")
    label_probabilities: bool = Field(default=True, description="also write each label's probability")
    min_quality: float = Field(default=0.0, ge=0.0, le=1.0, description="quality_embed below this -> quality_embed_low")
    num_gpus: float = Field(default=0.0, ge=0.0, description="GPUs per actor (the encoder runs on CUDA when given one)")
    memory_mib: int | None = Field(default=None, ge=1, description="memory Ray reserves per actor (null: none)")
    num_cpus: float = Field(default=1.0, gt=0.0, description="CPUs per actor")
    torch_threads: int | None = Field(default=None, ge=1, description="torch intra-op threads per actor (null: num_cpus)")
    sample_fraction: float = Field(default=1.0, gt=0.0, le=1.0, description="embed only this hashed fraction of documents")
    sample_seed: int = Field(default=0, description="salt of the sample hash")
    agreement_floors: dict[str, float] = Field(
        default_factory=lambda: dict(AGREEMENT_FLOORS),
        description="student -> the share of audited documents below which the card warns that it disagrees with this teacher")

    @field_validator("agreement_floors")
    @classmethod
    def _floors(cls, value: dict[str, float]) -> dict[str, float]:
        for name, floor in value.items():
            if not 0.0 <= floor <= 1.0:
                raise ValueError(f"agreement_floors.{name} must be within [0, 1], got {floor}")
        return value

    @field_validator("encoder")
    @classmethod
    def _encoder(cls, value: str) -> str:
        return _encoder_reference(value)

    @field_validator("quality_head", "taxonomy")
    @classmethod
    def _files(cls, value: str | None) -> str | None:
        return None if value is None else local_reference(value)

    @model_validator(mode="after")
    def _consistent(self):
        if self.quality_head is None and (self.taxonomy is None or not self.heads):
            raise ValueError("nothing to score: set quality_head, or taxonomy and heads")
        if self.quality_head is not None:
            head = LogisticHead.load(resolve_model(self.quality_head))
            if head.encoder != self.encoder and resolve_model(head.encoder, allow_hub=True) != resolve_model(self.encoder, allow_hub=True):
                raise ValueError(f"quality_head {self.quality_head} was trained on encoder {head.encoder!r}, not {self.encoder!r}")
            if head.max_tokens != self.max_tokens:
                raise ValueError(f"quality_head {self.quality_head} was trained at max_tokens={head.max_tokens}, not {self.max_tokens}")
        if self.taxonomy is not None:
            known = load_taxonomy(resolve_model(self.taxonomy))["heads"]
            unknown = sorted(set(self.heads) - set(known))
            if unknown:
                raise ValueError(f"heads: {unknown} are not heads of {self.taxonomy} (its heads: {sorted(known)})")
        return self

    def head_labels(self) -> dict[str, list[str]]:
        if self.taxonomy is None:
            return {}
        heads = load_taxonomy(resolve_model(self.taxonomy))["heads"]
        return {name: list(heads[name]["labels"]) for name in self.heads}


class EmbedClassifier(Stage):
    name = "embed_classifier"
    # 2: on CPU one text per forward pass, unpadded (scores no longer move with the batch).
    version = "2"
    Params = EmbedClassifierParams
    uses_model = True

    @classmethod
    def placement(cls, params: EmbedClassifierParams) -> Resources:
        return Resources(True, params.num_cpus, params.num_gpus, params.memory_mib * 2**20 if params.memory_mib else None)

    @classmethod
    def output_columns(cls, params: EmbedClassifierParams) -> dict[str, pa.DataType]:
        columns: dict[str, pa.DataType] = {}
        if params.quality_head is not None:
            columns["quality_embed"] = pa.float32()
        for head, labels in params.head_labels().items():
            columns[f"{head}_embed"] = pa.string()
            columns[f"{head}_embed_score"] = pa.float32()
            if params.label_probabilities:
                columns.update({f"{head}_embed_{label}": pa.float32() for label in labels})
        return columns

    @classmethod
    def score_histograms(cls, params: EmbedClassifierParams) -> dict[str, ScoreHistogram]:
        out = {}
        if params.quality_head is not None:
            thresholds = (params.min_quality,) if params.min_quality else ()
            out["quality_embed"] = ScoreHistogram(0.0, 1.0, 40, thresholds=thresholds, label="quality teacher P(high quality)")
        for head in params.head_labels():
            out[f"{head}_embed_score"] = ScoreHistogram(0.0, 1.0, 40, label=f"zero-shot {head}: P(top label)")
        return out

    @classmethod
    def models(cls, params: EmbedClassifierParams) -> list[dict]:
        entries = [model_card_entry("encoder", resolve_model(params.encoder, allow_hub=True), reference=params.encoder)]
        if params.quality_head is not None:
            entries.append(model_card_entry("quality_head", resolve_model(params.quality_head), reference=params.quality_head))
        if params.taxonomy is not None:
            entries.append(model_card_entry("taxonomy", resolve_model(params.taxonomy), reference=params.taxonomy))
        return entries

    def setup(self) -> None:
        import torch

        from curate.models.embed import MeanPooledEncoder

        p: EmbedClassifierParams = self.params
        device = "cuda" if p.num_gpus > 0 and torch.cuda.is_available() else "cpu"
        threads = p.torch_threads or max(1, int(p.num_cpus))
        self.encoder = MeanPooledEncoder(resolve_model(p.encoder, allow_hub=True), max_tokens=p.max_tokens,
                                         batch_size=p.batch_size, device=device, torch_threads=threads)
        self.quality = LogisticHead.load(resolve_model(p.quality_head)) if p.quality_head is not None else None
        self.heads: dict[str, ZeroShotHead] = {}
        if p.taxonomy is not None:
            taxonomy = load_taxonomy(resolve_model(p.taxonomy))["heads"]
            self.heads = {name: ZeroShotHead.from_taxonomy(taxonomy[name], self.encoder.encode) for name in p.heads}
        # Embedding the label descriptions is setup, not the documents' throughput.
        self.encoder.tokens_read = self.encoder.truncated = 0
        self.encoder.seconds = 0.0

    def sampled(self, ids: list[str | None]) -> list[bool]:
        """Whether each document is in the audit sample (all of them at sample_fraction 1)."""
        p: EmbedClassifierParams = self.params
        if p.sample_fraction >= 1.0:
            return [True] * len(ids)
        limit = p.sample_fraction * 2**64
        return [xxhash.xxh64_intdigest((i or "").encode("utf-8"), seed=p.sample_seed) < limit for i in ids]

    def process(self, batch: pa.Table) -> StageOutput:
        self.ensure_setup()
        p: EmbedClassifierParams = self.params
        texts = batch.column("text").to_pylist() if "text" in batch.column_names else [None] * batch.num_rows
        ids = batch.column("id").to_pylist() if "id" in batch.column_names else [None] * batch.num_rows
        in_sample = self.sampled(ids)
        texts = [t if s else None for t, s in zip(texts, in_sample, strict=True)]
        before = (self.encoder.tokens_read, self.encoder.truncated, self.encoder.seconds)
        started = time.perf_counter()
        embeddings = self.encoder.encode(texts)
        empty = ~np.any(embeddings, axis=1)
        columns: dict[str, pa.Array] = {}
        quality = None
        if self.quality is not None:
            quality = self.quality.predict(embeddings)
            columns["quality_embed"] = pa.array(quality, type=pa.float32(), mask=np.isnan(quality))
        for name, head in self.heads.items():
            probabilities = head.predict(embeddings, texts)
            best = np.nan_to_num(probabilities, nan=-1.0).argmax(axis=1)
            columns[f"{name}_embed"] = pa.array([None if e else head.labels[b] for e, b in zip(empty, best, strict=True)], type=pa.string())
            top = probabilities[np.arange(len(best)), best] if len(best) else np.zeros(0)
            columns[f"{name}_embed_score"] = pa.array(top, type=pa.float32(), mask=empty)
            if p.label_probabilities:
                for j, label in enumerate(head.labels):
                    columns[f"{name}_embed_{label}"] = pa.array(probabilities[:, j], type=pa.float32(), mask=empty)
        seconds = time.perf_counter() - started
        for column, array in columns.items():
            index = batch.schema.get_field_index(column)
            batch = batch.set_column(index, column, array) if index >= 0 else batch.append_column(column, array)
        histograms = self.histogram_counts(batch)

        reasons: list[str | None] = [None] * batch.num_rows
        details: list[str | None] = [None] * batch.num_rows
        if p.min_quality and quality is not None:
            for row, score in enumerate(quality):
                if not np.isnan(score) and score < p.min_quality:
                    reasons[row], details[row] = "quality_embed_low", f"quality_embed={format_beyond(float(score), p.min_quality, '<')}"
        kept, rejected = self.split(batch, [r is None for r in reasons], reasons, details)
        not_sampled = in_sample.count(False)
        counters = {
            "documents_scored": float((~empty).sum()), "empty_text": float(empty.sum() - not_sampled),
            "documents_not_sampled": float(not_sampled),
            "tokens_read": float(self.encoder.tokens_read - before[0]),
            "truncated_documents": float(self.encoder.truncated - before[1]), "model_seconds": seconds,
        }
        counters.update(self.audit(batch, ~empty))
        return StageOutput(kept=kept, rejected=rejected, counters=counters, histograms=histograms)

    def audit(self, batch: pa.Table, scored: np.ndarray) -> dict[str, float]:
        """Agreement of the students' columns (when present) with this teacher, on scored rows."""
        columns = batch.column_names
        out: dict[str, float] = {}
        rows = np.flatnonzero(scored)

        def compare(name: str, student: list, teacher: list) -> None:
            pairs = [(s, t) for s, t in zip(student, teacher, strict=True) if s is not None and t is not None]
            out[f"audit_{name}_documents"] = float(len(pairs))
            out[f"audit_{name}_agree"] = float(sum(s == t for s, t in pairs))

        if not rows.size:
            return out
        for student_column, name in QUALITY_STUDENTS.items():
            if student_column in columns and "quality_embed" in columns:
                student = batch.column(student_column).to_pylist()
                teacher = batch.column("quality_embed").to_pylist()
                compare(name, [None if student[i] is None else student[i] >= 0.5 for i in rows],
                        [None if teacher[i] is None else teacher[i] >= 0.5 for i in rows])
        if "domain_embed" in columns and "domain" in self.heads:
            labels = [label for label in self.heads["domain"].labels if f"domain_{label}" in columns]
            if len(labels) == len(self.heads["domain"].labels):
                values = {label: batch.column(f"domain_{label}").to_pylist() for label in labels}
                student = [None if values[labels[0]][i] is None else max(labels, key=lambda label: values[label][i]) for i in rows]
                teacher = batch.column("domain_embed").to_pylist()
                compare("domain", student, [teacher[i] for i in rows])
        if "topic" in columns and "topic_embed" in columns:
            student, teacher = batch.column("topic").to_pylist(), batch.column("topic_embed").to_pylist()
            compare("topic", [student[i] for i in rows], [teacher[i] for i in rows])
        return out
