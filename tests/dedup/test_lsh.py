import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from curate.dedup.lsh import LshParams, band_keys, signature_jaccard
from curate.dedup.minhash import BatchMinHasher


def _corpus(seed=0, n=160):
    """Documents in families: copies of a base text with increasing word edits."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(2000)]
    texts = []
    for _ in range(n // 8):
        base = list(rng.choice(vocab, size=300))
        for edits in (0, 3, 6, 12, 24, 48, 96, 200):
            words = list(base)
            for _ in range(edits):
                words[int(rng.integers(len(words)))] = str(rng.choice(vocab))
            texts.append(" ".join(words))
    return texts


def test_params_follow_datasketch_and_the_threshold():
    params = LshParams.for_threshold(0.8, 128)
    assert (params.bands, params.rows) == (9, 13)
    assert params.candidate_probability(0.9) > 0.9 and params.candidate_probability(0.5) < 0.01
    # Weighting false negatives more buys recall near the threshold with more bands.
    recall_first = LshParams.for_threshold(0.8, 128, false_positive_weight=0.2, false_negative_weight=0.8)
    assert recall_first.candidate_probability(0.85) > params.candidate_probability(0.85)
    with pytest.raises(ValueError):
        LshParams.for_threshold(1.5, 128)


def test_candidates_equal_datasketch_minhash_lsh():
    texts = _corpus()
    hasher = BatchMinHasher()
    sigs = hasher.signatures(texts)
    params = LshParams.for_threshold(0.8, 128)
    keys = band_keys(sigs, params)
    ours = set()
    for band in range(params.bands):
        buckets = {}
        for doc, key in enumerate(keys[:, band]):
            buckets.setdefault(int(key), []).append(doc)
        for members in buckets.values():
            ours |= {(a, b) for a in members for b in members if a < b}

    lsh = MinHashLSH(num_perm=128, params=(params.bands, params.rows))
    for doc, sig in enumerate(sigs):
        lsh.insert(doc, MinHash(hashvalues=sig, seed=1, scheme="affine32"))
    theirs = set()
    for doc, sig in enumerate(sigs):
        for other in lsh.query(MinHash(hashvalues=sig, seed=1, scheme="affine32")):
            if other != doc:
                theirs.add((min(doc, other), max(doc, other)))
    assert ours == theirs and len(ours) > 20


def test_signature_jaccard():
    a = np.array([1, 2, 3, 4], dtype=np.uint32)
    assert signature_jaccard(a, a) == 1.0
    assert signature_jaccard(a, np.array([1, 2, 0, 0], dtype=np.uint32)) == 0.5
