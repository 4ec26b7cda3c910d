"""Global fuzzy dedup on Ray: the kept set equals an in-memory datasketch MinHashLSH on the same
signatures (candidates verified by signature Jaccard, components by union-find, survivor = longest
then smallest id), and clear near duplicates are found while clearly different texts are not."""
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash, MinHashLSH

from curate.config import OutputConfig, PipelineConfig, RayConfig, ReadConfig, ResolvedStage
from curate.dedup.minhash import word_shingles
from curate.run import run_pipeline
from curate.stages.fuzzy_dedup import FuzzyDedup, FuzzyDedupParams

pytestmark = pytest.mark.slow


def _families(seed=0, families=30):
    """Each family: a base text and copies with a known number of single-word replacements."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(5000)]
    docs = []
    for f in range(families):
        base = list(rng.choice(vocab, size=int(rng.integers(300, 600))))
        for copy, edits in enumerate((0, 2, 4, 10, 12, 60, 150)):  # 10, 12 edits: near the threshold
            words = list(base)
            for _ in range(edits):
                words[int(rng.integers(len(words)))] = str(rng.choice(vocab))
            if copy == 0 or edits:
                docs.append({"id": f"f{f:02d}-c{copy}", "text": " ".join(words) + (" tail" * copy)})
    return docs


def _jaccard(a, b):
    sa, sb = set(word_shingles(a)), set(word_shingles(b))
    return len(sa & sb) / len(sa | sb)


def _reference_kept(docs, stage):
    """In-memory datasketch: LSH candidates, verified as the stage's mode says (signature Jaccard;
    or, in exact mode, the exact shingle Jaccard for estimates near the threshold), union-find,
    rank rule."""
    sigs = stage.hasher.signatures([d["text"] for d in docs])
    lsh = MinHashLSH(num_perm=stage.params.num_perm, params=(stage.lsh.bands, stage.lsh.rows))
    minhashes = [MinHash(hashvalues=s, seed=stage.params.seed, scheme="affine32") for s in sigs]
    for i, m in enumerate(minhashes):
        lsh.insert(i, m)
    parent = list(range(len(docs)))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for i, m in enumerate(minhashes):
        for j in lsh.query(m):
            if j != i and _matches(docs[i]["text"], docs[j]["text"], np.mean(sigs[i] == sigs[j]), stage.params):
                parent[max(find(i), find(j))] = min(find(i), find(j))
    best = {}
    for i, d in enumerate(docs):
        key = (-len(d["text"]), d["id"])
        root = find(i)
        best[root] = min(best.get(root, key), key)
    return {key[1] for key in best.values()}


def _matches(text_a, text_b, estimate, params):
    if params.verification == "exact" and abs(estimate - params.threshold) < params.exact_margin:
        return _jaccard(text_a, text_b) >= params.threshold
    return estimate >= params.threshold


@pytest.mark.parametrize("verification", ["signature", "exact"])
def test_kept_set_equals_in_memory_datasketch_and_finds_clear_duplicates(ray_session, tmp_path, verification):
    docs = _families()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    params = FuzzyDedupParams(verification=verification)
    config = PipelineConfig(
        name="fuzzy", description="", seed=0, read=ReadConfig(batch_size=32),
        stages=(ResolvedStage(FuzzyDedup, params),), output=OutputConfig(shard_input_mib=0.05), ray=RayConfig(batch_size=16),
    )
    result = run_pipeline(config, str(corpus), tmp_path / "out", cards_dir=None, run_id="fuzzy")
    assert result.card["ledger"]["balanced"]
    kept = set(pq.read_table(tmp_path / "out" / "data", columns=["id"]).column("id").to_pylist())
    stage = FuzzyDedup(params)
    stage.ensure_setup()
    assert kept == _reference_kept(docs, stage)

    # Clear cases: 2 or 4 edits (Jaccard ≥ 0.9) are merged with their base; 60+ edits are not.
    by_id = {d["id"]: d for d in docs}
    rejects = {r["id"]: r["detail"].removeprefix("survivor=") for r in pq.read_table(tmp_path / "out" / "rejects").to_pylist()}
    component = lambda i: rejects.get(i, i)
    pairs = [(d["id"], d["id"][:4] + "c0") for d in docs if not d["id"].endswith("c0")]
    true_pos = [(a, b) for a, b in pairs if _jaccard(by_id[a]["text"], by_id[b]["text"]) >= 0.9]
    true_neg = [(a, b) for a, b in pairs if _jaccard(by_id[a]["text"], by_id[b]["text"]) < 0.5]
    assert len(true_pos) >= 30 and len(true_neg) >= 30
    assert sum(component(a) == component(b) for a, b in true_pos) / len(true_pos) >= 0.95
    assert not any(component(a) == component(b) for a, b in true_neg)
    counters = result.card["stages"][-1]["counters"]
    assert counters["clusters"] >= 25 and counters["verified_pairs"] >= counters["clusters"]
    assert (counters["pairs_checked_exactly"] > 0) == (verification == "exact")
