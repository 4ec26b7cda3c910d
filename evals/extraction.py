"""Extraction accuracy and speed on the labelled pages in ../shared/data/extraction.

* scrapinghub-aeb (91 article pages, human gold ``articleBody``): per page, token precision /
  recall / F1 of the extracted text against the gold, tokens being a bag (multiset) of
  whitespace-separated strings; the mean over pages is reported.
* trafilatura-eval (495 pages, human snippets): per page, a ``with`` snippet found in the text is
  a true positive, one missing a false negative; a ``without`` snippet found is a false positive,
  one absent a true negative. Precision, recall, F1 and accuracy over all snippets. Text and
  snippets are compared with whitespace collapsed (so paragraph separators do not matter).

Every extractor has one signature, ``extract(html: bytes | str) -> str`` (empty when nothing is
extracted or the page is rejected). ``stage_extractor()`` runs curate's ``HtmlExtractor.process``
on a one-row Arrow batch, exactly as the pipeline would; ``baseline_extract`` is plain
``trafilatura.extract(html)`` with its defaults. Speed is pages per CPU-second of this process
spent inside the extractor (CPU time, not wall time, so that other work on a shared machine
does not skew the comparison).

``python -m evals.extraction [SHARED_DIR] [--subset N]`` prints both on both sets;
``--profile [full|container]`` prints where extract_html's CPU time goes on the real pages instead.
"""
from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from evals.shared import SHARED

Extractor = Callable[["bytes | str"], str]

DEFAULT_SHARED = SHARED
AEB = Path("data", "extraction", "scrapinghub-aeb")
TRAFILATURA_EVAL = Path("data", "extraction", "trafilatura-eval")


class AebPage(NamedTuple):
    id: str
    html: bytes
    gold: str


class SnippetPage(NamedTuple):
    key: str
    html: bytes
    with_snippets: list[str]
    without_snippets: list[str]


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def load_aeb(root: Path) -> list[AebPage]:
    """Pages of scrapinghub-aeb that have both HTML and gold, in id order."""
    gold = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for page_id in sorted(gold):
        path = root / "html" / f"{page_id}.html.gz"
        if path.is_file():
            pages.append(AebPage(page_id, _read(path), gold[page_id]["articleBody"]))
    return pages


def load_trafilatura_eval(root: Path) -> list[SnippetPage]:
    """Pages of trafilatura-eval whose file is present (cache/ or eval/, gzipped or not), in key order."""
    data = json.loads((root / "evaldata.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(data):
        entry = data[key]
        for path in (root / folder / f"{entry['file']}{suffix}" for folder in ("cache", "eval") for suffix in (".gz", "")):
            if path.is_file():
                pages.append(SnippetPage(key, _read(path), list(entry.get("with") or []), list(entry.get("without") or [])))
                break
    return pages


def subset(pages: Sequence, n: int | None) -> list:
    """A fixed, evenly spread subset of ``n`` pages (the same on every run)."""
    if not n or n >= len(pages):
        return list(pages)
    step = len(pages) / n
    return [pages[int(i * step)] for i in range(n)]


# --- extractors ----------------------------------------------------------------------------


def baseline_extract(html: bytes | str) -> str:
    """Plain trafilatura with its defaults: the baseline."""
    import trafilatura

    return trafilatura.extract(html) or ""


def stage_extractor(params=None) -> Extractor:
    """curate's extract_html stage, called through ``process`` on a one-row batch."""
    import pyarrow as pa

    from curate.schema import DOCUMENT_SCHEMA, conform
    from curate.stages.extract_html import HtmlExtractor, HtmlExtractorParams

    stage = HtmlExtractor(params if params is not None else HtmlExtractorParams())
    stage.ensure_setup()

    def extract(html: bytes | str) -> str:
        payload = html.encode("utf-8") if isinstance(html, str) else html
        batch = conform(pa.table({"id": ["page"], "html": pa.array([payload], type=pa.binary())}), DOCUMENT_SCHEMA)
        kept = stage.process(batch).kept
        return kept.column("text")[0].as_py() if kept.num_rows else ""

    return extract


# --- scores --------------------------------------------------------------------------------


@dataclass
class Scores:
    precision: float
    recall: float
    f1: float
    accuracy: float | None
    pages: int
    seconds: float  # CPU time spent inside the extractor

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else float("inf")

    def as_dict(self) -> dict:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "accuracy": None if self.accuracy is None else round(self.accuracy, 4),
            "pages": self.pages,
            "pages_per_second": round(self.pages_per_second, 1),
        }


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _timed(extract: Extractor, html: bytes) -> tuple[str, float]:
    started = time.process_time()
    text = extract(html)
    return text, time.process_time() - started


def token_prf(text: str, gold: str) -> tuple[float, float, float]:
    """Precision, recall, F1 of ``text``'s whitespace tokens against ``gold``'s (as multisets)."""
    got, want = Counter(text.split()), Counter(gold.split())
    overlap = sum((got & want).values())
    return _prf(overlap, sum(got.values()) - overlap, sum(want.values()) - overlap)


def score_aeb(extract: Extractor, pages: Sequence[AebPage]) -> Scores:
    sums, seconds = [0.0, 0.0, 0.0], 0.0
    for page in pages:
        text, spent = _timed(extract, page.html)
        seconds += spent
        for i, value in enumerate(token_prf(text, page.gold)):
            sums[i] += value
    n = len(pages)
    return Scores(*(s / n if n else 0.0 for s in sums), accuracy=None, pages=n, seconds=seconds)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def score_trafilatura_eval(extract: Extractor, pages: Sequence[SnippetPage]) -> Scores:
    tp = fn = fp = tn = 0
    seconds = 0.0
    for page in pages:
        text, spent = _timed(extract, page.html)
        seconds += spent
        text = _collapse(text)
        for snippet in page.with_snippets:
            if _collapse(snippet) in text:
                tp += 1
            else:
                fn += 1
        for snippet in page.without_snippets:
            if _collapse(snippet) in text:
                fp += 1
            else:
                tn += 1
    p, r, f = _prf(tp, fp, fn)
    total = tp + tn + fp + fn
    return Scores(p, r, f, (tp + tn) / total if total else 0.0, len(pages), seconds)


def evaluate(shared: Path = DEFAULT_SHARED, extractors: dict[str, Extractor] | None = None, trafilatura_eval_pages: int | None = None) -> dict:
    """{set: {extractor: scores}} for curate and the baseline (or ``extractors``) on both sets."""
    extractors = extractors or {"curate": stage_extractor(), "trafilatura": baseline_extract}
    aeb = load_aeb(shared / AEB)
    snippets = subset(load_trafilatura_eval(shared / TRAFILATURA_EVAL), trafilatura_eval_pages)
    for extract in extractors.values():  # warm caches and imports, so the first one timed pays no more
        for page in aeb[:5]:
            extract(page.html)
    return {
        "scrapinghub-aeb": {name: score_aeb(fn, aeb).as_dict() for name, fn in extractors.items()},
        "trafilatura-eval": {name: score_trafilatura_eval(fn, snippets).as_dict() for name, fn in extractors.items()},
    }


def format_table(results: dict) -> str:
    lines = [f"{'set':<18} {'extractor':<12} {'pages':>5} {'P':>6} {'R':>6} {'F1':>6} {'acc':>6} {'pages/cpu-s':>11}"]
    for dataset, by_extractor in results.items():
        for name, s in by_extractor.items():
            acc = "-" if s["accuracy"] is None else f"{s['accuracy']:.3f}"
            lines.append(
                f"{dataset:<18} {name:<12} {s['pages']:>5} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} {acc:>6} {s['pages_per_second']:11.1f}"
            )
    return "\n".join(lines)


# (row, module, function): cProfile's inclusive time of each; rows nest (see format_profile)
PROFILE_ROWS = (
    ("decode (charset detection, decoding)", "curate/stages/extract_html.py", "detect_charset"),
    ("parse (lxml, libxml2)", "curate/stages/extract_html.py", "parse_html"),
    ("title", "curate/stages/extract_html.py", "page_title"),
    ("protect code and math", "curate/stages/extract_html.py", "protect"),
    ("find the main container (compiled BODY_XPATH)", "curate/extract/fast_trafilatura.py", "main_container_candidates"),
    ("trafilatura, all calls", "trafilatura/core.py", "bare_extraction"),
    ("  tree cleaning (tree_cleaning)", "trafilatura/htmlprocessing.py", "tree_cleaning"),
    ("  tag conversion (convert_tags)", "trafilatura/htmlprocessing.py", "convert_tags"),
    ("  tree copies (copy.copy)", "copy.py", "copy"),
    ("  tree copies (copy.deepcopy)", "copy.py", "deepcopy"),
    ("  main extractor (extract_content)", "trafilatura/main_extractor.py", "extract_content"),
    ("    boilerplate pruning (prune_unwanted_sections)", "trafilatura/main_extractor.py", "prune_unwanted_sections"),
    ("    link-density deletion", "trafilatura/htmlprocessing.py", "delete_by_link_density"),
    ("    element handlers (handle_textelem)", "trafilatura/main_extractor.py", "handle_textelem"),
    ("  fallbacks: comparison with external extractors", "trafilatura/external.py", "compare_extraction"),
    ("    readability", "trafilatura/external.py", "try_readability"),
    ("    jusText", "trafilatura/external.py", "justext_rescue"),
    ("  fallbacks: baseline rescue (balanced mode)", "trafilatura/baseline.py", "baseline"),
    ("write plain text (body_text)", "curate/stages/extract_html.py", "body_text"),
    ("restore code, unmark math", "curate/stages/extract_html.py", "restore"),
)


def profile(shared: Path = DEFAULT_SHARED, strategy: str = "full", compiled_xpaths: bool | None = None) -> dict:
    """Where extract_html's CPU time goes on the real pages (scrapinghub-aeb + trafilatura-eval).

    Inclusive cProfile times per phase, plus the time inside trafilatura's XPath expressions
    measured by wrapping each of them (lxml evaluates them in C and through EXSLT callbacks, so
    cProfile charges them to their callers). ``strategy="full", compiled_xpaths=False`` is the
    extractor before issue 15.
    """
    import cProfile
    import pstats

    from trafilatura import xpaths

    from curate.extract.fast_trafilatura import XPATH_LISTS
    from curate.stages.extract_html import HtmlExtractorParams

    compiled = strategy != "full" if compiled_xpaths is None else compiled_xpaths
    pages = [p.html for p in load_aeb(shared / AEB)] + [p.html for p in load_trafilatura_eval(shared / TRAFILATURA_EVAL)]
    extract = stage_extractor(HtmlExtractorParams(strategy=strategy, compiled_xpaths=compiled))
    xpath_seconds = [0.0]

    class Timed:
        def __init__(self, expression):
            self.expression, self.path = expression, expression.path

        def __call__(self, *args):
            started = time.process_time()
            try:
                return self.expression(*args)
            finally:
                xpath_seconds[0] += time.process_time() - started

    for html in pages[:5]:
        extract(html)
    saved = {name: list(getattr(xpaths, name)) for name in XPATH_LISTS}
    profiler = cProfile.Profile()
    started = time.process_time()
    try:
        if not compiled:
            for name in XPATH_LISTS:
                getattr(xpaths, name)[:] = [Timed(x) for x in saved[name]]
        profiler.enable()
        for html in pages:
            extract(html)
        profiler.disable()
    finally:
        for name, items in saved.items():
            getattr(xpaths, name)[:] = items
    total = time.process_time() - started
    by_function: dict[tuple[str, str], float] = {}
    for (filename, _line, function), (_cc, _nc, _tt, cumulative, _callers) in pstats.Stats(profiler).stats.items():
        for _row, module, name in PROFILE_ROWS:
            if function == name and filename.replace("\\", "/").endswith(module):
                key = (module, name)
                by_function[key] = max(by_function.get(key, 0.0), cumulative)
    rows = [{"phase": row, "seconds": round(by_function.get((module, name), 0.0), 3)} for row, module, name in PROFILE_ROWS]
    if not compiled:
        rows.insert(6, {"phase": "  XPath evaluations (all of trafilatura's, inside the rows below)", "seconds": round(xpath_seconds[0], 3)})
    return {"pages": len(pages), "strategy": strategy, "compiled_xpaths": compiled, "cpu_seconds": round(total, 3), "rows": rows}


def format_profile(result: dict) -> str:
    # cProfile's overhead inflates every row; shares are of all CPU time under the profiler
    profiled = result["cpu_seconds"]
    lines = [f"{result['pages']} real pages, strategy={result['strategy']}, compiled XPaths={result['compiled_xpaths']}: "
             f"{result['cpu_seconds']} CPU-s under the profiler; rows are inclusive, indented rows are inside the row above",
             f"{'phase':<70} {'seconds':>8} {'share':>6}"]
    for row in result["rows"]:
        lines.append(f"{row['phase']:<70} {row['seconds']:8.3f} {row['seconds'] / profiled if profiled else 0:6.1%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.extraction", description=__doc__.split("\n\n")[0])
    parser.add_argument("shared", nargs="?", type=Path, default=DEFAULT_SHARED, help="the ../shared folder (default: beside the repository)")
    parser.add_argument("--subset", type=int, default=None, help="score only N evenly spread trafilatura-eval pages")
    parser.add_argument("--profile", choices=["full", "container"], help="print where extract_html's time goes instead "
                        "(full: the whole-page path with lxml's XPaths, as before issue 15; container: the default)")
    args = parser.parse_args(argv)
    if not (args.shared / AEB).is_dir():
        parser.error(f"{args.shared / AEB} not found")
    if args.profile:
        print(format_profile(profile(args.shared, args.profile)))
        return 0
    print(format_table(evaluate(args.shared, trafilatura_eval_pages=args.subset)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
