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


def test_recall_banding_meets_pairs_at_the_threshold():
    """for_recall: P(candidate) ≥ 0.99 at the threshold, fewest false candidates below it; and on
    real MinHash signatures of 400 pairs of shingle sets at exactly J = 0.8, at least 98 % meet in a
    bucket (datasketch's weighting, 16 × 8, meets about 95 %)."""
    params = LshParams.for_recall(0.8, 128)
    assert (params.bands, params.rows) == (16, 6) and params.candidate_probability(0.8) >= 0.99
    weighted = LshParams.for_threshold(0.8, 128, 0.05, 0.95)
    assert (weighted.bands, weighted.rows) == (16, 8) and weighted.candidate_probability(0.8) < 0.95
    for threshold in (0.7, 0.75, 0.85, 0.9):
        p = LshParams.for_recall(threshold, 128)
        assert p.bands * p.rows <= 128 and p.candidate_probability(threshold) >= 0.99
    with pytest.raises(ValueError):
        LshParams.for_recall(0.8, 128, 1.0)
    with pytest.raises(ValueError, match="no banding"):
        LshParams.for_recall(0.8, 4, 0.999)

    rng = np.random.default_rng(5)
    hasher = BatchMinHasher(ngram=1)
    met = {"recall": 0, "weighted": 0}
    pairs = 400
    for _ in range(pairs):
        # |A ∩ B| = 400, |A ∪ B| = 500: J = 0.8 exactly (one-word shingles of distinct tokens)
        tokens = [f"t{x}" for x in rng.choice(10**9, size=500, replace=False)]
        a, b = " ".join(tokens[:450]), " ".join(tokens[50:])
        sigs = hasher.signatures([a, b])
        for name, banding in (("recall", params), ("weighted", weighted)):
            keys = band_keys(sigs, banding)
            met[name] += bool((keys[0] == keys[1]).any())
    assert met["recall"] >= 0.98 * pairs > met["weighted"], met
