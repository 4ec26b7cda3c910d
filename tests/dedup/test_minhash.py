import numpy as np
import pytest
from datasketch import MinHash

from curate.dedup.minhash import BatchMinHasher, shingle_hash, word_shingles

TEXTS = [
    "The quick brown fox jumps over the lazy dog and keeps running through the forest until night falls.",
    "the QUICK brown fox jumps   over the lazy dog and keeps running through the forest until night falls",
    "",
    None,
    "four short words here",
    "Ünïcödé текст 日本語の文章 mixed with ascii words to make several shingles here",
    " ".join(f"w{i}" for i in range(3000)),  # long enough to span NumPy chunks
]


@pytest.mark.parametrize("num_perm, seed, ngram", [(128, 1, 5), (64, 42, 3), (256, 7, 1)])
def test_signatures_are_bit_identical_to_datasketch(num_perm, seed, ngram):
    hasher = BatchMinHasher(num_perm=num_perm, seed=seed, ngram=ngram)
    sigs = hasher.signatures(TEXTS)
    assert sigs.shape == (len(TEXTS), num_perm) and sigs.dtype == np.uint32
    for text, sig in zip(TEXTS, sigs, strict=True):
        reference = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash)  # datasketch's default scheme
        for shingle in word_shingles(text, ngram):
            reference.update(shingle)
        assert np.array_equal(sig, reference.hashvalues), text[:40] if text else text


def test_many_documents_across_chunk_boundaries():
    rng = np.random.default_rng(0)
    vocab = [f"tok{i}" for i in range(500)]
    texts = [" ".join(rng.choice(vocab, size=int(rng.integers(0, 400)))) for _ in range(300)]
    hasher = BatchMinHasher()
    sigs = hasher.signatures(texts)
    for i in range(0, 300, 17):
        assert np.array_equal(sigs[i], hasher.datasketch_minhash(texts[i]).hashvalues)


def test_jaccard_estimate_tracks_true_similarity():
    hasher = BatchMinHasher(num_perm=256)
    base = " ".join(f"word{i}" for i in range(400))
    edited = base.replace("word10 ", "x ").replace("word200 ", "y ")
    a, b = hasher.signatures([base, edited])
    estimate = float(np.mean(a == b))
    sa, sb = set(word_shingles(base)), set(word_shingles(edited))
    assert abs(estimate - len(sa & sb) / len(sa | sb)) < 0.08


def test_shingles():
    assert word_shingles("A b c", 5) == [b"a b c"]
    assert word_shingles("a b c d e f", 5) == [b"a b c d e", b"b c d e f"]
    assert word_shingles("  ", 5) == [] and word_shingles(None) == []
    assert word_shingles("x y x y x y", 2) == [b"x y", b"y x"]
