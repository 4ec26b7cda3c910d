"""Line-level dedup as in the Llama 3 report: lines that appear in more than N (6) documents of a
bucket of B (30M) documents are removed from every document that has them.

Buckets are a stable hash of the document id (``ceil(live documents / B)`` of them), and lines are
counted within each language when a ``lang`` column exists (see ``curate.dedup.lines`` for the key).
A line's count is the number of documents of its bucket and language that contain it; a line
repeated inside one document counts once (in-document repetition is the repetition filters' job).
The counting is global: the runner shuffles (document, line key) rows by key, so the counts
are the corpus's, not a worker's. What is removed is whole lines; each document gets a
``lines_removed`` column, and a document left with fewer than ``min_words`` words is rejected
as ``line_dedup_emptied``.
"""
from __future__ import annotations

import math
from typing import Literal

import pyarrow as pa
from pydantic import Field

from curate.contract import StageOutput, StageParams
from curate.dedup.lines import bucket_of, line_keys, line_salt
from curate.stages.base import KeyCountStage


class LineDedupParams(StageParams):
    max_occurrences: int = Field(default=6, ge=1, description="a line in more documents than this, per bucket and language, is removed")
    bucket_documents: int = Field(default=30_000_000, ge=1, description="documents per counting bucket (B)")
    normalization: Literal["whitespace", "ccnet"] = "whitespace"
    min_line_chars: int = Field(default=1, ge=1, description="shorter normalised lines are never counted nor removed")
    min_words: int = Field(default=1, ge=1, description="documents left with fewer words are rejected")
    language_column: str = "lang"


class LineDedup(KeyCountStage):
    name = "line_dedup"
    version = "1"
    Params = LineDedupParams
    writes = {"lines_removed": pa.int32()}

    def setup(self) -> None:
        self.num_buckets = 1

    def plan(self, documents: int) -> dict[str, float]:
        self.num_buckets = max(1, math.ceil(documents / self.params.bucket_documents))
        return {"buckets": float(self.num_buckets)}

    @property
    def max_documents(self) -> int:
        return self.params.max_occurrences

    def _keys(self, batch: pa.Table) -> list[list[int | None]]:
        p: LineDedupParams = self.params
        ids = batch.column("id").to_pylist()
        texts = batch.column("text").to_pylist()
        langs = batch.column(p.language_column).to_pylist() if p.language_column in batch.column_names else [None] * len(ids)
        return [
            line_keys(text, line_salt(bucket_of(doc_id, self.num_buckets), lang), p.normalization, p.min_line_chars)
            for doc_id, text, lang in zip(ids, texts, langs, strict=True)
        ]

    def document_keys(self, batch: pa.Table) -> list[list[int]]:
        return [sorted({k for k in keys if k is not None}) for keys in self._keys(batch)]

    def apply(self, batch: pa.Table, frequent: list[set[int]]) -> StageOutput:
        texts = batch.column("text").to_pylist()
        new_texts, removed, keep, reasons, details = [], [], [], [], []
        lines_total = lines_removed = touched = 0
        for text, keys, its_frequent in zip(texts, self._keys(batch), frequent, strict=True):
            lines = (text or "").split("\n")
            lines_total += len(lines)
            if its_frequent:
                kept_lines = [line for line, key in zip(lines, keys, strict=True) if key is None or key not in its_frequent]
            else:
                kept_lines = lines
            n_removed = len(lines) - len(kept_lines)
            new_text = "\n".join(kept_lines) if n_removed else text
            lines_removed += n_removed
            touched += n_removed > 0
            words = len((new_text or "").split())
            ok = words >= self.params.min_words
            new_texts.append(new_text)
            removed.append(n_removed)
            keep.append(ok)
            reasons.append(None if ok else "line_dedup_emptied")
            details.append(None if ok else f"lines_removed={n_removed} words_left={words}")
        text_index = batch.column_names.index("text")
        batch = batch.set_column(text_index, "text", pa.array(new_texts, pa.string()))
        batch = batch.append_column("lines_removed", pa.array(removed, pa.int32()))
        kept, rejected = self.split(batch, keep, reasons, details)
        counters = {
            "lines_in": float(lines_total),
            "lines_removed": float(lines_removed),
            "documents_with_lines_removed": float(touched),
        }
        return StageOutput(kept, rejected, counters)
