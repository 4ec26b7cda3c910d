"""The quality filter stage: static MiniLM embeddings + the shipped logistic head."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from curate.models.heads import LogisticHead
from curate.models.resolve import resolve_model
from curate.stages.quality_static import QualityStatic, QualityStaticParams
from tests.conftest import REPO, shared_path

SPAM = "BUY NOW!!! cheap pills best price free shipping click here casino bonus win win win " * 6
ARTICLE = ("The committee published its annual report on water quality in the region. Researchers measured nitrate levels "
           "at forty sites over two years and found that concentrations fell by a third after farmers changed how they "
           "apply fertiliser. The report recommends extending the programme to neighbouring districts.")


def _batch(texts, langs=None):
    n = len(texts)
    return pa.table({"id": [f"d{i}" for i in range(n)], "url": [None] * n, "source": ["s"] * n,
                     "text": pa.array(texts, pa.string()), "lang": pa.array(langs or ["en"] * n, pa.string())})


def test_scores_rank_pages_and_threshold_rejects_english_only():
    stage = QualityStatic(QualityStaticParams(min_score=0.5))
    out = stage.process(_batch([ARTICLE, SPAM, SPAM, "", None], ["en", "en", "de", "en", "en"]))
    kept = {row["id"]: row for row in out.kept.to_pylist()}
    rejected = out.rejected.to_pylist()
    assert [r["id"] for r in rejected] == ["d1"]  # the English spam page
    assert rejected[0]["reason"] == "quality_low" and rejected[0]["detail"].startswith("quality_static=")
    assert kept["d0"]["quality_static"] > 0.5 > kept["d2"]["quality_static"]  # German spam: scored, labelled, kept
    assert kept["d3"]["quality_static"] is None and kept["d4"]["quality_static"] is None  # no text: no score
    c = out.counters
    assert c["documents_scored"] == 3 and c["empty_text"] == 2
    assert c["documents_outside_languages"] == 1 and c["below_threshold_outside_languages"] == 1
    assert out.kept.num_rows + out.rejected.num_rows == 5


def test_label_only_and_all_languages():
    labels_only = QualityStatic(QualityStaticParams()).process(_batch([SPAM, ARTICLE]))
    assert labels_only.rejected.num_rows == 0 and labels_only.kept.column("quality_static").null_count == 0
    everywhere = QualityStatic(QualityStaticParams(min_score=0.5, languages=[])).process(_batch([SPAM], ["de"]))
    assert everywhere.rejected.num_rows == 1
    assert QualityStatic.reads(QualityStaticParams(min_score=0.5)) == {"languages": "lang"}
    assert QualityStatic.reads(QualityStaticParams()) == {}


def test_batches_cannot_change_a_score():
    texts = [ARTICLE[: 40 + 7 * i] + SPAM[: 3 * i] for i in range(30)]
    stage = QualityStatic(QualityStaticParams())
    together = stage.process(_batch(texts)).kept.column("quality_static").to_numpy()
    from curate.models.static_embed import forget_recent

    alone = []
    for t in reversed(texts):
        forget_recent()  # every row computed again
        alone.append(stage.process(_batch([t])).kept.column("quality_static").to_numpy())
    alone = np.concatenate(alone[::-1])
    assert together.tobytes() == alone.tobytes()


def test_head_and_embeddings_must_match(tmp_path):
    head = LogisticHead.load(resolve_model("builtin:quality_static"))
    wrong = tmp_path / "head.json"
    LogisticHead(head.weights, head.bias, encoder="builtin:all-MiniLM-L6-v2", max_tokens=256).save(wrong)
    with pytest.raises(ValueError, match="trained on embeddings 'builtin:all-MiniLM-L6-v2'"):
        QualityStaticParams(head=str(wrong))
    with pytest.raises(ValueError, match="embeddings"):
        QualityStaticParams(embeddings=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="min_score"):
        QualityStaticParams(min_score=1.5)


def test_shipped_head_records_its_embeddings_and_threshold():
    head = LogisticHead.load(resolve_model("builtin:quality_static"))
    import hashlib
    from pathlib import Path

    matrix = Path(resolve_model("builtin:static_minilm")) / "model.safetensors"
    assert head.metrics["embeddings_sha256"] == hashlib.sha256(matrix.read_bytes()).hexdigest()
    # The bar, by distinct document: >= 0.80 and not below the teacher's.
    teacher = LogisticHead.load(resolve_model("builtin:quality_embed"))
    assert head.metrics["cv_auc_all"] >= 0.80 and head.metrics["cv_auc_all"] >= teacher.metrics["cv_auc_all"]
    pipeline = (REPO / "pipelines" / "llama3.yaml").read_text()
    assert f"min_score: {head.metrics['threshold']['threshold']}" in pipeline


def test_scores_human_labelled_pages_it_ranks_well():
    """Sanity on real pages: the shipped head ranks the 141 agreement documents far above chance
    (it learned them, so this is no estimate of accuracy — the recipe's cross-validation is)."""
    from evals.quality import load_labelled, roc_auc

    rows = load_labelled(shared_path("data", "quality", "dclm-human") / "agreement_data.jsonl")
    out = QualityStatic(QualityStaticParams()).process(_batch([r["text"] for r in rows]))
    assert roc_auc(out.kept.column("quality_static").to_pylist(), [int(r["label"]) for r in rows]) > 0.85


def test_a_cached_hub_id_loads_like_its_folder(tmp_path):
    snapshot = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--curate-tests--static-minilm"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(snapshot)
    files = repo / "snapshots" / snapshot
    files.mkdir(parents=True)
    from pathlib import Path

    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        (files / name).write_bytes((Path(resolve_model("builtin:static_minilm")) / name).read_bytes())
    head = LogisticHead.load(resolve_model("builtin:quality_static"))
    hub_head = tmp_path / "head.json"
    LogisticHead(head.weights, head.bias, encoder="curate-tests/static-minilm", max_tokens=head.max_tokens).save(hub_head)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "PYTHONPATH": str(REPO)}
    code = (
        "import json, pyarrow as pa\n"
        "from curate.stages.quality_static import QualityStatic, QualityStaticParams\n"
        f"stage = QualityStatic(QualityStaticParams(embeddings='curate-tests/static-minilm', head={str(hub_head)!r}))\n"
        f"print(json.dumps(stage.process(pa.table({{'id': ['a', 'b'], 'text': {[ARTICLE, SPAM]!r}}})).kept.column('quality_static').to_pylist()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    by_hub = json.loads(out.stdout.strip().splitlines()[-1])
    by_path = QualityStatic(QualityStaticParams()).process(_batch([ARTICLE, SPAM])).kept.column("quality_static").to_pylist()
    assert by_hub == by_path
