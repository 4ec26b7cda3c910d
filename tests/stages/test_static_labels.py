"""Domain and topic heads over static MiniLM embeddings (the default pipeline's labels)."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from curate.models.heads import LabelHead, fit_softmax
from curate.models.resolve import resolve_model
from curate.stages.quality_static import QualityStatic, QualityStaticParams
from curate.stages.static_labels import StaticLabels, StaticLabelsParams
from tests.conftest import REPO

FOOTBALL = ("Manchester United beat Liverpool 2-1 at Old Trafford on Sunday. The striker scored twice in the second half, "
            "and the coach praised the defence after the match. The league title race is now wide open with five games left.")
CODE = ("How to read a file line by line in Python.\n"
        "def read_lines(path):\n    with open(path) as handle:\n        return [line.rstrip() for line in handle]\n"
        "lines = read_lines('data.txt')\nprint(len(lines))\n"
        "The function returns a list of strings; pass the path of the file you want to read.")
CODE_WORDS_NO_CODE = ("Python functions read files line by line; the read_lines helper opens a path, strips each line and "
                      "returns a list of strings. Developers call it with the data file path and print the number of lines.")
RECIPE = ("Preheat the oven to 180 degrees. Mix the flour, sugar and butter, add two eggs and bake the cake for forty "
          "minutes until golden. Serve it warm with fresh cream and strawberries.")


def _batch(texts):
    return pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": pa.array(texts, pa.string())})


def test_labels_obvious_pages_with_the_fasttext_students_columns():
    out = StaticLabels(StaticLabelsParams()).process(_batch([FOOTBALL, CODE, RECIPE, "", CODE_WORDS_NO_CODE]))
    rows = out.kept.to_pylist()
    assert rows[0]["topic"] == "sports" and rows[2]["topic"] == "food"
    assert rows[1]["domain_code"] > 0.5 and rows[0]["domain_prose"] > 0.5
    assert sum(rows[1][f"domain_{label}"] for label in ("code", "math", "prose")) == pytest.approx(1.0, abs=1e-5)
    # The gate: a page about code with no line of code is prose, whatever its words say.
    assert rows[4]["domain_code"] == 0.0
    assert rows[3]["topic"] is None and rows[3]["domain_code"] is None
    assert out.counters["documents_scored"] == 4 and out.counters["empty_text"] == 1
    assert set(StaticLabels.output_columns(StaticLabelsParams())) == {
        "domain_code", "domain_math", "domain_prose", "topic", "topic_score"}


def test_after_the_quality_filter_each_text_is_tokenized_once():
    from curate.models.static_embed import forget_recent

    forget_recent()
    texts = [FOOTBALL, CODE, RECIPE]
    quality = QualityStatic(QualityStaticParams())
    labels = StaticLabels(StaticLabelsParams())
    first = quality.process(_batch(texts))
    second = labels.process(first.kept)
    assert second.counters["embeddings_reused"] == 3 and second.counters["tokens_read"] == 0
    forget_recent()
    fresh = StaticLabels(StaticLabelsParams()).process(first.kept)
    assert fresh.counters["tokens_read"] > 0
    assert fresh.kept.column("topic_score").to_pylist() == second.kept.column("topic_score").to_pylist()


def test_drop_topics_and_validation(tmp_path):
    out = StaticLabels(StaticLabelsParams(drop_topics=["sports"], drop_min_score=0.3)).process(_batch([FOOTBALL, RECIPE]))
    assert [r["reason"] for r in out.rejected.to_pylist()] == ["topic_dropped"] and out.kept.num_rows == 1
    with pytest.raises(ValueError, match="not topics"):
        StaticLabelsParams(drop_topics=["football"])
    with pytest.raises(ValueError, match="nothing to score"):
        StaticLabelsParams(domain_head=None, topic_head=None)
    head = LabelHead.load(resolve_model("builtin:topic_static"))
    other = tmp_path / "topic.json"
    LabelHead(head.labels, head.weights, head.biases, encoder="builtin:all-MiniLM-L6-v2", max_tokens=256).save(other)
    with pytest.raises(ValueError, match="trained on embeddings"):
        StaticLabelsParams(topic_head=str(other))


def test_softmax_head_learns_separable_labels_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8))
    x = np.vstack([c + 0.1 * rng.normal(size=(30, 8)) for c in centres])
    y = [label for label in ("a", "b", "c") for _ in range(30)]
    names, w, b = fit_softmax(x, y, l2=1e-4)
    head = LabelHead(names, w, b, encoder="e", max_tokens=8)
    assert [names[k] for k in head.predict(x).argmax(axis=1)] == y
    head.save(tmp_path / "h.json")
    again = LabelHead.load(tmp_path / "h.json")
    np.testing.assert_allclose(again.predict(x), head.predict(x), atol=1e-6)
    body = json.loads((tmp_path / "h.json").read_text())
    body["gates"] = {"a": "no_such_gate"}
    (tmp_path / "bad.json").write_text(json.dumps(body))
    with pytest.raises(ValueError, match="gates"):
        LabelHead.load(tmp_path / "bad.json")


def test_shipped_heads_beat_the_fasttext_students_they_replace():
    metrics = json.loads((REPO / "classifiers" / "domain_static" / "metrics.json").read_text())
    for head in ("domain", "topic"):
        m = metrics["heads"][head]
        assert m["agreement_held_out_static"] >= m["agreement_held_out_fasttext"]
    s = metrics["sanity"]
    assert s["static_code_recall"] >= s["fasttext_code_recall"] and s["static_math_recall"] >= s["fasttext_math_recall"]
    assert s["static_code_precision"] >= 0.95 and s["static_math_precision"] >= 0.95
