"""Fuzzy dedup against the sample corpus's planted near duplicates.

The sample plants copies of pages with known edit fractions; the truth for each planted pair is the
exact word 5-gram Jaccard of the two *extracted* texts (what the stage shingles), so a pair is a
true duplicate when that Jaccard is ≥ 0.8. The texts entering fuzzy dedup come from a first run
(extraction → length filter → URL and exact dedup); the second run dedups them on Ray.
"""
import json

import pyarrow.parquet as pq
import pytest
import yaml

from curate.config import parse_pipeline
from curate.dedup.minhash import word_shingles
from curate.run import run_pipeline
from curate.sample import generate_sample_corpus
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _pipeline(stage_names, **output):
    data = yaml.safe_load((REPO / "pipelines" / "llama3.yaml").read_text())
    data["stages"] = [s for s in data["stages"] if s["stage"] in stage_names]
    data.pop("mix", None)  # its rules read columns of stages left out here
    data["output"].update(output)
    return parse_pipeline(data, origin="pipelines/llama3.yaml")


def _jaccard(a, b):
    sa, sb = set(word_shingles(a)), set(word_shingles(b))
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def test_precision_and_recall_on_planted_near_duplicates(ray_session, tmp_path):
    corpus = tmp_path / "sample"
    generate_sample_corpus(corpus, seed=5, pages=3000, pages_per_warc=500)
    before = run_pipeline(_pipeline({"extract_html", "length_filter", "url_key", "url_dedup", "exact_dedup"}, shard_input_mib=2),
                          str(corpus / "warc"), tmp_path / "before", cards_dir=None, run_id="before-fuzzy")
    assert before.card["ledger"]["balanced"]
    after = run_pipeline(_pipeline({"fuzzy_dedup"}, shard_input_mib=0.5), str(tmp_path / "before" / "data"),
                         tmp_path / "after", cards_dir=None, run_id="fuzzy")
    assert after.card["ledger"]["balanced"]

    texts = dict(zip(*pq.read_table(tmp_path / "before" / "data", columns=["id", "text"]).to_pydict().values(), strict=True))
    survivor = {i: i for i in pq.read_table(tmp_path / "after" / "data", columns=["id"]).column("id").to_pylist()}
    for r in pq.read_table(tmp_path / "after" / "rejects").to_pylist():
        survivor[r["id"]] = r["detail"].removeprefix("survivor=")
    truth = [json.loads(line) for line in (corpus / "ground_truth.jsonl").read_text().splitlines()]
    pairs = [(t["id"], t["near_dup_of"]) for t in truth if t["near_dup_of"] and t["id"] in texts and t["near_dup_of"] in texts]
    scored = [(_jaccard(texts[a], texts[b]) >= 0.8, survivor[a] == survivor[b]) for a, b in pairs]
    tp = sum(1 for true, merged in scored if true and merged)
    fp = sum(1 for true, merged in scored if merged and not true)
    fn = sum(1 for true, merged in scored if true and not merged)
    assert len(pairs) >= 100 and tp + fn >= 60 and len(pairs) - tp - fn >= 20
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"planted pairs {len(pairs)}: precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.98 and recall >= 0.95
