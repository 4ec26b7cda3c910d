"""The embedding teacher stage with the shipped MiniLM, quality head and taxonomy."""
from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from curate.contract import Resources
from curate.stages.embed_classifier import EmbedClassifier, EmbedClassifierParams
from tests.conftest import REPO

FOOTBALL = ("Manchester United beat Liverpool 2-1 at Old Trafford on Sunday. The striker scored twice in the second half, "
            "and the coach praised the defence after the match. The league title race is now wide open with five games left.")
CODE = ("How to read a file line by line in Python.\n"
        "def read_lines(path):\n    with open(path) as handle:\n        return [line.rstrip() for line in handle]\n"
        "lines = read_lines('data.txt')\nprint(len(lines))\n"
        "The function returns a list of strings; pass the path of the file you want to read.")
SPAM = "BUY NOW!!! cheap pills best price free shipping click here casino bonus win win win " * 6
ARTICLE = ("The committee published its annual report on water quality in the region. Researchers measured nitrate levels "
           "at forty sites over two years and found that concentrations fell by a third after farmers changed how they "
           "apply fertiliser. The report recommends extending the programme to neighbouring districts.")


@pytest.fixture(scope="module")
def stage():
    stage = EmbedClassifier(EmbedClassifierParams(batch_size=4, torch_threads=1))
    stage.ensure_setup()
    return stage


def _batch(texts, ids=None):
    ids = [f"d{i}" for i in range(len(texts))] if ids is None else ids
    return pa.table({"id": ids, "url": [None] * len(texts), "source": ["s"] * len(texts),
                     "text": pa.array(texts, pa.string())})


def varied_texts(n=40, seed=3):
    """Texts of many token lengths (a few words to past max_tokens), so padded batches would mix lengths."""
    rng = random.Random(seed)
    pieces = [FOOTBALL, CODE, SPAM, ARTICLE]
    texts = []
    for i in range(n):
        text = " ".join(rng.choice(pieces) for _ in range(1 + i % 5))
        texts.append(text[: rng.randint(15, len(text))])
    return texts


def test_teacher_scores_obvious_pages(stage):
    out = stage.process(_batch([FOOTBALL, CODE, SPAM, ARTICLE, ""]))
    rows = out.kept.to_pylist()
    assert rows[0]["topic_embed"] == "sports"
    assert rows[1]["domain_embed"] == "code" and rows[1]["topic_embed"] == "programming"
    assert rows[0]["domain_embed"] == rows[3]["domain_embed"] == "prose"
    assert rows[2]["topic_embed"] == "shopping_promotional"
    assert rows[3]["quality_embed"] > rows[2]["quality_embed"]
    probabilities = [rows[1][f"domain_embed_{label}"] for label in ("code", "math", "prose")]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    assert rows[4]["quality_embed"] is None and rows[4]["topic_embed"] is None  # empty text: no scores, kept
    assert out.counters["documents_scored"] == 4 and out.counters["empty_text"] == 1
    assert out.counters["tokens_read"] > 100 and out.counters["model_seconds"] > 0
    assert sum(out.histograms["quality_embed"]) == 4


def test_output_columns_follow_the_params():
    columns = EmbedClassifier.output_columns(EmbedClassifierParams(heads=["topic"], label_probabilities=False))
    assert list(columns) == ["quality_embed", "topic_embed", "topic_embed_score"]
    columns = EmbedClassifier.output_columns(EmbedClassifierParams(quality_head=None, heads=["domain"]))
    assert set(columns) == {"domain_embed", "domain_embed_score", "domain_embed_code", "domain_embed_math", "domain_embed_prose"}


def test_min_quality_rejects_with_the_value(stage):
    strict = EmbedClassifier(EmbedClassifierParams(min_quality=0.5, heads=[], taxonomy=None, torch_threads=1))
    strict.encoder, strict.quality, strict.heads, strict._ready = stage.encoder, stage.quality, {}, True
    out = strict.process(_batch([SPAM, ARTICLE]))
    assert out.kept.column("id").to_pylist() == ["d1"]
    reject = out.rejected.to_pylist()[0]
    assert reject["reason"] == "quality_embed_low" and reject["detail"].startswith("quality_embed=0.")


def test_params_refuse_a_head_from_another_encoder(tmp_path):
    head = json.loads((REPO / "classifiers" / "quality_embed" / "head.json").read_text())
    head["encoder"] = "someorg/other-encoder"
    (tmp_path / "head.json").write_text(json.dumps(head))
    with pytest.raises(ValueError, match="was trained on encoder 'someorg/other-encoder'"):
        EmbedClassifierParams(quality_head=str(tmp_path / "head.json"))
    with pytest.raises(ValueError, match="max_tokens=256"):
        EmbedClassifierParams(max_tokens=128)
    with pytest.raises(ValueError, match=r"heads: \['genre'\]"):
        EmbedClassifierParams(heads=["genre"])
    with pytest.raises(ValueError, match="nothing to score"):
        EmbedClassifierParams(quality_head=None, taxonomy=None)


def test_placement_and_models_follow_the_params():
    assert EmbedClassifier.placement(EmbedClassifierParams(num_gpus=1, num_cpus=2)) == Resources(True, 2.0, 1.0)
    assert EmbedClassifier.placement(EmbedClassifierParams(memory_mib=512)).memory_bytes == 512 * 2**20
    roles = [m["role"] for m in EmbedClassifier.models(EmbedClassifierParams())]
    assert roles == ["encoder", "quality_head", "taxonomy"]


def test_sample_fraction_scores_a_hashed_sample_and_audits_the_students(stage):
    sampler = EmbedClassifier(EmbedClassifierParams(sample_fraction=0.5, torch_threads=1))
    sampler.encoder, sampler.quality, sampler.heads, sampler._ready = stage.encoder, stage.quality, stage.heads, True
    texts = [FOOTBALL, CODE, SPAM, ARTICLE] * 5
    batch = _batch(texts)
    # Students' columns as the fastText stages would have written them (here: all "prose", "sports", hq).
    n = len(texts)
    batch = batch.append_column("quality_fasttext", pa.array([0.9] * n, pa.float32()))
    for label, value in (("code", 0.1), ("math", 0.1), ("prose", 0.8)):
        batch = batch.append_column(f"domain_{label}", pa.array([value] * n, pa.float32()))
    batch = batch.append_column("topic", pa.array(["sports"] * n, pa.string()))
    out = sampler.process(batch)
    scored = [q is not None for q in out.kept.column("quality_embed").to_pylist()]
    assert scored == sampler.sampled(batch.column("id").to_pylist())
    assert 0 < sum(scored) < n and out.counters["documents_not_sampled"] == n - sum(scored)
    assert out.counters["documents_scored"] == sum(scored) and out.kept.num_rows == n
    rows = out.kept.to_pylist()
    expected_topic = sum(1 for r in rows if r["topic_embed"] == "sports")
    expected_domain = sum(1 for r in rows if r["domain_embed"] == "prose")
    expected_quality = sum(1 for r in rows if r["quality_embed"] is not None and r["quality_embed"] >= 0.5)
    assert out.counters["audit_topic_documents"] == out.counters["audit_domain_documents"] == sum(scored)
    assert out.counters["audit_topic_agree"] == expected_topic and out.counters["audit_domain_agree"] == expected_domain
    assert out.counters["audit_quality_agree"] == expected_quality
    # The same ids are sampled in every batch and process: the sample depends on the id and seed only.
    assert sampler.sampled(["a", "b", "c"]) == sampler.sampled(["a", "b", "c"])


def test_scores_do_not_depend_on_batch_size_or_order():
    # Padded batches used to move the teacher's probabilities by ~1e-6 with the documents that
    # shared a batch, so the same corpus gave different shards when Ray cut blocks differently.
    texts = varied_texts()
    runs = {}
    for batch_size in (1, 5, 32):
        stage = EmbedClassifier(EmbedClassifierParams(batch_size=batch_size, torch_threads=1))
        runs[f"batch_size={batch_size}"] = stage.process(_batch(texts)).kept
    order = random.Random(11).sample(range(len(texts)), len(texts))
    shuffled = stage.process(_batch([texts[i] for i in order], [f"d{i}" for i in order])).kept
    runs["shuffled"] = shuffled.take(pa.array(np.argsort(order)))
    runs["rerun"] = stage.process(_batch(texts)).kept
    reference = runs.pop("batch_size=1")
    columns = list(EmbedClassifier.output_columns(stage.params))
    assert reference.column("id").to_pylist() == [f"d{i}" for i in range(len(texts))]
    assert len(set(reference.column("quality_embed").to_pylist())) > len(texts) // 2  # the texts really differ
    for name, table in runs.items():
        assert table.column("id") == reference.column("id")
        for column in columns:
            assert table.column(column) == reference.column(column), f"{column} differs at {name}"
