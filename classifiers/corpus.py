"""The unlabelled corpus the students learn from, and the teacher's judgements of it (cached).

Pages (``student_corpus``), deduplicated by text, at least ``min_words`` words:

* real pages from ``../shared`` through ``evals.dirty_kl.real_pages`` — the Scrapinghub AEB
  article bodies, the trafilatura-eval pages and the HTML of the real WARC files (Common Crawl
  2020-34 / 2024-22, ClueWeb09-ja, wget crawls), and the Readability test pages, extracted by
  curate's own ``HtmlExtractor`` — **without the DCLM labelled documents**, so the students' AUC on those labels is measured on
  documents no model of the chain learned from except the teacher (whose AUC is cross-validated);
* pages of curate's sample corpus (``curate.sample``, seed 1 — ``make curate`` uses seed 0), extracted
  from their HTML like any page, with their generator category (code, math, ...) and topic kept for
  sanity checks.

``teacher_embeddings`` embeds every page once with the teacher's encoder and caches the embeddings in
``classifiers/.cache/`` (git-ignored) under the encoder and each text's sha1, so the quality and
domain recipes share one pass.
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np

from evals.shared import SHARED as _SHARED

ROOT = Path(__file__).resolve().parents[1]

SHARED = _SHARED
CACHE = ROOT / "classifiers" / ".cache"


def sample_pages(pages: int, seed: int = 1) -> list[dict]:
    """Sample-corpus pages as the pipeline sees them: the HTML of each response record through
    curate's reader and ``HtmlExtractor`` (students must learn the text they will score, and the
    extracted page differs from the generator's gold text: a title, paragraph breaks, formulas)."""
    from curate.readers import list_inputs, read_file
    from curate.sample import generate_sample_corpus, read_ground_truth
    from evals.dirty_kl import extracted_texts

    with tempfile.TemporaryDirectory() as tmp:
        generate_sample_corpus(Path(tmp), seed=seed, pages=pages)
        truth = {r["id"]: r for r in read_ground_truth(Path(tmp))}
        payloads = []
        for f in list_inputs(str(Path(tmp) / "warc")):
            for out in read_file(f):
                for row in out.kept.select(["id", "html", "charset"]).to_pylist():
                    if row["html"] and truth.get(row["id"], {}).get("main_text"):
                        payloads.append((row["id"], row["html"], row["charset"]))
    out = []
    for key, text in extracted_texts(payloads):
        r = truth[key]
        out.append({"origin": "sample", "key": r["url"], "text": text, "category": r["category"], "topic": r.get("topic"),
                    "language": r.get("language")})
    return out


def real_pages_unlabelled(shared: Path = SHARED) -> list[dict]:
    """``real_pages`` without DCLM, plus the Readability test pages (their ``source.html``)."""
    import gzip

    from curate.langid import LanguageIdentifier
    from evals.dirty_kl import extracted_texts, real_pages

    pages = [{"origin": p.source, "key": p.key, "text": p.text, "language": p.lang} for p in real_pages(shared) if p.source != "dclm"]
    readability = shared / "data" / "extraction" / "readability-testpages" / "test-pages"
    payloads = []
    for case in sorted(readability.iterdir()) if readability.is_dir() else []:
        for name, opener in (("source.html.gz", gzip.open), ("source.html", open)):
            if (case / name).is_file():
                with opener(case / name, "rb") as handle:
                    payloads.append((f"readability:{case.name}", handle.read(), None))
                break
    extra = extracted_texts(payloads)
    languages = LanguageIdentifier().predict([text for _, text in extra])
    pages += [{"origin": "readability", "key": key, "text": text, "language": lang}
              for (key, text), (lang, _) in zip(extra, languages, strict=True)]
    return pages


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
            cached = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    missing = sorted({k: i for k, i in zip(keys, range(len(texts)), strict=True) if k not in cached}.items())
    if missing:
        encoder = MeanPooledEncoder(resolve_model(encoder_reference, allow_hub=True), max_tokens=max_tokens)
        vectors = encoder.encode([texts[i] for _, i in missing])
        cached.update({k: v for (k, _), v in zip(missing, vectors, strict=True)})
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(store, keys=np.array(list(cached)), vectors=np.vstack(list(cached.values())))
    return np.vstack([cached[k] for k in keys]) if keys else np.zeros((0, 0), dtype=np.float32)


def split_held_out(n: int, fraction: float = 0.2, seed: int = 0) -> np.ndarray:
    """True for the pages kept out of student training (student-teacher agreement is measured there)."""
    rng = np.random.default_rng(seed)
    return rng.random(n) < fraction
