"""LSH banding for MinHash signatures: bands/rows for a Jaccard threshold, and one bucket key per band.

Two documents are candidates when, in some band, their ``rows`` signature values are all equal —
the same rule as ``datasketch.MinHashLSH`` with the same (bands, rows). A bucket key is the band
index with the xxh3-64 of that band's values, so the buckets can be grouped by a Ray Data shuffle
instead of living in one process's dictionary.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xxhash
from datasketch.lsh import _optimal_param


@dataclass(frozen=True)
class LshParams:
    bands: int
    rows: int

    @classmethod
    def for_threshold(cls, threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5) -> LshParams:
        """datasketch's optimisation: the (bands, rows) minimising weighted FP/FN probability mass."""
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if abs(false_positive_weight + false_negative_weight - 1.0) > 1e-9:
            raise ValueError("false_positive_weight + false_negative_weight must be 1")
        bands, rows = _optimal_param(threshold, num_perm, false_positive_weight, false_negative_weight)
        return cls(bands=int(bands), rows=int(rows))

    @classmethod
    def for_recall(cls, threshold: float, num_perm: int, min_probability: float = 0.99) -> LshParams:
        """The (bands, rows) under which a pair at exactly ``threshold`` Jaccard shares a bucket
        with probability ≥ ``min_probability``, with the least false-candidate mass below the
        threshold (∫₀ᵗ P(candidate | J) dJ); ties go to fewer bands (fewer bucket keys).

        datasketch's weighted optimisation puts the S-curve's middle near the threshold, so about
        5 % of the pairs at the threshold (16 × 8 at 0.8 with 128 permutations) never meet; with
        verification deciding every candidate, a missed pair costs more than a false candidate.
        """
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if not 0.0 < min_probability < 1.0:
            raise ValueError(f"min_probability must be in (0, 1), got {min_probability}")
        grid = np.linspace(0.0, threshold, 401)
        best = None
        for rows in range(1, num_perm + 1):
            for bands in range(1, num_perm // rows + 1):
                params = cls(bands=bands, rows=rows)
                if params.candidate_probability(threshold) < min_probability:
                    continue
                curve = 1.0 - (1.0 - grid**rows) ** bands
                area = float(np.sum((curve[1:] + curve[:-1]) / 2) * (grid[1] - grid[0]))
                key = (round(area, 12), bands)
                if best is None or key < best[0]:
                    best = (key, params)
                break  # more bands at these rows only raise the false-candidate mass
        if best is None:
            raise ValueError(f"no banding of {num_perm} permutations reaches P(candidate) ≥ {min_probability} at {threshold}")
        return best[1]

    def candidate_probability(self, jaccard: float) -> float:
        """P(two documents of this Jaccard similarity share at least one bucket)."""
        return 1.0 - (1.0 - jaccard**self.rows) ** self.bands


def band_keys(signatures: np.ndarray, params: LshParams) -> np.ndarray:
    """(documents × bands) uint64 bucket keys; equal band values give equal keys in that band."""
    n, num_perm = signatures.shape
    if params.bands * params.rows > num_perm:
        raise ValueError(f"{params.bands} bands × {params.rows} rows exceed {num_perm} permutations")
    used = np.ascontiguousarray(signatures[:, : params.bands * params.rows], dtype=np.uint32)
    width = params.rows * 4
    keys = np.empty((n, params.bands), dtype=np.uint64)
    for i in range(n):
        row = used[i].tobytes()
        for band in range(params.bands):
            # The band index is mixed in, so equal values in different bands never share a bucket.
            keys[i, band] = xxhash.xxh3_64_intdigest(row[band * width : (band + 1) * width], seed=band)
    return keys


def signature_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The MinHash estimate of Jaccard similarity: the fraction of equal signature values."""
    return float(np.count_nonzero(a == b)) / a.shape[-1]
