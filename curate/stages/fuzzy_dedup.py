"""Global near-duplicate removal: MinHash LSH over the whole corpus (Llama 3's document-level dedup).

Signatures: word n-gram MinHash (``curate.dedup.minhash``, bit-identical to datasketch). Buckets:
LSH bands chosen so that a pair at exactly ``threshold`` shares a bucket with probability
``min_candidate_probability`` (0.99: 16 bands × 6 rows at 0.8 with 128 permutations, where
datasketch's weighting gives 16 × 8 and misses 5 % of the pairs at 0.8; ``curate.dedup.lsh``). Candidates sharing a bucket are
verified: with ``verification: signature`` a pair is an edge when its signature Jaccard is
≥ ``threshold``; with ``verification: exact`` (the default) the signature decides only pairs whose
estimate is at least ``exact_margin`` away from the threshold (3 standard deviations of a 128-perm
estimate at 0.8 is 0.1), and the rest are decided by the exact Jaccard of the two documents'
shingle-hash sets, so pairs near the threshold are not a coin flip. Components are formed over all edges;
the survivor of a component follows ``survivor``: ``longest`` (the default: where dedup runs in
Llama 3's order, before any quality score exists, the copy with the most text), ``newest`` (the
latest ``fetch_time``, as URL dedup keeps) or ``quality`` (the highest ``quality_column``, which an
earlier stage must write: checked when the pipeline is parsed); ties go to the longer text, then
the smaller id. Within each language when a ``lang``
column exists (the language is mixed into every bucket key).
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import xxhash
from pydantic import Field

from curate.contract import StageParams
from curate.dedup.lsh import LshParams, band_keys, signature_jaccard
from curate.dedup.minhash import BatchMinHasher
from curate.stages.base import ClusterStage


class FuzzyDedupParams(StageParams):
    threshold: float = Field(default=0.8, gt=0.0, lt=1.0, description="Jaccard similarity that makes a near duplicate")
    num_perm: int = Field(default=128, ge=16, le=1024)
    ngram: int = Field(default=5, ge=1, le=20, description="word n-gram shingles")
    seed: int = 1
    # Recall first: a missed pair is never recovered, a false candidate is removed by verification.
    min_candidate_probability: float | None = Field(
        default=0.99, gt=0.0, lt=1.0,
        description="P(a pair at exactly the threshold shares an LSH bucket); null: datasketch's FP/FN weighting below")
    false_negative_weight: float = Field(default=0.95, gt=0.0, lt=1.0, description="used only when min_candidate_probability is null")
    verification: Literal["signature", "exact"] = "exact"
    exact_margin: float = Field(default=0.1, ge=0.0, le=1.0, description="signature estimates this close to the threshold are checked exactly")
    survivor: Literal["longest", "newest", "quality"] = Field(
        default="longest", description="which document of a cluster stays: the longest text, the newest fetch, or the highest quality_column")
    quality_column: str = Field(default="quality_static", description="the score survivor: quality reads (an earlier stage must write it)")
    language_column: str = "lang"


class FuzzyDedup(ClusterStage):
    name = "fuzzy_dedup"
    version = "3"  # 3: banding for 99 % candidate probability at the threshold; an explicit survivor rule
    Params = FuzzyDedupParams
    reason = "near_duplicate"

    def setup(self) -> None:
        p: FuzzyDedupParams = self.params
        self.hasher = BatchMinHasher(num_perm=p.num_perm, seed=p.seed, ngram=p.ngram)
        self.lsh = (LshParams.for_recall(p.threshold, p.num_perm, p.min_candidate_probability) if p.min_candidate_probability is not None
                    else LshParams.for_threshold(p.threshold, p.num_perm, 1.0 - p.false_negative_weight, p.false_negative_weight))
        self._signatures: tuple[pa.Table, np.ndarray] | None = None

    def _sigs(self, batch: pa.Table) -> np.ndarray:
        # link_keys and payload are called on the same batch: compute its signatures once. The
        # batch itself is held (not its id()), so a later batch can never be mistaken for it.
        if self._signatures is None or self._signatures[0] is not batch:
            self._signatures = (batch, self.hasher.signatures(batch.column("text").to_pylist()))
        return self._signatures[1]

    def link_keys(self, batch: pa.Table) -> list[list[int]]:
        keys = band_keys(self._sigs(batch), self.lsh)
        if self.params.language_column in batch.column_names:
            langs = batch.column(self.params.language_column).to_pylist()
            salts = np.array([xxhash.xxh64_intdigest((lang or "").encode()) for lang in langs], dtype=np.uint64)
            keys = keys ^ salts[:, None]
        return keys.tolist()

    def payload(self, batch: pa.Table) -> list[bytes]:
        return [row.tobytes() for row in self._sigs(batch)]

    def verify(self, a: bytes, b: bytes) -> bool | None:
        p: FuzzyDedupParams = self.params
        estimate = signature_jaccard(np.frombuffer(a, dtype=np.uint32), np.frombuffer(b, dtype=np.uint32))
        if p.verification == "signature" or abs(estimate - p.threshold) >= p.exact_margin:
            return estimate >= p.threshold
        return None

    def exact_payload(self, batch: pa.Table) -> list[bytes]:
        """Each document's distinct shingle hashes (sorted uint32): Jaccard of these sets is the
        exact Jaccard up to 32-bit hash collisions (~10^-6 of the shingles of a long page)."""
        hashes, counts = self.hasher.shingle_hashes(batch.column("text").to_pylist())
        ends = np.cumsum(counts)
        return [np.unique(hashes[end - n : end]).tobytes() for n, end in zip(counts, ends, strict=True)]

    def verify_exact(self, a: bytes, b: bytes) -> bool:
        sa, sb = np.frombuffer(a, dtype=np.uint32), np.frombuffer(b, dtype=np.uint32)
        union = len(np.union1d(sa, sb))
        jaccard = len(np.intersect1d(sa, sb, assume_unique=True)) / union if union else 1.0
        return jaccard >= self.params.threshold

    @classmethod
    def reads(cls, params: FuzzyDedupParams) -> dict[str, str]:
        out = super().reads(params)
        if params.survivor == "quality":
            out["quality_column"] = params.quality_column
        return out

    def rank(self, batch: pa.Table) -> list[tuple]:
        """Sort keys, best survivor first: the survivor rule, then the longest text, then the smallest id."""
        p: FuzzyDedupParams = self.params
        lengths = [len(t or "") for t in batch.column("text").to_pylist()]
        ids = batch.column("id").to_pylist()
        if p.survivor == "quality":
            # checked at parse time that an earlier stage writes it; a null score ranks last
            quality = [q if q is not None else float("-inf") for q in batch.column(p.quality_column).to_pylist()]
            return [(-q, -n, i) for q, n, i in zip(quality, lengths, ids, strict=True)]
        if p.survivor == "newest" and "fetch_time" in batch.column_names:
            # newest first; a document without a fetch time ranks after every dated one
            times = [t.timestamp() if t is not None else float("-inf") for t in batch.column("fetch_time").to_pylist()]
            return [(-t, -n, i) for t, n, i in zip(times, lengths, ids, strict=True)]
        return [(-n, i) for n, i in zip(lengths, ids, strict=True)]
