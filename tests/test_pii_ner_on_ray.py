"""pii_scrub with a NER model on Ray: a model saved with save_pretrained loads by path on an actor
pool (the path a hub id takes once cached), names become <NAME>, and the card records the model."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.config import parse_pipeline
from curate.run import run_pipeline
from tests.pii.tiny_ner import build_tiny_ner

pytestmark = pytest.mark.slow


def test_ner_model_scrubs_names_on_an_actor_pool(ray_session, tmp_path):
    model = build_tiny_ner(tmp_path / "tiny-ner", "bio")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = [
        {"id": "a", "url": "https://example.org/a", "text": "hello ada lovelace , mail ada@corp.io ."},
        {"id": "b", "url": "https://example.org/b", "text": "the graceln met alan turing in paris ."},
        {"id": "c", "url": "https://example.org/c", "text": "the a met and in of with said"},
    ]
    (corpus / "part.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = parse_pipeline({
        "name": "ner",
        "stages": [{"stage": "pii_scrub", "params": {"ner_model": str(model), "ner_labels": {"PER": "NAME"}, "ner_max_length": 32, "ner_stride": 8}}],
        "ray": {"max_actors": 1},
    })
    result = run_pipeline(config, str(corpus), tmp_path / "out", cards_dir=None, run_id="ner")
    kept = {r["id"]: r for r in pa.concat_tables([pq.read_table(p) for p in (tmp_path / "out" / "data").glob("*.parquet")]).to_pylist()}
    assert kept["a"]["text"] == "hello <NAME> , mail <EMAIL> ."
    assert kept["b"]["text"] == "the graceln met <NAME> in paris ."  # "paris" is LOC, not mapped
    assert kept["c"]["text"] == rows[2]["text"]
    assert kept["a"]["pii_counts"]["name"] == 1 and kept["a"]["pii_counts"]["email"] == 1
    card = result.card
    assert card["pii"]["by_type"]["name"] == {"occurrences": 2, "documents": 2}
    [entry] = card["environment"]["models"]
    assert entry["role"] == "pii_ner" and entry["model"] == str(model) and len(entry["sha256"]) == 64
    assert card["ledger"]["balanced"]
