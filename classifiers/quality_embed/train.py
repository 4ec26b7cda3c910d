"""Train the quality teacher: MiniLM embeddings + a logistic head on DCLM's human quality labels.

    .venv/bin/python classifiers/quality_embed/train.py            # writes classifiers/quality_embed/head.json

Data: ``../shared/data/quality/dclm-human/majority_data.jsonl`` (250 Common Crawl documents, label 1
= high quality by the annotators' majority) and ``agreement_data.jsonl`` (141 documents the
annotators agreed on; 78 of them are also in the majority file, with the same label). The recipe
trains on their union (313 distinct documents, matched by whitespace-normalised text). The regularisation strength is chosen by cross-validation inside each training
fold (nested), so the reported AUC is of documents no choice was tuned on.

Reported (and stored in the head's ``metrics``): K-fold cross-validated ROC-AUC over the union, and
restricted to each file's documents (the same out-of-fold predictions), with bootstrap intervals;
then the head is refit on every document with the l2 chosen by cross-validation on all of them.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from curate.models.embed import MeanPooledEncoder
from curate.models.heads import LogisticHead, choose_l2, fit_logistic, nested_cv
from curate.models.resolve import resolve_model
from evals.quality import bootstrap_auc, labelled_union, roc_auc
from evals.shared import SHARED

DEFAULT_DATA = SHARED / "data" / "quality" / "dclm-human"
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with majority_data.jsonl and agreement_data.jsonl")
    parser.add_argument("--encoder", default="builtin:all-MiniLM-L6-v2", help="encoder reference (builtin:, folder or hub id)")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N documents (a quick check)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "head.json")
    args = parser.parse_args(argv)

    rows, membership = labelled_union(args.data)
    rows, membership = rows[: args.limit], membership[: args.limit]
    texts = [row["text"] for row in rows]
    y = np.array([int(row["label"]) for row in rows], dtype=np.float64)

    encoder = MeanPooledEncoder(resolve_model(args.encoder, expect="any", allow_hub=True), max_tokens=args.max_tokens)
    started = time.perf_counter()
    x = encoder.encode(texts).astype(np.float64)
    seconds = time.perf_counter() - started
    print(f"embedded {len(texts)} documents in {seconds:.1f} s ({len(texts) / seconds:.1f} docs/s)")

    predictions, chosen = nested_cv(x, y, args.folds, args.seed)
    metrics = {
        "data": "DCLM human quality annotations: majority_data.jsonl (250) and agreement_data.jsonl (141), union by text",
        "documents": int(len(y)), "positives": int(y.sum()), "folds": args.folds, "seed": args.seed,
        "l2_chosen_per_fold": chosen,
    }
    for name in ("all", "majority", "agreement"):
        chosen_rows = np.array([name == "all" or name in m for m in membership])
        if chosen_rows.any() and 0 < y[chosen_rows].sum() < chosen_rows.sum():
            scores, labels = predictions[chosen_rows].tolist(), y[chosen_rows].astype(int).tolist()
            metrics[f"cv_auc_{name}"] = round(roc_auc(scores, labels), 4)
            metrics[f"cv_auc_{name}_95ci"] = [round(v, 4) for v in bootstrap_auc(scores, labels)]
            metrics[f"documents_{name}"] = int(chosen_rows.sum())
    l2 = choose_l2(x, y, args.folds, args.seed)
    weights, bias = fit_logistic(x, y, l2=l2)
    metrics["l2"] = l2
    head = LogisticHead(weights, bias, encoder=args.encoder, max_tokens=args.max_tokens, positive_label="high_quality", metrics=metrics)
    head.save(args.out)
    print(json.dumps(metrics, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
