"""The unlabelled corpus the students learn from, and the teacher's judgements of it (cached).

Pages (``student_corpus``), deduplicated by text, at least ``min_words`` words:

* real pages from ``../shared`` through ``curate.eval.dirty_kl.real_pages`` — the Scrapinghub AEB
  article bodies, the trafilatura-eval pages and the HTML of the real WARC files (Common Crawl
  2020-34 / 2024-22, ClueWeb09-ja, wget crawls), extracted by curate's own ``HtmlExtractor`` —
  **without the DCLM labelled documents**, so the students' AUC on those labels is measured on
  documents no model of the chain learned from except the teacher (whose AUC is cross-validated);
* pages of curate's sample corpus (``curate.sample``, seed 1 — ``make curate`` uses seed 0), their
  gold main text, with their generator category (code, math, ...) and topic kept for sanity checks.

``teacher_outputs`` embeds every page once with the teacher's encoder and caches the embeddings in
``classifiers/.cache/`` (git-ignored) under a hash of the texts and the encoder, so the quality and
domain recipes share one pass.
"""
from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared"
CACHE = ROOT / "classifiers" / ".cache"


def sample_pages(pages: int, seed: int = 1) -> list[dict]:
    from curate.sample import generate_sample_corpus, read_ground_truth

    with tempfile.TemporaryDirectory() as tmp:
        generate_sample_corpus(Path(tmp), seed=seed, pages=pages)
        rows = read_ground_truth(Path(tmp))
    return [{"origin": "sample", "key": r["url"], "text": r["main_text"], "category": r["category"], "topic": r.get("topic"),
             "language": r.get("language")} for r in rows if r.get("main_text")]


def real_pages_unlabelled(shared: Path = SHARED) -> list[dict]:
    from curate.eval.dirty_kl import real_pages

    return [{"origin": p.source, "key": p.key, "text": p.text, "language": p.lang} for p in real_pages(shared) if p.source != "dclm"]


def student_corpus(sample: int = 3000, shared: Path = SHARED, min_words: int = 50, seed: int = 1,
                   real: bool = True) -> list[dict]:
    """The pages above; ``real=False`` (or no ``shared`` folder) leaves the real ones out."""
    pages = (real_pages_unlabelled(shared) if real and shared.is_dir() else []) + (sample_pages(sample, seed) if sample else [])
    seen: set[str] = set()
    out = []
    for page in pages:
        key = " ".join(page["text"].split())
        if len(key.split()) < min_words or key in seen:
            continue
        seen.add(key)
        out.append(page)
    return out


def teacher_embeddings(texts: list[str], encoder_reference: str, max_tokens: int, cache: Path = CACHE) -> np.ndarray:
    """Embeddings of ``texts``; each text is embedded once per (encoder, max_tokens) and cached by
    its sha1, so recipes over different subsets of the corpus share the work."""
    from curate.models.embed import MeanPooledEncoder
    from curate.models.resolve import resolve_model

    store = cache / f"embeddings-{hashlib.sha256(f'{encoder_reference}|{max_tokens}'.encode()).hexdigest()[:16]}.npz"
    cached: dict[str, np.ndarray] = {}
    if store.is_file():
        with np.load(store) as data:
            cached = dict(zip(data["keys"].tolist(), data["vectors"]))
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    missing = sorted({k: i for k, i in zip(keys, range(len(texts))) if k not in cached}.items())
    if missing:
        encoder = MeanPooledEncoder(resolve_model(encoder_reference, allow_hub=True), max_tokens=max_tokens)
        vectors = encoder.encode([texts[i] for _, i in missing])
        cached.update({k: v for (k, _), v in zip(missing, vectors)})
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(store, keys=np.array(list(cached)), vectors=np.vstack(list(cached.values())))
    return np.vstack([cached[k] for k in keys]) if keys else np.zeros((0, 0), dtype=np.float32)


def split_held_out(n: int, fraction: float = 0.2, seed: int = 0) -> np.ndarray:
    """True for the pages kept out of student training (student-teacher agreement is measured there)."""
    rng = np.random.default_rng(seed)
    return rng.random(n) < fraction
