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
    def for_threshold(cls, threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5) -> "LshParams":
        """datasketch's optimisation: the (bands, rows) minimising weighted FP/FN probability mass."""
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if abs(false_positive_weight + false_negative_weight - 1.0) > 1e-9:
            raise ValueError("false_positive_weight + false_negative_weight must be 1")
        bands, rows = _optimal_param(threshold, num_perm, false_positive_weight, false_negative_weight)
        return cls(bands=int(bands), rows=int(rows))

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
