"""Train the domain (code / math / prose) and topic heads over static MiniLM embeddings.

    .venv/bin/python classifiers/domain_static/train.py     # domain.json, topic.json, metrics.json here (~2 min, cached: ~30 s)

The same teacher, pages and held-out split as the fastText students of ``classifiers/domain``: the
zero-shot MiniLM heads over ``classifiers/domain/taxonomy.json`` (``domain`` gated: ``code`` needs
two lines that read as code, ``math`` two with a formula) label the English pages of
``classifiers/corpus.py``; a seeded 20 % is held out. Each head is a softmax regression
(``curate.models.heads.fit_softmax``) over ``builtin:static_minilm`` embeddings of the first 1,024
tokens, its l2 chosen by 5-fold agreement with the teacher inside the training pages; the domain
head keeps the teacher's gates. Measured side by side with the shipped fastText students
(``metrics.json``): agreement with the teacher on the held-out pages, and on held-out sample-corpus
pages of known kind, recall and precision of code and math and topic accuracy.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
from collections import Counter
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")

import numpy as np

HERE = Path(__file__).resolve().parent

from classifiers.corpus import CACHE, SHARED, split_held_out, student_corpus, teacher_embeddings
from curate.models.embed import MeanPooledEncoder
from curate.models.fasttext_classifier import FastTextClassifier
from curate.models.heads import LabelHead, ZeroShotHead, fit_softmax, load_taxonomy
from curate.models.resolve import resolve_model
from curate.models.static_embed import StaticEmbedder

EMBEDDINGS = "builtin:static_minilm"
MAX_TOKENS = 1024
L2_GRID = (1e-5, 1e-4, 1e-3)


def _domain_recipe():
    spec = importlib.util.spec_from_file_location("domain_recipe", HERE.parent / "domain" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def choose_l2(x: np.ndarray, labels: list[str], seed: int) -> float:
    folds = np.random.default_rng(seed).permutation(len(labels)) % 5
    best = None
    for l2 in L2_GRID:
        agree = []
        for fold in range(5):
            test = folds == fold
            train_labels = [label for label, t in zip(labels, test, strict=True) if not t]
            names, w, b = fit_softmax(x[~test], train_labels, l2=l2)
            predicted = [names[k] for k in (x[test] @ w.T + b).argmax(axis=1)]
            agree.append(np.mean([p == label for p, label in zip(predicted, np.array(labels)[test], strict=True)]))
        score = (float(np.mean(agree)), l2)  # ties -> the stronger regularisation
        if best is None or score > best[0]:
            best = (score, l2)
    return best[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--taxonomy", type=Path, default=HERE.parent / "domain" / "taxonomy.json")
    parser.add_argument("--sample-pages", type=int, default=3000)
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--no-real-pages", action="store_true", help="sample-corpus pages only (a quick retraining check)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where teacher embeddings are cached")
    parser.add_argument("--students", type=Path, default=HERE.parent / "domain", help="the fastText students to compare with")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args(argv)
    recipe = _domain_recipe()

    taxonomy = load_taxonomy(args.taxonomy)
    pages = [p for p in student_corpus(args.sample_pages, args.shared, real=not args.no_real_pages) if p.get("language") == "en"]
    texts = [p["text"] for p in pages]
    teacher_x = teacher_embeddings(texts, recipe.ENCODER, recipe.MAX_TOKENS, cache=args.cache)
    encoder = MeanPooledEncoder(resolve_model(recipe.ENCODER), max_tokens=recipe.MAX_TOKENS)
    x = StaticEmbedder(resolve_model(EMBEDDINGS), max_tokens=MAX_TOKENS).encode(texts).astype(np.float64)
    held_out = split_held_out(len(pages), seed=args.seed)
    held, train = np.flatnonzero(held_out), np.flatnonzero(~held_out)
    metrics: dict = {"corpus_pages": len(pages), "held_out_pages": int(held.size), "embeddings": EMBEDDINGS,
                     "max_tokens": MAX_TOKENS, "heads": {}}
    labels_of: dict[str, dict[str, list[str]]] = {}
    for name in ("domain", "topic"):
        spec = taxonomy["heads"][name]
        teacher = ZeroShotHead.from_taxonomy(spec, encoder.encode)
        teacher_labels = [teacher.labels[i] for i in teacher.predict(teacher_x, texts).argmax(axis=1)]
        train_labels = [teacher_labels[i] for i in train]
        l2 = choose_l2(x[train], train_labels, args.seed)
        names, weights, biases = fit_softmax(x[train], train_labels, l2=l2)
        # Every taxonomy label gets a row, so the columns do not depend on which labels the teacher
        # happened to use on these pages (a label it never chose gets a bias no text can reach).
        full = list(teacher.labels)
        w = np.zeros((len(full), x.shape[1]))
        b = np.full(len(full), -50.0)
        for j, label in enumerate(names):
            w[full.index(label)], b[full.index(label)] = weights[j], biases[j]
        head = LabelHead(full, w, b, encoder=EMBEDDINGS, max_tokens=MAX_TOKENS, gates=dict(spec.get("gates", {})),
                         fallback=spec.get("fallback"),
                         metrics={"trained_on": f"MiniLM zero-shot teacher's labels of {len(train)} English pages (classifiers/corpus.py)",
                                  "l2": l2})
        head.save(args.out_dir / f"{name}.json")
        static_labels = [head.labels[k] for k in np.nan_to_num(head.predict(x, texts), nan=-1.0).argmax(axis=1)]
        student = FastTextClassifier(args.students / f"{name}.ftz")
        fasttext_labels = [student.labels[j] for j in student.predict_proba(texts).argmax(axis=1)]
        labels_of[name] = {"teacher": teacher_labels, "static": static_labels, "fasttext": fasttext_labels}
        agreement = lambda labels: round(float(np.mean([teacher_labels[i] == labels[i] for i in held])), 4)
        metrics["heads"][name] = {"labels": len(full), "l2": l2, "bytes": (args.out_dir / f"{name}.json").stat().st_size,
                                  "agreement_held_out_static": agreement(static_labels),
                                  "agreement_held_out_fasttext": agreement(fasttext_labels),
                                  "teacher_label_counts": dict(Counter(teacher_labels).most_common())}

    sample_held = [i for i in held if pages[i]["origin"] == "sample"]
    sanity: dict = {"sample_held_out_pages": len(sample_held)}
    known = [i for i in sample_held if pages[i].get("topic") in recipe.SAMPLE_TOPICS and pages[i]["category"] in ("general", "news")]
    for who in ("teacher", "static", "fasttext"):
        domain = labels_of["domain"][who]
        for kind in ("code", "math"):
            truth = [i for i in sample_held if pages[i]["category"] == kind]
            said = [i for i in sample_held if domain[i] == kind]
            sanity[f"{who}_{kind}_recall"] = round(sum(domain[i] == kind for i in truth) / max(1, len(truth)), 4)
            sanity[f"{who}_{kind}_precision"] = round(sum(pages[i]["category"] == kind for i in said) / max(1, len(said)), 4)
        topic = labels_of["topic"][who]
        sanity[f"{who}_sample_topic_accuracy"] = round(sum(topic[i] == recipe.SAMPLE_TOPICS[pages[i]["topic"]] for i in known) / max(1, len(known)), 4)
    sanity["sample_topic_pages"] = len(known)
    metrics["sanity"] = sanity
    (args.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
