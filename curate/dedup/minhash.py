"""MinHash signatures for a whole batch at once, bit-identical to ``datasketch.MinHash``.

datasketch (2.x, default scheme ``affine32``) hashes each shingle with ``hashfunc``, pre-mixes the
hash with the MurmurHash3 32-bit finaliser, and takes ``min(a_k * h + b_k mod 2^32)`` over the
shingles for each permutation k. We take the permutations from datasketch itself (so the seed
means the same thing), hash every shingle of a batch into one array, and do the permutations as
one (shingles × permutations) NumPy product reduced per document with ``minimum.reduceat`` —
instead of a Python call per shingle per document.

Shingles: lower-cased word n-grams (default 5) joined by single spaces; a document shorter than
n words is one shingle of all its words; an empty document has no shingles (all-max signature,
as datasketch gives). The shingle hash folds per-word xxh32 values (see ``shingle_hash``).
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import xxhash
from datasketch import MinHash

EMPTY = np.uint32(0xFFFFFFFF)
# Shingle hashes per NumPy chunk: the (chunk × num_perm) uint32 scratch is 1 MiB at 128 perms, so it
# stays in L2 cache; a 32 MiB scratch made the product memory-bound (6× slower, measured).
_CHUNK = 1 << 11


_INIT = 0x9E3779B9
_MIX = 0x01000193


def shingle_hash(shingle: bytes) -> int:
    """The default shingle hash (pass it to datasketch as ``hashfunc`` to compare).

    It folds the xxh32 of each word: h = (h ^ xxh32(word)) * 0x01000193 mod 2^32. Defined this way,
    a batch hashes each word once and forms every n-gram's hash with n vectorised NumPy steps,
    instead of building and hashing every n-gram string (n times the bytes, in Python).
    """
    h = _INIT
    for word in shingle.split(b" "):
        h = ((h ^ xxhash.xxh32_intdigest(word)) * _MIX) & 0xFFFFFFFF
    return h


def word_shingles(text: str | None, ngram: int = 5) -> list[bytes]:
    words = (text or "").lower().split()
    if not words:
        return []
    if len(words) <= ngram:
        return [" ".join(words).encode("utf-8")]
    # dict.fromkeys: unique shingles, first-seen order (min over a set ignores repeats anyway).
    return list(dict.fromkeys(" ".join(words[i : i + ngram]).encode("utf-8") for i in range(len(words) - ngram + 1)))


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


class BatchMinHasher:
    def __init__(self, num_perm: int = 128, seed: int = 1, ngram: int = 5):
        self.num_perm, self.seed, self.ngram = num_perm, seed, ngram
        a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
        self.a = np.ascontiguousarray(a, dtype=np.uint32)
        self.b = np.ascontiguousarray(b, dtype=np.uint32)

    def shingle_hashes(self, texts: Iterable[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """(every shingle hash of the batch, document by document; shingle count per document).

        Repeated shingles are kept: the minimum does not care, and skipping the set saves time.
        """
        n = self.ngram
        word_hashes: list[int] = []
        pieces: list[tuple[int, int] | int] = []  # per document: (word offset, words) or one short-doc hash
        for text in texts:
            words = (text or "").lower().split()
            if len(words) > n:
                pieces.append((len(word_hashes), len(words)))
                word_hashes.extend(xxhash.xxh32_intdigest(w.encode("utf-8")) for w in words)
            elif words:
                pieces.append(shingle_hash(" ".join(words).encode("utf-8")))
            else:
                pieces.append(-1)
        W = np.asarray(word_hashes, dtype=np.uint32)
        windows = np.empty(0, dtype=np.uint32)
        if W.size >= n:
            span = W.size - n + 1
            windows = np.full(span, _INIT, dtype=np.uint32)
            with np.errstate(over="ignore"):
                for j in range(n):  # n-gram hash at every start position, across the whole batch
                    windows = (windows ^ W[j : j + span]) * np.uint32(_MIX)
        parts, counts = [], []
        for piece in pieces:
            if isinstance(piece, tuple):
                offset, n_words = piece
                parts.append(windows[offset : offset + n_words - n + 1])  # windows inside this document
                counts.append(n_words - n + 1)
            elif piece >= 0:
                parts.append(np.array([piece], dtype=np.uint32))
                counts.append(1)
            else:
                counts.append(0)
        hashes = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint32)
        return hashes, np.asarray(counts, dtype=np.int64)

    def signatures(self, texts: Iterable[str | None]) -> np.ndarray:
        """(documents × num_perm) uint32 signatures, row i equal to datasketch's hashvalues for text i."""
        hashes, counts = self.shingle_hashes(texts)
        out = np.full((len(counts), self.num_perm), EMPTY, dtype=np.uint32)
        if hashes.size == 0:
            return out
        mixed = _fmix32(hashes)
        ends = np.cumsum(counts)
        starts = ends - counts
        # One scratch buffer, written in place: a chunk, or one document longer than a chunk.
        scratch = np.empty((min(hashes.size, _CHUNK + int(counts.max())), self.num_perm), dtype=np.uint32)
        doc = 0
        with np.errstate(over="ignore"):
            while doc < len(counts):
                # Whole documents per chunk, at least one, up to ~_CHUNK shingles.
                last = max(doc + 1, int(np.searchsorted(ends, starts[doc] + _CHUNK, side="right")))
                last = min(last, len(counts))
                lo, hi = starts[doc], ends[last - 1]
                if hi > lo:
                    permuted = scratch[: hi - lo]
                    np.multiply(mixed[lo:hi, None], self.a[None, :], out=permuted)
                    np.add(permuted, self.b[None, :], out=permuted)
                    nonempty = np.nonzero(counts[doc:last])[0] + doc
                    out[nonempty] = np.minimum.reduceat(permuted, starts[nonempty] - lo, axis=0)
                doc = last
        return out

    def datasketch_minhash(self, text: str | None) -> MinHash:
        """The reference: datasketch built the same way, one update per shingle."""
        m = MinHash(num_perm=self.num_perm, seed=self.seed, hashfunc=shingle_hash, scheme="affine32")
        for shingle in word_shingles(text, self.ngram):
            m.update(shingle)
        return m
