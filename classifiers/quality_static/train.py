"""Train the quality filter: static MiniLM embeddings + a logistic head on DCLM's human labels.

    .venv/bin/python classifiers/quality_static/train.py              # head.json + metrics.json here (~5 s)
    .venv/bin/python classifiers/quality_static/train.py --compare    # + comparison.json: every candidate side by side (~3 min)

Data: the distinct documents of ``../shared/data/quality/dclm-human`` (``majority_data.jsonl`` and
``agreement_data.jsonl`` share 78 documents: the union by whitespace-normalised text has 313, and
every split below is a split by document). Embeddings: ``builtin:static_minilm``
(``classifiers/static_minilm``, distilled from the teacher's own MiniLM), each document's first
1,024 tokens mean-pooled. The head's l2 is chosen inside each training fold (nested
cross-validation), so the reported AUC is of documents no choice was tuned on.

The **threshold** is chosen on the same out-of-fold predictions: the highest score (on a 0.01
grid) below which at most ``--max-high-lost`` (5 %) of the documents annotators called high
quality fall. A filter's cost is the good pages it throws away, which no later stage can bring
back; the low pages it misses are still weighed by the mix. ``metrics.json`` records the
precision and recall of "low" there.

``--compare`` measures, in one run and on the same 313 documents (5-fold nested CV, bootstrap 95 %
intervals): the MiniLM teacher (``quality_embed``'s recipe, 256 tokens); the shipped fastText student
(never trained on these documents: scored as it is); static heads at 256 / 1,024 / 4,096 tokens, at
128 dimensions, and trained on the teacher's labels of the unlabelled corpus instead of the human
labels (``classifiers/corpus.py``; scored on all 313). Then documents/s on one core of each stage
class (``quality_static``, ``quality_fasttext``, ``embed_classifier``), medians of 5 passes; and
whether the mix should select by quality (``mix_selection``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

# One core: the tokenizer's Rust pool and torch read these once, before their first use.
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

from curate.models.heads import LogisticHead, choose_l2, fit_logistic, nested_cv
from curate.models.resolve import resolve_model
from curate.models.static_embed import StaticEmbedder, forget_recent
from evals.quality import bootstrap_auc, labelled_union, roc_auc
from evals.shared import SHARED

DEFAULT_DATA = SHARED / "data" / "quality" / "dclm-human"
EMBEDDINGS = "builtin:static_minilm"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def threshold_curve(scores: np.ndarray, labels: np.ndarray, grid: np.ndarray) -> list[dict]:
    """Precision / recall of "low" (score < t) and the share of high-quality documents removed, per t."""
    out = []
    low, high = labels == 0, labels == 1
    for t in grid:
        removed = scores < t
        true_low = int((removed & low).sum())
        out.append({"threshold": round(float(t), 2), "removed": int(removed.sum()),
                    "precision_low": round(true_low / max(1, int(removed.sum())), 4),
                    "recall_low": round(true_low / max(1, int(low.sum())), 4),
                    "high_removed": round(int((removed & high).sum()) / max(1, int(high.sum())), 4)})
    return out


def choose_threshold(curve: list[dict], max_high_lost: float) -> dict:
    allowed = [row for row in curve if row["high_removed"] <= max_high_lost]
    return max(allowed, key=lambda row: row["threshold"])


def auc_row(scores, labels, **extra) -> dict:
    scores, labels = list(map(float, scores)), list(map(int, labels))
    return {"auc": round(roc_auc(scores, labels), 4), "auc_95ci": [round(v, 4) for v in bootstrap_auc(scores, labels)], **extra}


def cross_validated(x: np.ndarray, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    return nested_cv(x, y, folds, seed)[0]


def compare(texts: list[str], y: np.ndarray, args, static_x: np.ndarray) -> dict:
    """Every candidate on the same documents; see the module docstring."""
    from curate.models.embed import MeanPooledEncoder
    from curate.models.fasttext_classifier import FastTextClassifier
    from curate.models.static_embed import distill_static

    rows: dict[str, dict] = {}
    static_folder = resolve_model(EMBEDDINGS)
    size = (Path(static_folder) / "model.safetensors").stat().st_size
    teacher_head = LogisticHead.load(resolve_model("builtin:quality_embed"))
    encoder = MeanPooledEncoder(resolve_model(teacher_head.encoder, expect="any", allow_hub=True), max_tokens=teacher_head.max_tokens, torch_threads=1)
    teacher_x = encoder.encode(texts).astype(np.float64)
    rows["teacher: MiniLM (6 layers) + logistic head, 256 tokens"] = auc_row(cross_validated(teacher_x, y, args.folds, args.seed), y,
                                                                             evaluation="nested CV", model_mb=90.9)
    fasttext = FastTextClassifier(resolve_model("builtin:quality_fasttext"))
    hq = fasttext.labels.index("hq")
    rows["shipped fastText student (teacher labels, 1,598 pages)"] = auc_row(
        fasttext.predict_proba(texts)[:, hq], y, evaluation="never trained on these: scored as shipped",
        model_mb=round(Path(resolve_model("builtin:quality_fasttext")).stat().st_size / 1e6, 1))
    for tokens in (256, 1024, 4096):
        x = static_x if tokens == args.max_tokens else StaticEmbedder(static_folder, max_tokens=tokens).encode(texts).astype(np.float64)
        rows[f"static MiniLM 256-d int8 + logistic head, {tokens} tokens"] = auc_row(cross_validated(x, y, args.folds, args.seed), y,
                                                                                    evaluation="nested CV", model_mb=round(size / 1e6, 1))
    with tempfile.TemporaryDirectory() as scratch:
        for dims, dtype in ((128, "int8"), (256, "float32")):
            folder = Path(scratch) / f"static{dims}{dtype}"
            distill_static(resolve_model(teacher_head.encoder, expect="any"), folder, dims=dims, dtype=dtype)
            x = StaticEmbedder(folder, max_tokens=args.max_tokens).encode(texts).astype(np.float64)
            rows[f"static MiniLM {dims}-d {dtype} + logistic head, {args.max_tokens} tokens"] = auc_row(
                cross_validated(x, y, args.folds, args.seed), y, evaluation="nested CV",
                model_mb=round((folder / "model.safetensors").stat().st_size / 1e6, 1))
    # The same embeddings trained on the teacher's judgements of ~2,400 unlabelled pages (the
    # fastText student's data) instead of the human labels: more text, noisier labels.
    from classifiers.corpus import student_corpus, teacher_embeddings

    pages = [p for p in student_corpus(3000) if p.get("language") == "en"]
    page_texts = [p["text"] for p in pages]
    teacher_scores = teacher_head.predict(teacher_embeddings(page_texts, teacher_head.encoder, teacher_head.max_tokens))
    page_x = StaticEmbedder(static_folder, max_tokens=args.max_tokens).encode(page_texts).astype(np.float64)
    usable = ~np.isnan(teacher_scores)
    w, b = fit_logistic(page_x[usable], teacher_scores[usable], l2=1.0)
    rows[f"static MiniLM 256-d int8 + head on teacher soft labels of {int(usable.sum()):,} unlabelled pages"] = auc_row(
        1 / (1 + np.exp(-(static_x @ w + b))), y, evaluation="never trained on these: scored as trained", model_mb=round(size / 1e6, 1))
    return {"auc": rows, "speed": stage_speeds(texts, args.speed_repeats)}


def mix_selection(scores: np.ndarray, y: np.ndarray, texts: list[str], threshold: float, seeds: int = 200) -> dict:
    """Should the mix weight by quality? On the out-of-fold scores of the human-labelled documents:
    a bucket down-sampled to half of its words, by each ``selection`` of ``curate.mix`` (the same
    keys), with and without the filter; the share of the selected words annotators called high
    quality, mean and 5-95 % range over ``seeds`` selection seeds."""
    from curate.mix.select import selection_keys

    words = np.array([len(t.split()) for t in texts], dtype=np.float64)
    ids = [f"doc{i}" for i in range(len(texts))]
    out = {}
    for filtered in (False, True):
        kept = scores >= threshold if filtered else np.ones(len(scores), dtype=bool)
        for mode, power in (("random", 1.0), ("weighted", 1.0), ("weighted", 2.0), ("best_first", 1.0)):
            shares = []
            for seed in range(seeds if mode != "best_first" else 1):
                keys = selection_keys([ids[i] for i in np.flatnonzero(kept)], seed, mode, scores[kept], power)
                order = np.flatnonzero(kept)[np.argsort(keys, kind="stable")]
                budget = words[kept].sum() / 2
                chosen = order[: int(np.searchsorted(np.cumsum(words[order]), budget)) + 1]
                shares.append(float(words[chosen][y[chosen] == 1].sum() / words[chosen].sum()))
            name = f"{'filter at ' + str(threshold) if filtered else 'no filter'}, {mode}" + (f" (power {power:g})" if mode == "weighted" else "")
            out[name] = {"high_quality_word_share": round(statistics.fmean(shares), 4),
                         "range_5_95": [round(float(np.percentile(shares, 5)), 4), round(float(np.percentile(shares, 95)), 4)]}
    return out


def stage_speeds(texts: list[str], repeats: int) -> dict:
    """Documents/s on one core of each quality stage, over Arrow batches of 64 (the pipeline's)."""
    import pyarrow as pa

    from curate.stages.embed_classifier import EmbedClassifier, EmbedClassifierParams
    from curate.stages.quality_fasttext import QualityFastText, QualityFastTextParams
    from curate.stages.quality_static import QualityStatic, QualityStaticParams

    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    batches = [table.slice(start, 64) for start in range(0, table.num_rows, 64)]
    stages = {
        "quality_static": QualityStatic(QualityStaticParams()),
        "quality_fasttext": QualityFastText(QualityFastTextParams()),
        "embed_classifier (quality head only)": EmbedClassifier(EmbedClassifierParams(taxonomy=None, heads=[], torch_threads=1)),
    }
    out = {}
    for name, stage in stages.items():
        stage.ensure_setup()
        stage.process(batches[0])  # warm-up
        runs = []
        for _ in range(repeats if "embed" not in name else 1):
            forget_recent()  # each pass embeds its texts again
            started = time.perf_counter()
            for batch in batches:
                stage.process(batch)
            runs.append(time.perf_counter() - started)
        out[name] = {"documents_per_second": round(len(texts) / statistics.median(runs), 1), "passes": len(runs)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with majority_data.jsonl and agreement_data.jsonl")
    parser.add_argument("--embeddings", default=EMBEDDINGS, help="static embeddings (builtin:, a folder, or a hub id in the local cache)")
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-high-lost", type=float, default=0.05, help="share of human-labelled high-quality documents the threshold may remove")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N documents (a quick check)")
    parser.add_argument("--compare", action="store_true", help="also measure every candidate side by side (comparison.json)")
    parser.add_argument("--speed-repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "head.json")
    args = parser.parse_args(argv)

    rows, membership = labelled_union(args.data)
    rows, membership = rows[: args.limit], membership[: args.limit]
    texts = [row["text"] for row in rows]
    y = np.array([int(row["label"]) for row in rows], dtype=np.float64)
    folder = Path(resolve_model(args.embeddings, expect="dir", allow_hub=True))
    embedder = StaticEmbedder(folder, max_tokens=args.max_tokens)
    x = embedder.encode(texts).astype(np.float64)

    predictions, chosen = nested_cv(x, y, args.folds, args.seed)
    curve = threshold_curve(predictions, y, np.round(np.arange(0.05, 0.96, 0.01), 2))
    threshold = choose_threshold(curve, args.max_high_lost)
    metrics = {
        "trained_on": "DCLM human quality annotations (../shared/data/quality/dclm-human): majority_data.jsonl and "
                      "agreement_data.jsonl, 313 distinct documents by whitespace-normalised text",
        "embeddings_sha256": sha256(folder / "model.safetensors"),
        "documents": int(len(y)), "positives": int(y.sum()), "folds": args.folds, "seed": args.seed, "l2_chosen_per_fold": chosen,
        "threshold": {**threshold, "rule": f"highest score removing at most {args.max_high_lost:.0%} of the high-quality documents (out-of-fold)"},
    }
    for name in ("all", "majority", "agreement"):
        chosen_rows = np.array([name == "all" or name in m for m in membership])
        if chosen_rows.any() and 0 < y[chosen_rows].sum() < chosen_rows.sum():
            row = auc_row(predictions[chosen_rows], y[chosen_rows])
            metrics[f"cv_auc_{name}"], metrics[f"cv_auc_{name}_95ci"] = row["auc"], row["auc_95ci"]
            metrics[f"documents_{name}"] = int(chosen_rows.sum())
    l2 = choose_l2(x, y, args.folds, args.seed)
    weights, bias = fit_logistic(x, y, l2=l2)
    metrics["l2"] = l2
    head = LogisticHead(weights, bias, encoder=args.embeddings, max_tokens=args.max_tokens, positive_label="high_quality", metrics=metrics)
    head.save(args.out)
    report = {"metrics": metrics, "threshold_curve": curve}
    (args.out.parent / "metrics.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(metrics, indent=1))
    if args.compare:
        comparison = compare(texts, y, args, x)
        comparison["mix_selection"] = mix_selection(predictions, y, texts, threshold["threshold"])
        (args.out.parent / "comparison.json").write_text(json.dumps(comparison, indent=1) + "\n", encoding="utf-8")
        for name, row in comparison["auc"].items():
            print(f"{name:<92} AUC {row['auc']:.3f} [{row['auc_95ci'][0]:.3f}, {row['auc_95ci'][1]:.3f}]  {row['model_mb']} MB")
        for name, row in comparison["speed"].items():
            print(f"{name:<92} {row['documents_per_second']:>8} documents/s (1 core)")
        for name, row in comparison["mix_selection"].items():
            print(f"mix, half the words kept: {name:<66} {row['high_quality_word_share']:.3f} of the words high quality {row['range_5_95']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
