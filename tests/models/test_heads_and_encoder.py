"""Embedding heads (logistic fit, zero-shot gates), the mean-pooled MiniLM encoder, model references."""
from __future__ import annotations

import json

import numpy as np
import pytest

from curate.models.heads import GATES, LogisticHead, ZeroShotHead, fit_logistic, load_taxonomy
from curate.models.resolve import ModelReferenceError, model_card_entry, resolve_model
from tests.conftest import REPO


def test_fit_logistic_reaches_the_optimum():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x @ np.array([2.0, -1.0, 0.0]) + 0.5 + rng.logistic(size=400) > 0).astype(float)
    w, b = fit_logistic(x, y, l2=1e-6)
    # The gradient of the log-loss vanishes at the returned point.
    p = 1 / (1 + np.exp(-(x @ w + b)))
    assert np.abs(x.T @ (p - y)).max() < 1e-4 and abs((p - y).sum()) < 1e-4
    assert w[0] > 1.0 and w[1] < -0.5 and abs(w[2]) < 0.4
    # A stronger penalty shrinks the weights.
    w_strong, _ = fit_logistic(x, y, l2=100.0)
    assert np.linalg.norm(w_strong) < np.linalg.norm(w)
    with pytest.raises(ValueError, match="both classes"):
        fit_logistic(x, np.ones(400))


def test_logistic_head_round_trip_and_empty_rows(tmp_path):
    head = LogisticHead(np.array([1.0, -1.0]), 0.25, encoder="builtin:all-MiniLM-L6-v2", max_tokens=256, metrics={"auc": 0.8})
    head.save(tmp_path / "h.json")
    loaded = LogisticHead.load(tmp_path / "h.json")
    scores = loaded.predict(np.array([[1.0, 0.0], [0.0, 0.0]]))
    assert scores[0] == pytest.approx(1 / (1 + np.exp(-1.25))) and np.isnan(scores[1])
    assert loaded.metrics == {"auc": 0.8} and loaded.encoder == "builtin:all-MiniLM-L6-v2"
    (tmp_path / "bad.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not a curate.logistic_head/1"):
        LogisticHead.load(tmp_path / "bad.json")


def _toy_encode(texts):
    # Two directions: texts with "code" words point one way, others the other way.
    rows = [[1.0, 0.0] if "function" in t or "code" in t else [0.0, 1.0] for t in texts]
    return np.asarray(rows)


def test_zero_shot_gate_moves_mass_to_the_fallback():
    head = ZeroShotHead({"code": ["code function"], "prose": ["a story"]}, 0.1, _toy_encode,
                        gates={"code": "code_lines"}, fallback="prose")
    embeddings = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    texts = ["def f(x):\n    return x\nprint(f(1))", "a page about code in general, no code in it", ""]
    probabilities = head.predict(embeddings, texts)
    assert probabilities[0].argmax() == 0  # about code and made of code
    assert probabilities[1, 0] == 0.0 and probabilities[1, 1] == pytest.approx(1.0)  # about code only
    assert np.isnan(probabilities[2]).all()
    with pytest.raises(ValueError, match="needs the texts"):
        head.predict(embeddings)


@pytest.mark.parametrize("text,expected", [
    ("def area(r):\n    return 3.14 * r * r\n", True),
    ("int main() {\n  printf(\"hi\");\n}", True),
    ("import numpy as np\nx = np.zeros(3)", True),
    ("We went to the beach; the sea was calm.\nThen we ate lunch.", False),
    ("Price: 3 = three dollars\nThe end of the story.", False),
])
def test_code_gate(text, expected):
    assert GATES["code_lines"](text) is expected


@pytest.mark.parametrize("text,expected", [
    ("Let $x^2 + y^2 = r^2$.\nThen \\frac{a}{b} = c.", True),
    ("We have 2x + 3 = 7\nso x = 2 and 3y - 1 = 5", True),
    ("∑ a_i ≤ 1 for all i\nand ∫ f ≥ 0", True),
    ("The game ended 3-2 and fans cheered.\nIt rained in the evening.", False),
])
def test_math_gate(text, expected):
    assert GATES["math_lines"](text) is expected


def test_shipped_taxonomy_is_valid_and_has_the_gates():
    taxonomy = load_taxonomy(REPO / "classifiers" / "domain" / "taxonomy.json")
    assert set(taxonomy["heads"]) == {"domain", "topic"}
    assert set(taxonomy["heads"]["domain"]["gates"]) == {"code", "math"}
    assert 15 <= len(taxonomy["heads"]["topic"]["labels"]) <= 25


def test_taxonomy_errors_name_the_head(tmp_path):
    bad = {"format": "curate.taxonomy/1", "heads": {"kind": {"temperature": 0.1, "labels": {"a": ["x"], "b": []}}}}
    (tmp_path / "t.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"heads.kind.labels.b"):
        load_taxonomy(tmp_path / "t.json")


def test_references_resolve_or_explain(tmp_path, monkeypatch):
    assert resolve_model("builtin:quality_fasttext").endswith("classifiers/quality_fasttext/model.ftz")
    assert resolve_model("classifiers/domain/topic.ftz", expect="file") == str(REPO / "classifiers" / "domain" / "topic.ftz")
    assert resolve_model("someorg/some-model", allow_hub=True) == "someorg/some-model"
    with pytest.raises(ModelReferenceError, match="no such file"):
        resolve_model("someorg/some-model")
    with pytest.raises(ModelReferenceError, match="is not a folder"):
        resolve_model("builtin:quality_fasttext", expect="dir")
    entry = model_card_entry("x", resolve_model("builtin:topic_fasttext"))
    assert len(entry["sha256"]) == 64


@pytest.fixture(scope="module")
def minilm():
    from curate.models.embed import MeanPooledEncoder

    return MeanPooledEncoder(resolve_model("builtin:all-MiniLM-L6-v2"), max_tokens=64, batch_size=2, torch_threads=1)


def test_minilm_embeddings_are_unit_length_and_order_independent(minilm):
    texts = ["The cat sat on the mat.", "", "Stock markets fell sharply on Monday. " * 40, "A kitten rested on the rug."]
    vectors = minilm.encode(texts)
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors[[0, 2, 3]], axis=1), 1.0, atol=1e-5) and not vectors[1].any()
    assert minilm.truncated == 1  # the repeated sentence is longer than 64 tokens
    # Length sorting inside encode must not change which vector belongs to which text.
    alone = minilm.encode([texts[3]])[0]
    assert np.allclose(alone, vectors[3], atol=1e-5)
    # Paraphrases are closer than unrelated sentences.
    assert vectors[0] @ vectors[3] > vectors[0] @ vectors[2] + 0.2


def test_a_long_document_prints_no_sequence_length_warning(capfd):
    # The encoder used to count a text's tokens with truncation off, over max_tokens * 8 characters:
    # a dense page (CJK, digits) is longer than the model's 512 positions there, and transformers
    # printed "Token indices sequence length is longer than the specified maximum sequence length
    # ... indexing errors" on every such run although the model only ever read 256 tokens.
    import logging

    from curate.models.embed import MeanPooledEncoder

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # transformers' logger does not propagate to pytest's caplog
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        encoder = MeanPooledEncoder(resolve_model("builtin:all-MiniLM-L6-v2"), max_tokens=256, torch_threads=1)
        long_texts = ["数据" * 3000, " ".join(str(i) for i in range(5000)), "The cat sat on the mat."]
        vectors = encoder.encode(long_texts)
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records] + capfd.readouterr().err.splitlines()
    assert not [m for m in messages if "sequence length is longer" in m], messages
    assert encoder.truncated == 2 and encoder.tokens_read == 256 + 256 + 9  # [CLS] the cat sat on the mat . [SEP]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_each_text_is_embedded_as_if_alone(minilm):
    # On CPU a text's embedding must not depend on the texts encoded with it (no padding, one text
    # per forward call), bit for bit, whatever the batch size.
    texts = ["The cat sat on the mat.", "Stock markets fell sharply on Monday. " * 3, "A kitten rested on the rug.",
             "def f(x):\n    return x * 2\n", "Rain is expected tomorrow across the north of the country."]
    together = minilm.encode(texts)
    alone = np.vstack([minilm.encode([text]) for text in texts])
    assert np.array_equal(together, alone)
    batch_size, minilm.batch_size = minilm.batch_size, 5
    try:
        assert np.array_equal(minilm.encode(texts[::-1])[::-1], alone)
    finally:
        minilm.batch_size = batch_size
