"""fastText classifier stages: a real model trained here, scores as columns, keep rules, validation."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from curate.config import ConfigError, parse_pipeline
from curate.models.fasttext_classifier import FastTextClassifier as FastTextModel
from curate.models.fasttext_classifier import fasttext_line, train_student
from curate.stages.domain_fasttext import DomainFastText
from curate.stages.fasttext_classifier import FastTextClassifier, FastTextClassifierParams
from curate.stages.quality_fasttext import QualityFastText, QualityFastTextParams
from curate.stages.topic_fasttext import TopicFastText, TopicFastTextParams

CODE = ["def main(): return x + 1", "for i in range(10): print(i)", "int main() { return 0; }", "import os; os.path.join(a, b)",
        "class Foo: def bar(self): pass", "x = [i * 2 for i in items]", "if (a == b) { c++; }", "function f(x) { return x; }"]
PROSE = ["the weather was lovely at the beach today", "we visited our grandmother in the village", "the team won the final match",
         "she bought fresh bread at the market", "the museum opens at nine in the morning", "our garden is full of roses",
         "the train to the city was late again", "they sang songs around the fire"]


@pytest.fixture(scope="module")
def two_label_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("ft") / "code.ftz"
    examples = [("code", t) for t in CODE] * 20 + [("prose", t) for t in PROSE] * 20
    train_student(examples, path, dim=16, epoch=20, lr=0.1, min_count=1, cutoff=1000)
    return str(path)


@pytest.fixture(scope="module")
def quality_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("ftq") / "quality.ftz"
    examples = [("hq", t) for t in PROSE] * 20 + [("lq", "buy now cheap " + t.split()[-1]) for t in PROSE] * 20
    train_student(examples, path, dim=16, epoch=20, lr=0.1, min_count=1, cutoff=1000)
    return str(path)


def _batch(texts):
    return pa.table({"id": [f"d{i}" for i in range(len(texts))], "url": [f"https://e.x/{i}" for i in range(len(texts))],
                     "source": ["s"] * len(texts), "text": pa.array(texts, pa.string())})


def test_fasttext_line_equals_split_symbols_then_collapse_whitespace():
    # The definition the shipped students were trained with, on texts of many scripts and symbols.
    import random
    import re

    def reference(text):
        return re.sub(r"\s+", " ", re.sub(r"([^\w\s])", r" \1 ", text.lower())).strip()

    rng = random.Random(0)
    alphabet = "abcXYZ019_ éßçДжλΩ中文日本語한국어ไทย{}();=+-*/\\$^&%#@!?.,:'\"<>[]\t\n\r\u00a0\u2028€™😀\u0301"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(500)]
    assert all(fasttext_line(t) == reference(t) for t in texts)


def test_fasttext_line_splits_symbols_and_lowercases():
    assert fasttext_line("Def F(x):\n  Return {x}") == "def f ( x ) : return { x }"
    assert fasttext_line("") == "" and fasttext_line(None) == ""
    assert fasttext_line("a" * 50, max_chars=10) == "a" * 10


def test_retraining_gives_the_same_labels(tmp_path, two_label_model):
    # fastText is not bit-reproducible here (see curate.models.fasttext_classifier); labels are.
    again = tmp_path / "again.ftz"
    examples = [("code", t) for t in CODE] * 20 + [("prose", t) for t in PROSE] * 20
    train_student(examples, again, dim=16, epoch=20, lr=0.1, min_count=1, cutoff=1000)
    # Probes of words both models saw: an unseen word would leave the answer to the label prior.
    probe = ["return x + 1", "the team won the final match", "if (a == b) { return 0; }", "our garden is full of roses"]
    first, second = FastTextModel(two_label_model), FastTextModel(again)
    labels = lambda model: [model.labels[j] for j in model.predict_proba(probe).argmax(axis=1)]
    assert labels(first) == labels(second) == ["code", "prose", "code", "prose"]


def test_student_training_refuses_unigram_only():
    with pytest.raises(ValueError, match="word_ngrams"):
        train_student([("a", "x y")], "/nonexistent/never.ftz", word_ngrams=1)


def test_generic_stage_writes_a_probability_per_label(two_label_model):
    stage = FastTextClassifier(FastTextClassifierParams(model=two_label_model, prefix="kind"))
    out = stage.process(_batch(["while (x < 3) { x += 1; }", "the children played in the park all afternoon", "", None]))
    assert FastTextClassifier.output_columns(stage.params) == {"kind_code": pa.float32(), "kind_prose": pa.float32()}
    code, prose = out.kept.column("kind_code").to_pylist(), out.kept.column("kind_prose").to_pylist()
    assert code[0] > 0.5 > code[1]
    assert abs(code[0] + prose[0] - 1) < 1e-3 and abs(code[1] + prose[1] - 1) < 1e-3
    assert code[2] is None and code[3] is None  # no text: no score, and kept
    assert out.counters["documents_scored"] == 2 and out.counters["empty_text"] == 2
    assert sum(out.histograms["kind_code"]) == 2


def test_generic_keep_rules_reject_with_label_and_value(two_label_model):
    stage = FastTextClassifier(FastTextClassifierParams(model=two_label_model, prefix="kind", min_score={"prose": 0.5}))
    out = stage.process(_batch(["for (i = 0; i < n; i++) { sum += a[i]; }", "the old man walked his dog by the river"]))
    assert out.kept.column("id").to_pylist() == ["d1"]
    reject = out.rejected.to_pylist()[0]
    assert reject["reason"] == "fasttext_low_score" and reject["detail"].startswith("label=prose score=0.")
    assert reject["detail"].endswith("<0.50")
    stage = FastTextClassifier(FastTextClassifierParams(model=two_label_model, prefix="kind", max_score={"code": 0.5}))
    out = stage.process(_batch(["for (i = 0; i < n; i++) { sum += a[i]; }", "the old man walked his dog by the river"]))
    assert out.rejected.column("reason").to_pylist() == ["fasttext_high_score"]


def test_params_name_the_bad_label(two_label_model):
    with pytest.raises(ValueError, match=r"min_score: \['spam'\] are not labels"):
        FastTextClassifierParams(model=two_label_model, min_score={"spam": 0.5})
    with pytest.raises(ValueError, match="outside"):
        FastTextClassifierParams(model=two_label_model, max_score={"code": 1.5})
    with pytest.raises(ValueError, match="no such file"):
        FastTextClassifierParams(model="nowhere/model.ftz")
    with pytest.raises(ValueError, match="not a builtin model"):
        FastTextClassifierParams(model="builtin:nope")


def test_pipeline_error_names_stage_and_key(two_label_model):
    with pytest.raises(ConfigError, match=r"stages\[0\] \(fasttext_classifier\): params.min_scor: unknown key"):
        parse_pipeline({"name": "x", "stages": [{"stage": "fasttext_classifier", "params": {"model": two_label_model, "min_scor": {}}}]})


def test_quality_stage_column_and_threshold(quality_model):
    stage = QualityFastText(QualityFastTextParams(model=quality_model, min_score=0.5))
    out = stage.process(_batch(["the museum opens at nine in the morning", "buy now cheap roses", ""]))
    assert out.kept.column("id").to_pylist() == ["d0", "d2"]
    assert out.kept.column("quality_fasttext").to_pylist()[1] is None
    reject = out.rejected.to_pylist()[0]
    assert reject["reason"] == "quality_low" and reject["detail"].startswith("quality_fasttext=0.")
    assert QualityFastText.score_histograms(stage.params)["quality_fasttext"].thresholds == (0.5,)


def test_quality_stage_needs_an_hq_label(two_label_model):
    with pytest.raises(ValueError, match="no 'hq' label"):
        QualityFastTextParams(model=two_label_model)


def test_domain_stage_is_the_generic_one_with_domain_columns(two_label_model):
    stage = DomainFastText(DomainFastText.Params(model=two_label_model))
    assert set(DomainFastText.output_columns(stage.params)) == {"domain_code", "domain_prose"}
    out = stage.process(_batch(["print(x); return y;"]))
    assert out.kept.column("domain_code").to_pylist()[0] > 0.5


def test_topic_stage_top_label_and_drop_rule(two_label_model):
    stage = TopicFastText(TopicFastTextParams(model=two_label_model, drop_topics=["code"], drop_min_score=0.6))
    out = stage.process(_batch(["if (a) { b(); } else { c(); }", "my aunt baked a cake for the party", None]))
    assert out.kept.column("topic").to_pylist() == ["prose", None]
    assert out.rejected.column("reason").to_pylist() == ["topic_dropped"]
    assert out.rejected.column("detail").to_pylist()[0].startswith("topic=code score=")
    with pytest.raises(ValueError, match="drop_topics"):
        TopicFastTextParams(model=two_label_model, drop_topics=["sports"])


def test_model_wrapper_rows_follow_label_order(two_label_model):
    model = FastTextModel(two_label_model)
    probabilities = model.predict_proba(["x = f(y);", "the sun set over the quiet lake"])
    assert probabilities.shape == (2, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
    assert probabilities[0, model.labels.index("code")] > probabilities[1, model.labels.index("code")]


def test_lines_of_the_previous_batch_are_reused_and_equal_fresh_ones():
    from curate.models import fasttext_classifier as ft

    texts = ["Hello, World!", "x = f(y);", "", None, "Hello, World!"]
    first = ft.fasttext_lines(texts)
    assert first == [ft.fasttext_line(t) for t in texts]
    assert ft.fasttext_lines(texts[:2]) == first[:2]  # the next student of a chain: same lines
    assert ft.fasttext_lines(texts[:2], max_chars=3) == ["hel", "x ="]  # max_chars is part of the key
    assert set(ft._LAST_LINES) == {("Hello, World!", 3), ("x = f(y);", 3)}  # only the last batch is held


OBVIOUS_TOPICS = {
    "The striker scored twice as the team won the league match 3-1; the coach praised the defence and the fans.": "sports",
    "Mix the flour, sugar and eggs, pour the batter into the tin and bake the cake for 30 minutes at 180 degrees.": "food",
    "The hotel is a short walk from the beach; book your flights early and visit the old town and the harbour.": "travel",
    "Symptoms of the disease include fever and cough; the doctor prescribed rest, fluids and a course of antibiotics.": "health",
}


def test_shipped_students_on_obvious_pages():
    topic = TopicFastText(TopicFastTextParams()).process(_batch(list(OBVIOUS_TOPICS)))
    assert topic.kept.column("topic").to_pylist() == list(OBVIOUS_TOPICS.values())
    code_page = "How to read a file in Python:\nwith open(path) as f:\n    for line in f:\n        print(line.strip())\nlines = read(path)\n"
    domain = DomainFastText(DomainFastText.Params()).process(_batch([code_page, list(OBVIOUS_TOPICS)[0]])).kept
    assert domain.column("domain_code").to_pylist()[0] > 0.5 and domain.column("domain_prose").to_pylist()[1] > 0.5
