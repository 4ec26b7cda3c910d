"""Remove (or mark) documents that contain benchmark text: word n-gram overlap with the evaluation
sets a user names, as GPT-3 (13-grams) and the Llama 3 report's contamination analysis (8-grams
with an overlap threshold) measured it.

``benchmarks`` is the user's list, empty by default (nothing is downloaded: the files are local
paths, globs, folders or fsspec URIs): each has a ``name``, a ``path``, a ``format`` (``jsonl``,
``parquet``, ``text`` — one item per blank-line-separated paragraph — or ``auto`` by suffix) and the
``fields`` whose text makes an item (``["question", "choices", "answer"]``; lists and dicts are
joined). Each benchmark's n-grams are indexed once (``curate.filters.ngram_index``: hashes only,
cached on disk by the files' sha256, so the workers of a run share one build).

A document is contaminated by a benchmark when it holds at least ``min_matches`` of that
benchmark's distinct n-grams and they make up at least ``min_item_coverage`` of one benchmark
item's n-grams (0 by default: any ``min_matches`` n-grams, GPT-3's rule with ``min_matches: 1``).
The first benchmark in list order that contaminates a document names it. ``action: remove``
rejects it as ``decontaminated`` (detail ``benchmark=<name> ngrams=<k> item_coverage=<c>``);
``action: mark`` keeps it and fills ``contamination`` (the benchmark's name, else null). Every
document gets ``contamination_ngrams`` (n-grams of the naming benchmark it holds, 0 if none).
Counters per benchmark: ``contaminated_<name>`` and ``ngrams_matched_<name>``; the card has a
table of them.
"""
from __future__ import annotations

import re
from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from curate.contract import StageOutput, StageParams
from curate.filters.ngram_index import load_index, ngram_hashes
from curate.stages.base import Stage

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class Benchmark(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="the benchmark's name, as reject details and the card give it")
    path: str = Field(description="file, glob, folder or fsspec URI of its items")
    format: Literal["auto", "jsonl", "parquet", "text"] = Field(default="auto", description="how its files are read")
    fields: list[str] = Field(default=["text"], min_length=1, description="fields whose text makes an item (JSONL, Parquet)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"benchmark name {value!r}: letters, digits, '_', '-', '.' only")
        return value


class DecontaminateParams(StageParams):
    benchmarks: list[Benchmark] = Field(default=[], description="evaluation sets to keep out of the data (empty: the stage passes everything)")
    n: int = Field(default=13, ge=3, le=64, description="words per n-gram (13: GPT-3; 8 with min_item_coverage: Llama 3's analysis)")
    min_matches: int = Field(default=1, ge=1, description="distinct benchmark n-grams a document must hold")
    min_item_coverage: float = Field(default=0.0, ge=0.0, le=1.0, description="share of one benchmark item's n-grams it must hold")
    action: Literal["remove", "mark"] = Field(default="remove", description="reject contaminated documents, or only mark them")

    @field_validator("benchmarks")
    @classmethod
    def _distinct(cls, value: list[Benchmark]) -> list[Benchmark]:
        names = [b.name for b in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"benchmark names repeat: {repeated}")
        return value


class Decontaminate(Stage):
    name = "decontaminate"
    version = "1"
    Params = DecontaminateParams
    writes = {"contamination": pa.string(), "contamination_ngrams": pa.int32()}

    def setup(self) -> None:
        p: DecontaminateParams = self.params
        self._indexes = [load_index(b.name, b.path, b.format, b.fields, p.n) for b in p.benchmarks]

    def process(self, batch: pa.Table) -> StageOutput:
        self.ensure_setup()
        p: DecontaminateParams = self.params
        texts = batch.column("text").to_pylist() if "text" in batch.column_names else [None] * batch.num_rows
        counters = {f"{kind}_{index.name}": 0.0 for index in self._indexes for kind in ("contaminated", "ngrams_matched")}
        names, matched_counts, keep, reasons, details = [], [], [], [], []
        for text in texts:
            found = None
            if text and self._indexes:
                hashes = ngram_hashes(text, p.n)
                for index in self._indexes:
                    matched, coverage = index.match(hashes)
                    if matched >= p.min_matches and coverage >= p.min_item_coverage:
                        found = (index.name, matched, coverage)
                        break
            names.append(found[0] if found else None)
            matched_counts.append(found[1] if found else 0)
            if found:
                counters[f"contaminated_{found[0]}"] += 1
                counters[f"ngrams_matched_{found[0]}"] += found[1]
            remove = found is not None and p.action == "remove"
            keep.append(not remove)
            reasons.append("decontaminated" if remove else None)
            details.append(f"benchmark={found[0]} ngrams={found[1]} item_coverage={found[2]:.2f}" if remove else None)
        batch = batch.append_column("contamination", pa.array(names, type=pa.string()))
        batch = batch.append_column("contamination_ngrams", pa.array(matched_counts, type=pa.int32()))
        kept, rejected = self.split(batch, keep, reasons, details)
        return StageOutput(kept=kept, rejected=rejected, counters=counters)
