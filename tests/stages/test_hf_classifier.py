"""hf_classifier: a sequence classifier saved with save_pretrained loads by path (and by hub id from
the cache), scores match the model run text by text, and the keep rules reject with reasons."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
import torch
from pydantic import ValidationError
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from curate.contract import Resources
from curate.schema import DOCUMENT_SCHEMA, conform
from curate.stages import registry
from curate.stages.hf_classifier import HfClassifier, HfClassifierParams, column_suffix
from tests.conftest import REPO
from tests.tiny_seqcls import MAX_POSITIONS, build_tiny_seqcls

TEXTS = [
    "we show that this method is good .",
    "buy now !",
    "the results of the study show that the data on the history of science is great , and the paper is good .",
    "click here for a free offer",
    "poor page",
    "the paper",
]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("seqcls")
    return {
        "classification": build_tiny_seqcls(root / "cls"),
        "regression": build_tiny_seqcls(root / "reg", head="regression", seed=1),
        "multi_label": build_tiny_seqcls(root / "multi", head="multi_label", labels=("Toxic Speech", "spam"), seed=2),
    }


def _batch(texts):
    n = len(texts)
    table = pa.table({"id": [f"d{i}" for i in range(n)], "url": [f"https://e.org/{i}" for i in range(n)], "text": pa.array(texts, pa.string())})
    return conform(table, DOCUMENT_SCHEMA)


def _run(texts, **params):
    stage = HfClassifier(HfClassifierParams(**params))
    return stage, stage.process(_batch(texts))


def _reference(folder, texts, max_tokens):
    """Each text through the model alone: no batching, no padding, no sorting."""
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.inference_mode():
        return [model(**tokenizer(t, truncation=True, max_length=max_tokens, return_tensors="pt")).logits[0].numpy() for t in texts]


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


# --- parameters ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "params, key",
    [
        ({"modle": "x"}, "modle"),
        ({"model": "no/such/folder/anywhere"}, "model"),
        ({"labels": ["medium"]}, "labels"),
        ({"min_score": {"medium": 0.5}}, "min_score"),
        ({"labels": ["high"], "max_score": {"low": 0.5}}, "max_score"),
        ({"min_score": {"high": 1.5}}, "min_score"),
        ({"max_tokens": MAX_POSITIONS + 1}, "max_tokens"),
        ({"max_tokens": 1}, "max_tokens"),
        ({"prefix": "Quality-Score"}, "prefix"),
        ({"head": "ranking"}, "head"),
        ({"batch_size": 0}, "batch_size"),
        ({"score_range": [1.0, 0.0]}, "score_range"),
    ],
)
def test_bad_parameters_fail_naming_the_key(models, params, key):
    with pytest.raises(ValidationError) as error:
        HfClassifierParams(**{"model": str(models["classification"]), **params})
    assert key in str(error.value)


def test_an_encoder_without_a_classification_head_is_refused(models, tmp_path):
    # e.g. builtin:all-MiniLM-L6-v2 itself: loading it would add a random head.
    encoder = tmp_path / "encoder"
    encoder.mkdir()
    for f in models["classification"].iterdir():
        (encoder / f.name).write_bytes(f.read_bytes())
    config = json.loads((encoder / "config.json").read_text())
    (encoder / "config.json").write_text(json.dumps({**config, "architectures": ["BertModel"]}))
    with pytest.raises(ValidationError, match="BertModel, not a sequence classifier"):
        HfClassifierParams(model=str(encoder))


def test_columns_follow_the_model_config(models):
    p = HfClassifierParams(model=str(models["classification"]), prefix="quality", min_score={"high": 0.5})
    assert HfClassifier.output_columns(p) == {"quality_low": pa.float32(), "quality_high": pa.float32()}
    assert HfClassifier.score_histograms(p)["quality_high"].thresholds == (0.5,)
    assert HfClassifier.score_histograms(p)["quality_low"].thresholds == ()
    only = HfClassifierParams(model=str(models["classification"]), labels=["high"])
    assert list(HfClassifier.output_columns(only)) == ["hf_high"]
    reg = HfClassifierParams(model=str(models["regression"]), score_range=(-3, 3))
    assert HfClassifier.output_columns(reg) == {"hf_score": pa.float32()}
    assert (HfClassifier.score_histograms(reg)["hf_score"].low, HfClassifier.score_histograms(reg)["hf_score"].high) == (-3, 3)
    multi = HfClassifierParams(model=str(models["multi_label"]))
    assert list(HfClassifier.output_columns(multi)) == ["hf_toxic_speech", "hf_spam"]
    assert column_suffix("Toxic Speech") == "toxic_speech"
    # The default max_tokens is a cap: a 64-position model reads 64; an explicit value is kept.
    assert p.max_tokens == MAX_POSITIONS
    assert HfClassifierParams(model=str(models["classification"]), max_tokens=32).max_tokens == 32


def test_registered_on_an_actor_pool_with_the_model_in_the_card(models):
    assert registry()["hf_classifier"] is HfClassifier
    p = HfClassifierParams(model=str(models["classification"]), num_cpus=2, num_gpus=0.5)
    assert HfClassifier.placement(p) == Resources(True, 2, 0.5)
    assert HfClassifier.models(p) == [{"role": "hf_classifier", "model": str(models["classification"])}]
    # A relative path resolves on the driver to an absolute one that every actor can open.
    relative = os.path.relpath(models["classification"])
    assert HfClassifierParams(model=relative).model == str(models["classification"])


# --- scoring ---------------------------------------------------------------------------------

def test_classification_probabilities_match_the_model_text_by_text(models):
    # batch_size 2 over texts of mixed lengths: sorting by length regroups them across batches.
    stage, out = _run(TEXTS, model=str(models["classification"]), batch_size=2, max_tokens=32)
    assert out.rejected.num_rows == 0 and out.kept.column("id").to_pylist() == [f"d{i}" for i in range(len(TEXTS))]
    low, high = np.array(out.kept.column("hf_low").to_pylist()), np.array(out.kept.column("hf_high").to_pylist())
    np.testing.assert_allclose(low + high, 1.0, atol=1e-6)
    expected = np.array([_softmax(logits) for logits in _reference(models["classification"], TEXTS, 32)])
    np.testing.assert_allclose(np.stack([low, high], axis=1), expected, atol=1e-5)
    assert len(set(np.round(high, 4))) == len(TEXTS)  # the texts really score apart
    assert out.counters["documents_scored"] == len(TEXTS) and out.counters["empty_text"] == 0
    assert out.counters["truncated_documents"] == 0 and out.counters["model_seconds"] > 0
    tokenizer = AutoTokenizer.from_pretrained(models["classification"])
    assert out.counters["tokens_scored"] == sum(len(tokenizer(t)["input_ids"]) for t in TEXTS)
    assert sum(out.histograms["hf_high"]) == len(TEXTS)


def test_regression_head_writes_the_raw_output(models):
    _, out = _run(TEXTS, model=str(models["regression"]), max_tokens=32)
    expected = [float(logits[0]) for logits in _reference(models["regression"], TEXTS, 32)]
    np.testing.assert_allclose(out.kept.column("hf_score").to_pylist(), expected, atol=1e-5)
    assert out.kept.schema.field("hf_score").type == pa.float32()


def test_multi_label_head_gives_a_sigmoid_per_label(models):
    _, out = _run(TEXTS[:3], model=str(models["multi_label"]), max_tokens=32)
    expected = 1 / (1 + np.exp(-np.array(_reference(models["multi_label"], TEXTS[:3], 32))))
    got = np.stack([out.kept.column("hf_toxic_speech").to_pylist(), out.kept.column("hf_spam").to_pylist()], axis=1)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not np.allclose(got.sum(axis=1), 1.0)


def test_long_texts_are_truncated_to_max_tokens_and_counted(models):
    long = " ".join(["the data of the study"] * 20)  # 100 words
    texts = [long, TEXTS[1]]
    _, out = _run(texts, model=str(models["classification"]), max_tokens=8)
    assert out.counters["truncated_documents"] == 1
    assert out.counters["tokens_scored"] == 8 + 5  # [CLS] buy now ! [SEP]
    # The model read exactly the first six words of the long text.
    head = _reference(models["classification"], ["the data of the study the"], 8)[0]
    assert out.kept.column("hf_high").to_pylist()[0] == pytest.approx(float(_softmax(head)[1]), abs=1e-5)


def test_keep_rules_reject_with_reason_and_detail(models):
    _, scored = _run(TEXTS, model=str(models["classification"]), max_tokens=32)
    high = scored.kept.column("hf_high").to_pylist()
    ranked = sorted(high)
    low_cut, high_cut = (ranked[0] + ranked[1]) / 2, (ranked[-2] + ranked[-1]) / 2
    _, out = _run(TEXTS, model=str(models["classification"]), max_tokens=32, prefix="q",
                  min_score={"high": low_cut}, max_score={"high": high_cut})
    rejects = {r["id"]: r for r in out.rejected.to_pylist()}
    lowest, highest = f"d{high.index(ranked[0])}", f"d{high.index(ranked[-1])}"
    assert set(rejects) == {lowest, highest}
    assert rejects[lowest]["reason"] == "q_low_score" and rejects[highest]["reason"] == "q_high_score"
    assert rejects[lowest]["detail"].startswith("label=high score=") and f"<{low_cut:.2f}" in rejects[lowest]["detail"]
    assert f">{high_cut:.2f}" in rejects[highest]["detail"]
    assert out.kept.num_rows == len(TEXTS) - 2 and "text" not in out.rejected.column_names
    # Rejected documents are in the histogram too (it is counted before the split).
    assert sum(out.histograms["q_high"]) == len(TEXTS)


def test_null_and_empty_texts_get_null_scores_and_are_kept(models):
    texts = [TEXTS[0], None, "", "  \n\t", TEXTS[1]]
    _, out = _run(texts, model=str(models["classification"]), max_tokens=32, min_score={"high": 0.999})
    kept = {r["id"]: r for r in out.kept.to_pylist()}
    assert {"d1", "d2", "d3"} <= set(kept)
    assert all(kept[i]["hf_high"] is None and kept[i]["hf_low"] is None for i in ("d1", "d2", "d3"))
    assert out.counters["empty_text"] == 3 and out.counters["documents_scored"] == 2
    assert out.kept.num_rows + out.rejected.num_rows == len(texts)
    _, only_empty = _run([None, ""], model=str(models["classification"]), max_tokens=32)
    assert only_empty.kept.column("hf_high").null_count == 2 and only_empty.counters["model_seconds"] == 0


def test_a_cached_hub_id_loads_like_its_folder(models, tmp_path):
    """A hub model on a machine without network is a save_pretrained folder in the HF cache: the
    stage, given the hub id, scores exactly as it does given the folder; an id in no cache fails
    when the parameters are validated. (One subprocess: the cache location and offline mode are
    read when huggingface_hub is imported.)"""
    snapshot = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--curate-tests--tiny-quality"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(snapshot)
    files = repo / "snapshots" / snapshot
    files.mkdir(parents=True)
    for f in models["classification"].iterdir():
        (files / f.name).write_bytes(f.read_bytes())
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "PYTHONPATH": str(REPO)}
    code = (
        "import json, pyarrow as pa\n"
        "from curate.schema import DOCUMENT_SCHEMA, conform\n"
        "from curate.stages.hf_classifier import HfClassifier, HfClassifierParams\n"
        "stage = HfClassifier(HfClassifierParams(model='curate-tests/tiny-quality', max_tokens=32))\n"
        f"batch = conform(pa.table({{'id': ['a', 'b'], 'text': {TEXTS[:2]!r}}}), DOCUMENT_SCHEMA)\n"
        "try:\n"
        "    HfClassifierParams(model='curate-tests/no-such-model')\n"
        "    error = None\n"
        "except ValueError as e:\n"
        "    error = str(e)\n"
        "print(json.dumps([stage.params.model, stage.process(batch).kept.column('hf_high').to_pylist(), error]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    model, scores, error = json.loads(out.stdout.strip().splitlines()[-1])
    assert model == "curate-tests/tiny-quality"
    assert error is not None and "model" in error and "curate-tests/no-such-model" in error
    _, by_path = _run(TEXTS[:2], model=str(models["classification"]), max_tokens=32)
    assert scores == pytest.approx(by_path.kept.column("hf_high").to_pylist(), abs=1e-6)


# --- the quality_transformer recipe ----------------------------------------------------------

def _recipe():
    import importlib.util

    spec = importlib.util.spec_from_file_location("quality_transformer_train", REPO / "classifiers" / "quality_transformer" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipe_fine_tunes_cross_validates_and_its_output_loads_in_the_stage(tmp_path):
    """train.py on a tiny encoder and a learnable toy task (prose words vs. spam words): the CV AUC
    is near perfect, and the saved folder scores new texts the right way round through the stage."""
    import random

    base = build_tiny_seqcls(tmp_path / "base", weight_std=0.02)
    prose = "we show that the method is good study results of data this paper great science history".split()
    spam = "buy now click here free offer cheap !".split()
    rng = random.Random(0)
    rows = [{"text": " ".join(rng.choices(pool, k=rng.randint(3, 8))), "label": label} for _ in range(16) for pool, label in ((prose, 1), (spam, 0))]
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = _recipe().main([
        "--train", str(data), "--base", str(base), "--out", str(tmp_path / "model"), "--label-names", "0=spam,1=prose",
        "--epochs", "8", "--lr", "3e-3", "--batch-size", "4", "--max-tokens", "16", "--cv", "2", "--threads", "1",
    ])
    assert report["labels"] == ["spam", "prose"] and report["positive"] == "prose"
    assert report["cv"]["pooled"]["auc"] > 0.9 and len(report["cv"]["per_fold_auc"]) == 2
    saved = json.loads((tmp_path / "model" / "training.json").read_text())
    assert saved["rows"] == 32 and saved["cv"]["pooled"]["auc"] == report["cv"]["pooled"]["auc"]
    assert list(HfClassifier.output_columns(HfClassifierParams(model=str(tmp_path / "model")))) == ["hf_spam", "hf_prose"]
    _, out = _run(["the data of science", "cheap offer here"], model=str(tmp_path / "model"), max_tokens=16)
    scores = out.kept.column("hf_prose").to_pylist()
    assert scores[0] > 0.5 > scores[1]


def test_recipe_rejects_bad_labels(tmp_path):
    recipe = _recipe()
    with pytest.raises(ValueError, match="mix ints and strings"):
        recipe.label_space([0, "high"], {})
    with pytest.raises(ValueError, match="not labels in the data"):
        recipe.label_space([0, 1], {"2": "x"})
    folds = recipe.stratified_folds([0] * 6 + [1] * 4, 2, seed=0)
    assert sorted(i for fold in folds for i in fold) == list(range(10))
    assert [sum(1 for i in fold if i >= 6) for fold in folds] == [2, 2]


def test_throughput_reports_documents_per_second(models):
    from curate.models.seqcls import throughput

    result = throughput(TEXTS * 4, str(models["classification"]), max_tokens=8, batch_size=4, repeats=2, threads=1)
    assert result["documents"] == 24 and len(result["seconds"]) == 2 and result["docs_per_s"] > 0
    assert result["max_tokens"] == 8 and result["truncated_documents"] == 4 * sum(len(t.split()) > 6 for t in TEXTS)
    median = sum(result["seconds"]) / 2  # the median of two passes
    assert result["docs_per_s"] == pytest.approx(24 / median) and result["tokens_per_s"] == pytest.approx(result["tokens"] / median)


# --- batch independence ----------------------------------------------------------------------

def _varied(n=40, seed=5):
    """Texts of many token lengths, including ones past max_tokens, from the tiny model's words."""
    import random

    from tests.tiny_seqcls import WORDS

    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 90))) for _ in range(n)]


def _independent_of_the_batch(model, texts, **params):
    """Score columns of ``texts`` with batch sizes 1, 5 and 32 and in a shuffled order: all must be
    bit-identical (``==`` on the Arrow columns) to batch size 1's."""
    import random

    runs = {}
    for batch_size in (1, 5, 32):
        stage, out = _run(texts, model=str(model), batch_size=batch_size, **params)
        runs[batch_size] = out.kept
    order = random.Random(13).sample(range(len(texts)), len(texts))
    shuffled = stage.process(_batch([texts[i] for i in order])).kept
    runs["shuffled"] = shuffled.take(pa.array(np.argsort(order)))
    runs["rerun"] = stage.process(_batch(texts)).kept
    reference = runs.pop(1)
    columns = list(HfClassifier.output_columns(stage.params))
    for name, table in runs.items():
        for column in columns:
            assert table.column(column) == reference.column(column), f"{column} differs at {name}"
    return reference, columns


@pytest.mark.parametrize("head", ["classification", "regression", "multi_label"])
def test_scores_do_not_depend_on_batch_size_or_order(models, head):
    texts = _varied()
    reference, columns = _independent_of_the_batch(models[head], texts, max_tokens=48, torch_threads=1)
    assert len(set(reference.column(columns[0]).to_pylist())) > len(texts) // 2  # the texts really score apart


def test_minilm_classifier_scores_do_not_depend_on_the_batch(tmp_path):
    # A full-size encoder (MiniLM, 6 layers, 384-d) with a fresh 3-label head: the shape where
    # padded batches moved scores by ~1e-6.
    from curate.models.resolve import resolve_model
    from tests.stages.test_embed_classifier import varied_texts

    minilm = resolve_model("builtin:all-MiniLM-L6-v2")
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_pretrained(minilm, num_labels=3).save_pretrained(tmp_path / "m")
    AutoTokenizer.from_pretrained(minilm).save_pretrained(tmp_path / "m")
    _independent_of_the_batch(tmp_path / "m", varied_texts(30), max_tokens=128, torch_threads=1)
