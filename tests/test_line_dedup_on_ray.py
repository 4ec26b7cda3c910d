"""Line-level dedup on Ray: the kept texts equal an in-memory count over the whole corpus (lines in
more than N documents of their bucket removed), with several buckets, and the card reports it."""
import json
import math
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.config import OutputConfig, PipelineConfig, RayConfig, ReadConfig, ResolvedStage
from curate.dedup.lines import bucket_of, line_keys, line_salt, normalise_line
from curate.run import run_pipeline
from curate.stages.line_dedup import LineDedup, LineDedupParams

pytestmark = pytest.mark.slow


def _corpus(seed=0, documents=420):
    """Documents of unique sentences plus boilerplate lines drawn with very unequal frequencies."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(3000)]
    pool = [f"Boilerplate line number {i}: " + " ".join(rng.choice(vocab, 4)) for i in range(40)]
    weights = 1.0 / np.arange(1, len(pool) + 1) ** 1.1
    docs = []
    for d in range(documents):
        lines = [" ".join(rng.choice(vocab, int(rng.integers(8, 20)))) for _ in range(int(rng.integers(1, 5)))]
        for line in rng.choice(pool, int(rng.integers(0, 5)), p=weights / weights.sum()):
            # Spacing variants normalise to one line.
            lines.insert(int(rng.integers(0, len(lines) + 1)), line if rng.random() < 0.7 else "  " + line.replace(" ", "  "))
        if d % 50 == 0:
            lines = [str(rng.choice(pool[:3]))]  # boilerplate only: emptied by the dedup
        docs.append({"id": f"doc{d:04d}", "text": "\n".join(lines)})
    return docs


def _reference(docs, params: LineDedupParams):
    buckets = max(1, math.ceil(len(docs) / params.bucket_documents))
    key = lambda d, line: (bucket_of(d["id"], buckets), normalise_line(line))
    counts = Counter(k for d in docs for k in {key(d, line) for line in d["text"].split("\n") if normalise_line(line)})
    kept, emptied = {}, set()
    for d in docs:
        lines = [line for line in d["text"].split("\n") if not normalise_line(line) or counts[key(d, line)] <= params.max_occurrences]
        text = "\n".join(lines)
        if len(text.split()) >= params.min_words:
            kept[d["id"]] = text
        else:
            emptied.add(d["id"])
    frequent = {k: n for k, n in counts.items() if n > params.max_occurrences}
    return kept, emptied, frequent, buckets


def test_kept_texts_equal_an_in_memory_count_over_several_buckets(ray_session, tmp_path):
    docs = _corpus()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    params = LineDedupParams(bucket_documents=150, max_occurrences=6, min_words=3)
    config = PipelineConfig(
        name="lines", description="", seed=0, read=ReadConfig(batch_size=32),
        stages=(ResolvedStage(LineDedup, params),), output=OutputConfig(shard_input_mib=0.03), ray=RayConfig(batch_size=16),
    )
    result = run_pipeline(config, str(corpus), tmp_path / "out", cards_dir=None, run_id="lines")
    card = result.card
    assert card["ledger"]["balanced"], card["ledger"]["explanation"]
    assert len(card["output"]["data"]) > 1

    kept_ref, emptied_ref, frequent_ref, buckets = _reference(docs, params)
    assert buckets == 3 and len(frequent_ref) >= 10 and emptied_ref
    kept = {r["id"]: r for r in pq.read_table(tmp_path / "out" / "data").to_pylist()}
    assert {i: r["text"] for i, r in kept.items()} == kept_ref
    rejects = pq.read_table(tmp_path / "out" / "rejects").to_pylist()
    assert {r["id"] for r in rejects} == emptied_ref
    assert {r["reason"] for r in rejects} == {"line_dedup_emptied"}

    original = {d["id"]: d["text"] for d in docs}
    for doc_id, row in kept.items():
        assert row["lines_removed"] == len(original[doc_id].split("\n")) - len(row["text"].split("\n"))
    stage = card["stages"][-1]
    counters = stage["counters"]
    assert counters["buckets"] == 3 and counters["documents_counted"] == len(docs)
    assert counters["frequent_keys"] == len(frequent_ref)
    assert counters["lines_removed"] >= sum(r["lines_removed"] for r in kept.values())

    # The card's most repeated lines: the reference's top counts, named by key (never by text).
    top = stage["most_repeated"]
    assert [r["documents"] for r in top] == sorted(frequent_ref.values(), reverse=True)[: len(top)]
    b, line = max(frequent_ref, key=frequent_ref.get)
    assert top[0]["key"] == f"{line_keys(line, line_salt(b, None))[0]:016x}"
    assert not any("Boilerplate" in json.dumps(r) for r in top)
    assert card["dedup"]["levels"]["line_dedup"]["lines_removed"] == counters["lines_removed"]
    assert (result.out_dir / "plots" / "dedup_clusters.png").is_file()
    assert "## Deduplication" in (result.out_dir / "README.md").read_text()
