"""Train the quality student: a quantised fastText model on the teacher's judgements of unlabelled pages.

    .venv/bin/python classifiers/quality_fasttext/train.py      # writes model.ftz and metrics.json here

Llama 3 scored its web data with cheap classifiers trained on a stronger model's labels; here the
stronger model is the embedding teacher (``classifiers/quality_embed``: MiniLM + a logistic head
trained on DCLM's human labels). Steps:

1. the unlabelled corpus of ``classifiers/corpus.py`` (real pages from ../shared without the DCLM
   labelled ones, plus sample-corpus pages), English pages only (MiniLM and the human labels are
   English: the teacher's scores of other languages mean little);
2. the teacher's P(high quality) for each page; pages within ``--margin`` of 0.5 are left out of
   training (the teacher is unsure: a coin-flip label only teaches noise), the rest labelled
   ``hq`` / ``lq``; a seeded 20 % of pages is held out entirely;
3. fastText (one thread, fixed seed: the same artifact every run), quantised to ``.ftz``;
4. measured: the student's ROC-AUC on the DCLM human labels (documents it never saw, whose labels
   only reached it through the teacher), next to the teacher's cross-validated AUC; agreement with
   the teacher on the held-out pages (same side of 0.5, and Spearman correlation of the scores).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

from classifiers.corpus import CACHE, SHARED, split_held_out, student_corpus, teacher_embeddings
from curate.models.fasttext_classifier import FastTextClassifier, train_student
from curate.models.heads import LogisticHead
from evals.quality import bootstrap_auc, load_labelled, roc_auc


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    rank = lambda v: np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(np.float64)
    return float(np.corrcoef(rank(a), rank(b))[0, 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, default=HERE.parent / "quality_embed" / "head.json")
    parser.add_argument("--sample-pages", type=int, default=3000, help="sample-corpus pages added to the real ones")
    parser.add_argument("--margin", type=float, default=0.1, help="teacher scores within this of 0.5 are not used for training")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--no-real-pages", action="store_true", help="sample-corpus pages only (a quick retraining check)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where teacher embeddings are cached")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "model.ftz")
    args = parser.parse_args(argv)

    teacher = LogisticHead.load(args.teacher)
    pages = [p for p in student_corpus(args.sample_pages, args.shared, real=not args.no_real_pages) if p.get("language") == "en"]
    texts = [p["text"] for p in pages]
    teacher_scores = teacher.predict(teacher_embeddings(texts, teacher.encoder, teacher.max_tokens, cache=args.cache))
    held_out = split_held_out(len(pages), seed=args.seed)
    confident = np.abs(teacher_scores - 0.5) >= args.margin
    train = [("hq" if s >= 0.5 else "lq", t) for t, s, h, c in zip(texts, teacher_scores, held_out, confident, strict=True) if c and not h]
    # No class balancing: the score ranks pages (AUC), and repeating the few low-quality pages nine
    # times adds no information, only memorisation of them (balancing is for labels that must win
    # an argmax, as in classifiers/domain).
    train_student(train, args.out, seed=args.seed, balance=False)

    student = FastTextClassifier(args.out)
    hq = student.labels.index("hq")
    held = np.flatnonzero(held_out)
    student_held = student.predict_proba([texts[i] for i in held])[:, hq]
    metrics = {
        "corpus_pages": len(pages), "training_pages": len(train), "held_out_pages": int(held.size),
        "training_hq_share": round(sum(1 for label, _ in train if label == "hq") / max(1, len(train)), 4),
        "teacher": str(args.teacher.relative_to(HERE.parent)) if args.teacher.is_relative_to(HERE.parent) else str(args.teacher),
        "agreement_held_out": round(float(np.mean((student_held >= 0.5) == (teacher_scores[held] >= 0.5))), 4),
        "spearman_held_out": round(spearman(student_held, teacher_scores[held]), 4),
        "model_bytes": args.out.stat().st_size,
        "teacher_cv_auc": {k: v for k, v in teacher.metrics.items() if k.startswith("cv_auc_") and not k.endswith("ci")},
    }
    dclm = args.shared / "data" / "quality" / "dclm-human"
    for name in ("majority", "agreement"):
        path = dclm / f"{name}_data.jsonl"
        if path.is_file():
            rows = load_labelled(path)
            scores = student.predict_proba([r["text"] for r in rows])[:, hq].tolist()
            labels = [int(r["label"]) for r in rows]
            metrics[f"student_auc_{name}"] = round(roc_auc(scores, labels), 4)
            metrics[f"student_auc_{name}_95ci"] = [round(v, 4) for v in bootstrap_auc(scores, labels)]
    (args.out.parent / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
