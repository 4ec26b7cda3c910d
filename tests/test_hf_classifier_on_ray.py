"""hf_classifier in a real pipeline run on Ray: the model (saved with save_pretrained, loaded by
path) runs on an actor pool, its score columns reach the shards, the keep rule's rejects reach the
reject shards, and the card records the model, the counters and the score histogram."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.config import parse_pipeline
from curate.run import run_pipeline
from curate.schema import DOCUMENT_SCHEMA, conform
from curate.stages.hf_classifier import HfClassifier, HfClassifierParams
from tests.tiny_seqcls import build_tiny_seqcls

pytestmark = pytest.mark.slow

WORDS = ["the", "data", "of", "study", "buy", "now", "click", "here", "good", "paper", "free", "offer", "science"]


def test_hf_classifier_scores_and_filters_on_an_actor_pool(ray_session, tmp_path):
    model = build_tiny_seqcls(tmp_path / "tiny-quality")
    rows = [{"id": f"d{i:02d}", "url": f"https://example.org/{i}", "text": " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(3 + i % 9))}
            for i in range(40)]
    rows.append({"id": "empty", "url": "https://example.org/empty", "text": ""})
    # The threshold sits halfway between the 20th and 21st scores, so the rule rejects 20 documents
    # (and float noise from other batch padding cannot move a document across it).
    probe = HfClassifier(HfClassifierParams(model=str(model), max_tokens=32))
    scores = probe.process(conform(pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows]}), DOCUMENT_SCHEMA)).kept
    expected = dict(zip(scores.column("id").to_pylist(), scores.column("hf_high").to_pylist(), strict=True))
    ranked = sorted(v for v in expected.values() if v is not None)
    assert ranked[20] - ranked[19] > 1e-4
    threshold = (ranked[19] + ranked[20]) / 2
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "part.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = parse_pipeline({
        "name": "hf-classifier",
        "stages": [{"stage": "hf_classifier", "params": {"model": str(model), "max_tokens": 32, "batch_size": 4, "min_score": {"high": threshold}}}],
        "ray": {"max_actors": 1, "batch_size": 8},
    })
    result = run_pipeline(config, str(corpus), tmp_path / "out", cards_dir=None, run_id="hf")

    kept = pa.concat_tables([pq.read_table(p) for p in (tmp_path / "out" / "data").glob("*.parquet")]).to_pylist()
    rejects = pa.concat_tables([pq.read_table(p) for p in (tmp_path / "out" / "rejects").glob("*.parquet")]).to_pylist()
    assert len(kept) + len(rejects) == len(rows)
    for row in kept:
        assert row["hf_high"] == pytest.approx(expected[row["id"]], abs=1e-6) if row["id"] != "empty" else row["hf_high"] is None
    assert {r["id"] for r in rejects} == {i for i, v in expected.items() if v is not None and v < threshold}
    assert len(rejects) == 20
    assert {r["reason"] for r in rejects} == {"hf_low_score"} and all(r["detail"].startswith("label=high score=") for r in rejects)

    card = result.card
    assert card["ledger"]["balanced"]
    [stage] = [s for s in card["stages"] if s["stage"] == "hf_classifier"]
    assert stage["counters"]["documents_scored"] == len(rows) - 1 and stage["counters"]["empty_text"] == 1
    assert stage["counters"]["model_seconds"] > 0 and stage["rejected_by_reason"] == {"hf_low_score": len(rejects)}
    histogram = stage["score_histograms"]["hf_high"]
    assert sum(histogram["counts"]) == len(rows) - 1 and histogram["thresholds"] == [threshold]
    [entry] = card["environment"]["models"]
    assert entry["role"] == "hf_classifier" and entry["model"] == str(model) and len(entry["sha256"]) == 64
