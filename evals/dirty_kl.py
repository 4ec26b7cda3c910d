"""The ``dirty_words`` and ``token_distribution`` stages: what they remove on the sample corpus, how
their scores fall on real pages (where the default thresholds come from), and how fast they run.

``defect_report(ground_truth_rows, use_language=True)``: both stages, default parameters, each on
the gold main texts of the sample corpus (``curate.sample``'s ``ground_truth.jsonl``; non-HTML rows
skipped), not chained. With ``use_language`` the ground-truth ``language`` is the ``lang`` column,
as language ID upstream would give it; without, every document falls back to ``default_language``
(English). Documents are grouped by planted defect (a document with two is in both groups) and
``clean`` (none); per group: documents, rejected by each stage, by either. ``clean_by_category``
and ``clean_by_language`` split the clean documents' rejections.

``real_pages(shared)`` / ``kl_calibration(shared)``: real extracted pages from ../shared — the
Scrapinghub AEB gold article bodies, the DCLM human-labelled Common Crawl texts (with their
labels), the trafilatura-eval pages and the HTML responses of the Common Crawl (CC-MAIN-2020-34,
ClueWeb09-ja sample, CC-MAIN-2024-22) and wget WARC files through curate's own reader and
``HtmlExtractor``, and the CC-MAIN-2024-22 WET record — labelled with curate's lid.176 language ID.
``kl_calibration`` scores them with both stages' filters and reports, per language and overall,
the distribution of ``token_kl_excess`` and ``dirty_word_frac`` (median, MAD, percentiles), the
share the defaults reject, and on DCLM how the rejections split between human "low" and "high"
quality labels. The numbers in the stages' docstrings come from here.

``bench_dirty_and_kl(texts, repeats, langs=None)``: documents per second of each stage's
``process`` on Arrow batches of 256 documents (scoring, columns, histograms, split), in this one
process (one core), the best of ``repeats`` passes after a warm-up pass (references built); and
each stage's ``setup`` time.

``python -m evals.dirty_kl [--pages 2000] [--seed 1] [--repeats 3] [--shared DIR]`` generates a
sample corpus in a temporary directory and prints all three (the real-page part when ../shared is
there).
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from curate.filters import dirty_words as dw
from curate.filters import token_kl as tk
from curate.sample import DEFECTS
from curate.stages.base import Stage
from curate.stages.dirty_words import DirtyWords, DirtyWordsParams, document_language
from curate.stages.token_distribution import TokenDistribution, TokenDistributionParams
from evals.shared import SHARED

STAGES: tuple[type[Stage], ...] = (DirtyWords, TokenDistribution)
CLEAN = "clean"
DEFAULT_SHARED = SHARED
# WARC files of ../shared/data/warc with real HTML responses (see its SOURCE.md), and the WET file.
REAL_WARCS = ("resiliparse/warcfile.warc.gz", "resiliparse/clueweb-quirk.warc.gz", "dolma/sample-0000.warc.gz",
              "dolma/sample-0001.warc.gz", "whirlwind/whirlwind.warc.gz", "whirlwind/whirlwind.warc.wet.gz")
BATCH_ROWS = 256


def _batch(ids: list[str], texts: list[str | None], langs: list[str | None] | None) -> pa.Table:
    columns = {"id": ids, "url": [None] * len(ids), "source": [None] * len(ids), "text": texts}
    if langs is not None:
        columns["lang"] = langs
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


def _rejected_ids(stage: Stage, batch: pa.Table) -> set[str]:
    rejected: set[str] = set()
    for start in range(0, batch.num_rows, BATCH_ROWS):
        rejected.update(stage.process(batch.slice(start, BATCH_ROWS)).rejected.column("id").to_pylist())
    return rejected


def defect_report(ground_truth_rows: list[dict], use_language: bool = True) -> dict:
    """Per planted-defect group (and ``clean``): documents, and how many each stage rejects."""
    rows = [r for r in ground_truth_rows if r.get("main_text") is not None]
    groups = [list(r.get("defects") or []) or [CLEAN] for r in rows]
    sizes = Counter(g for doc_groups in groups for g in doc_groups)
    order = [d for d in DEFECTS if sizes[d]] + sorted(g for g in sizes if g not in DEFECTS and g != CLEAN) + [CLEAN]
    ids = [r["id"] for r in rows]
    batch = _batch(ids, [r["main_text"] for r in rows], [r.get("language") for r in rows] if use_language else None)
    rejected = {cls.name: _rejected_ids(cls(), batch) for cls in STAGES}
    names = [cls.name for cls in STAGES]
    table = {g: {"documents": sizes[g], **{n: 0 for n in names}, "either": 0} for g in order}
    clean_by_category: dict[str, Counter] = defaultdict(Counter)
    clean_by_language: dict[str, Counter] = defaultdict(Counter)
    for row, doc_id, doc_groups in zip(rows, ids, groups, strict=True):
        hit = [n for n in names if doc_id in rejected[n]]
        for g in doc_groups:
            for n in hit:
                table[g][n] += 1
            table[g]["either"] += bool(hit)
        if doc_groups == [CLEAN]:
            for breakdown, key in ((clean_by_category, row.get("category") or "?"), (clean_by_language, row.get("language") or "?")):
                breakdown[key]["documents"] += 1
                for n in hit:
                    breakdown[key][n] += 1
    return {"use_language": use_language, "documents": len(rows), "groups": table,
            "clean_by_category": {k: dict(v) for k, v in sorted(clean_by_category.items())},
            "clean_by_language": {k: dict(v) for k, v in sorted(clean_by_language.items())}}


def bench_dirty_and_kl(texts: list[str], repeats: int = 3, langs: list[str | None] | None = None) -> dict:
    """Documents per second of each stage's ``process`` on one core (best of ``repeats`` passes)."""
    ids = [str(i) for i in range(len(texts))]
    batch = _batch(ids, list(texts), langs)
    slices = [batch.slice(start, BATCH_ROWS) for start in range(0, batch.num_rows, BATCH_ROWS)]
    chars = sum(len(t or "") for t in texts)
    out: dict = {"documents": len(texts), "mean_chars": chars / len(texts) if texts else 0.0, "repeats": repeats}
    tk.clear_references()  # so setup_s is a cold worker's
    dw.clear_matchers()
    for cls in STAGES:
        stage = cls()
        started = time.perf_counter()
        stage.ensure_setup()
        setup_s = time.perf_counter() - started
        for part in slices:  # warm-up: references / matchers of every language in the texts
            stage.process(part)
        best = math.inf
        for _ in range(max(1, repeats)):
            started = time.perf_counter()
            for part in slices:
                stage.process(part)
            best = min(best, time.perf_counter() - started)
        out[cls.name] = {"setup_s": round(setup_s, 3), "seconds": round(best, 3),
                         "docs_per_s": round(len(texts) / best, 1) if best > 0 else None,
                         "mb_per_s": round(chars / best / 1e6, 2) if best > 0 else None}
    return out


# --- real pages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RealPage:
    source: str  # "aeb", "dclm", "trafilatura-eval", "warc:<file>"
    key: str
    text: str
    lang: str | None = None
    label: int | None = None  # DCLM: 1 = high quality, 0 = low


def extracted_texts(payloads: list[tuple[str, bytes, str | None]]) -> list[tuple[str, str]]:
    """(key, main text) of the pages curate's HtmlExtractor keeps, for (key, html, charset) triples."""
    from curate.schema import DOCUMENT_SCHEMA, conform
    from curate.stages.extract_html import HtmlExtractor

    stage = HtmlExtractor()
    stage.ensure_setup()
    out = []
    for start in range(0, len(payloads), 64):
        part = payloads[start:start + 64]
        batch = conform(pa.table({"id": [k for k, _, _ in part], "html": pa.array([h for _, h, _ in part], pa.binary()),
                                  "charset": pa.array([c for _, _, c in part], pa.string())}), DOCUMENT_SCHEMA)
        kept = stage.process(batch).kept
        out.extend(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist(), strict=True))
    return out


def real_pages(shared: Path = DEFAULT_SHARED, with_language: bool = True) -> list[RealPage]:
    """Real extracted pages from ../shared (module doc), labelled by lid.176 when ``with_language``."""
    from curate.readers import InputFile, read_file
    from evals.extraction import AEB, TRAFILATURA_EVAL, load_trafilatura_eval

    pages: list[RealPage] = []
    aeb = shared / AEB / "ground-truth.json"
    if aeb.is_file():
        gold = json.loads(aeb.read_text(encoding="utf-8"))
        pages += [RealPage("aeb", key, gold[key]["articleBody"]) for key in sorted(gold)]
    dclm = shared / "data" / "quality" / "dclm-human" / "majority_data.jsonl"
    if dclm.is_file():
        for i, line in enumerate(dclm.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                row = json.loads(line)
                pages.append(RealPage("dclm", str(i), row["text"], label=int(row["label"])))
    if (shared / TRAFILATURA_EVAL).is_dir():
        snippets = load_trafilatura_eval(shared / TRAFILATURA_EVAL)
        pages += [RealPage("trafilatura-eval", key, text) for key, text in extracted_texts([(p.key, p.html, None) for p in snippets])]
    for name in REAL_WARCS:
        path = shared / "data" / "warc" / name
        if not path.is_file():
            continue
        html, texts = [], []
        for out in read_file(InputFile(uri=str(path), source=name, size=path.stat().st_size, format="warc")):
            for row in out.kept.select(["id", "url", "html", "text", "charset", "content_type"]).to_pylist():
                if row["text"]:
                    texts.append((row["url"] or row["id"], row["text"]))
                elif row["html"] and "html" in (row["content_type"] or "html"):
                    html.append((row["url"] or row["id"], row["html"], row["charset"]))
        pages += [RealPage(f"warc:{name}", key, text) for key, text in texts + extracted_texts(html)]
    pages = [p for p in pages if p.text and p.text.strip()]
    if with_language and pages:
        from curate.langid import LanguageIdentifier

        labels = LanguageIdentifier().predict([p.text for p in pages])
        pages = [RealPage(p.source, p.key, p.text, label[0], p.label) for p, label in zip(pages, labels, strict=True)]
    return pages


def _distribution(values: list[float]) -> dict:
    a = np.asarray(values, dtype=np.float64)
    if not a.size:
        return {"n": 0}
    median = float(np.median(a))
    mad = float(np.median(np.abs(a - median)))
    return {"n": int(a.size), "median": round(median, 3), "mad": round(mad, 3), "robust_sigma": round(1.4826 * mad, 3),
            **{f"p{q}": round(float(np.percentile(a, q)), 3) for q in (90, 95, 99)}, "max": round(float(a.max()), 3)}


def kl_calibration(shared: Path = DEFAULT_SHARED, pages: list[RealPage] | None = None, min_language_pages: int = 10) -> dict:
    """Score distributions of both stages on real pages, and what the default thresholds reject."""
    pages = real_pages(shared) if pages is None else pages
    kl_p, dw_p = TokenDistributionParams(), DirtyWordsParams()
    excess: dict[str, list[float]] = defaultdict(list)
    frac: dict[str, list[float]] = defaultdict(list)
    kl_rejected: list[tuple[float, RealPage]] = []
    dw_rejected: list[tuple[float, int, RealPage]] = []
    any_dirty: Counter = Counter()
    dclm = Counter()
    dclm_scores: list[tuple[float, int]] = []
    for page in pages:
        language = document_language(page.lang) or dw_p.default_language
        wordlist = tk.reference_language(language)
        if wordlist is not None:
            d = tk.token_kl(page.text, wordlist, kl_p.top_n)
            if d is not None:
                excess[language].append(d.excess)
                if page.label is not None:
                    dclm_scores.append((d.excess, page.label))
                if d.tokens >= kl_p.min_tokens and d.excess > kl_p.max_excess_by_language.get(language, kl_p.max_excess):
                    kl_rejected.append((d.excess, page))
                    if page.label is not None:
                        dclm[f"token_kl_rejects_label_{page.label}"] += 1
        listed = dw.list_language(language)
        if listed is not None:
            hits = dw.matcher((listed,)).hits(page.text)
            frac[language].append(hits.frac)
            any_dirty[language] += hits.count > 0
            if hits.count >= dw_p.min_count and hits.frac > dw_p.max_frac:
                dw_rejected.append((hits.frac, hits.count, page))
                if page.label is not None:
                    dclm[f"dirty_words_rejects_label_{page.label}"] += 1
        if page.label is not None:
            dclm[f"pages_label_{page.label}"] += 1
    all_excess = [v for values in excess.values() for v in values]
    return {
        "pages": len(pages),
        "sources": dict(Counter(p.source.split(":")[0] for p in pages)),
        "languages": dict(Counter(document_language(p.lang) or "?" for p in pages).most_common()),
        "token_kl_excess": {"all": _distribution(all_excess),
                            **{k: _distribution(v) for k, v in sorted(excess.items()) if len(v) >= min_language_pages}},
        "token_kl_rejected": {"threshold": kl_p.max_excess, "pages": len(kl_rejected), "of": len(all_excess),
                              "top": [(round(e, 2), p.source, p.key[:80], p.lang) for e, p in sorted(kl_rejected, key=lambda t: -t[0])[:25]]},
        "dirty_word_frac": {k: {**_distribution(v), "with_any_listed_word": any_dirty[k]}
                            for k, v in sorted(frac.items()) if len(v) >= min_language_pages},
        "dirty_words_rejected": {"threshold": dw_p.max_frac, "min_count": dw_p.min_count, "pages": len(dw_rejected),
                                 "of": sum(len(v) for v in frac.values()),
                                 "top": [(round(f, 4), c, p.source, p.key[:80], p.lang) for f, c, p in sorted(dw_rejected, key=lambda t: -t[0])]},
        "dclm": {**dict(dclm), "token_kl_excess_auc_low_quality": _auc(dclm_scores)},
    }


def _auc(scored: list[tuple[float, int]]) -> float | None:
    """P(score of a label-0 page > score of a label-1 page), ties half: ROC-AUC of the score as a
    detector of low quality."""
    low = np.array([s for s, label in scored if label == 0])
    high = np.array([s for s, label in scored if label == 1])
    if not low.size or not high.size:
        return None
    greater = (low[:, None] > high[None, :]).sum() + 0.5 * (low[:, None] == high[None, :]).sum()
    return round(float(greater / (low.size * high.size)), 3)


# --- command line --------------------------------------------------------------------------------


def format_defects(report: dict) -> str:
    names = [cls.name for cls in STAGES]
    lines = [f"{'group':<20}{'docs':>6}" + "".join(f"{n:>20}" for n in names) + f"{'either':>8}"]
    for group, row in report["groups"].items():
        lines.append(f"{group:<20}{row['documents']:>6}" + "".join(f"{row[n]:>20}" for n in names) + f"{row['either']:>8}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from curate.sample import generate_sample_corpus, read_ground_truth

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        generate_sample_corpus(Path(tmp), seed=args.seed, pages=args.pages, pages_per_warc=1000)
        rows = read_ground_truth(Path(tmp))
    for use_language in (True, False):
        report = defect_report(rows, use_language)
        print(f"\nsample corpus ({args.pages} pages, seed {args.seed}), lang column {'from ground truth' if use_language else 'absent'}:")
        print(format_defects(report))
        print("clean by language:", json.dumps(report["clean_by_language"]))
    texts = [r["main_text"] for r in rows if r.get("main_text")]
    langs = [r.get("language") for r in rows if r.get("main_text")]
    print("\nthroughput, one core:", json.dumps(bench_dirty_and_kl(texts, args.repeats, langs), indent=1))
    if args.shared.is_dir():
        print("\nreal pages:", json.dumps(kl_calibration(args.shared), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
