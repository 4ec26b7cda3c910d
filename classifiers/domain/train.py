"""Train the domain (code / math / prose) and topic students from the zero-shot embedding teacher.

    .venv/bin/python classifiers/domain/train.py     # writes domain.ftz, topic.ftz and metrics.json here

The teacher is ``curate.models.heads.ZeroShotHead`` over MiniLM embeddings with the label
descriptions of ``taxonomy.json`` (head ``domain``: what a page is made of — Llama 3's code and
math/reasoning classifiers, gated: ``code`` needs two lines that read as code and ``math`` two lines
with a formula, else the page is ``prose`` — see ``curate.models.heads``; head ``topic``: 20
knowledge categories the mixer can cap). Each student
is a quantised fastText model trained on the teacher's top label for the English pages of
``classifiers/corpus.py``, a seeded 20 % held out. Measured (``metrics.json``):

* student-teacher agreement (same top label) on the held-out pages, per head;
* on held-out sample-corpus pages, whose generator category and topic are known: recall and
  precision of ``code`` and ``math`` against the category, and topic accuracy under the
  generator-topic -> taxonomy map below, for teacher and student;
* on real pages whose URL says their topic (``obvious_topic``: "/sport/", "recipe", ...): topic
  accuracy of teacher and student — a sanity check, not a benchmark (few pages, most of them in the
  student's training set with the teacher's label).
"""
from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

from classifiers.corpus import CACHE, SHARED, split_held_out, student_corpus, teacher_embeddings
from curate.models.embed import MeanPooledEncoder
from curate.models.fasttext_classifier import FastTextClassifier, train_student
from curate.models.heads import ZeroShotHead, load_taxonomy
from curate.models.resolve import resolve_model

ENCODER = "builtin:all-MiniLM-L6-v2"
MAX_TOKENS = 256
# The sample generator's twelve English topics in the taxonomy's words.
SAMPLE_TOPICS = {"technology": "technology", "science": "science", "health": "health", "travel": "travel", "food": "food",
                 "sports": "sports", "business": "business_finance", "politics": "news_politics", "education": "education",
                 "environment": "environment", "culture": "arts_entertainment", "history": "history"}
# URL words that make a page's topic obvious (checked in this order; the first match decides).
URL_TOPICS = (
    (r"sport|football|soccer|basketball|tennis|\bnba\b|\bnfl\b|cricket|olymp", "sports"),
    (r"recipe|cooking|food|cuisine|restaurant", "food"),
    (r"health|medic|disease|doctor|hospital|cancer", "health"),
    (r"travel|tourism|hotel|vacation|holiday", "travel"),
    (r"politic|election|government|parliament|senate", "news_politics"),
    (r"financ|business|market|stock|econom|invest", "business_finance"),
    (r"science|physics|chemistry|biology|astronom", "science"),
    (r"movie|film|music|celebrit|entertainment", "arts_entertainment"),
    (r"programming|python|javascript|developer|stackoverflow", "programming"),
)


def obvious_topic(key: str) -> str | None:
    lowered = key.lower()
    for pattern, topic in URL_TOPICS:
        if re.search(pattern, lowered):
            return topic
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--taxonomy", type=Path, default=HERE / "taxonomy.json")
    parser.add_argument("--sample-pages", type=int, default=3000)
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--no-real-pages", action="store_true", help="sample-corpus pages only (a quick retraining check)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where teacher embeddings are cached")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args(argv)

    taxonomy = load_taxonomy(args.taxonomy)
    pages = [p for p in student_corpus(args.sample_pages, args.shared, real=not args.no_real_pages) if p.get("language") == "en"]
    texts = [p["text"] for p in pages]
    embeddings = teacher_embeddings(texts, ENCODER, MAX_TOKENS, cache=args.cache)
    encoder = MeanPooledEncoder(resolve_model(ENCODER), max_tokens=MAX_TOKENS)
    held_out = split_held_out(len(pages), seed=args.seed)
    held = np.flatnonzero(held_out)
    metrics: dict = {"corpus_pages": len(pages), "held_out_pages": int(held.size), "heads": {}}
    labels_of: dict[str, tuple[list[str], list[str]]] = {}
    for name in ("domain", "topic"):
        head = taxonomy["heads"][name]
        teacher = ZeroShotHead.from_taxonomy(head, encoder.encode)
        teacher_labels = [teacher.labels[i] for i in teacher.predict(embeddings, texts).argmax(axis=1)]
        out = args.out_dir / f"{name}.ftz"
        train_student([(label, text) for label, text, h in zip(teacher_labels, texts, held_out, strict=True) if not h], out, seed=args.seed)
        student = FastTextClassifier(out)
        student_labels = [student.labels[j] for j in student.predict_proba(texts).argmax(axis=1)]
        student_held = [student_labels[i] for i in held]
        labels_of[name] = (teacher_labels, student_labels)
        metrics["heads"][name] = {
            "labels": len(teacher.labels), "model_bytes": out.stat().st_size,
            "agreement_held_out": round(float(np.mean([teacher_labels[i] == s for i, s in zip(held, student_held, strict=True)])), 4),
            "teacher_label_counts": dict(Counter(teacher_labels).most_common()),
        }

    sample_held = [i for i in held if pages[i]["origin"] == "sample"]
    sanity: dict = {"sample_held_out_pages": len(sample_held)}
    for who, pick in (("teacher", 0), ("student", 1)):
        domain = labels_of["domain"][pick]
        for kind in ("code", "math"):
            truth = [i for i in sample_held if pages[i]["category"] == kind]
            said = [i for i in sample_held if domain[i] == kind]
            sanity[f"{who}_{kind}_recall"] = round(sum(domain[i] == kind for i in truth) / max(1, len(truth)), 4)
            sanity[f"{who}_{kind}_precision"] = round(sum(pages[i]["category"] == kind for i in said) / max(1, len(said)), 4)
        topic = labels_of["topic"][pick]
        known = [i for i in sample_held if pages[i].get("topic") in SAMPLE_TOPICS and pages[i]["category"] in ("general", "news")]
        sanity[f"{who}_sample_topic_accuracy"] = round(sum(topic[i] == SAMPLE_TOPICS[pages[i]["topic"]] for i in known) / max(1, len(known)), 4)
        obvious = [(i, obvious_topic(pages[i]["key"])) for i in range(len(pages)) if pages[i]["origin"] != "sample"]
        obvious = [(i, t) for i, t in obvious if t]
        sanity[f"{who}_url_topic_accuracy"] = round(sum(topic[i] == t for i, t in obvious) / max(1, len(obvious)), 4)
        sanity["url_topic_pages"] = len(obvious)
    sanity["sample_topic_pages"] = len(known)
    metrics["sanity"] = sanity
    (args.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
