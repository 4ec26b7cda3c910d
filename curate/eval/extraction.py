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

``python -m curate.eval.extraction [SHARED_DIR] [--subset N]`` prints both on both sets.
"""
from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

Extractor = Callable[["bytes | str"], str]

DEFAULT_SHARED = Path(__file__).resolve().parents[2].parent / "shared"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m curate.eval.extraction", description=__doc__.split("\n\n")[0])
    parser.add_argument("shared", nargs="?", type=Path, default=DEFAULT_SHARED, help="the ../shared folder (default: beside the repository)")
    parser.add_argument("--subset", type=int, default=None, help="score only N evenly spread trafilatura-eval pages")
    args = parser.parse_args(argv)
    if not (args.shared / AEB).is_dir():
        parser.error(f"{args.shared / AEB} not found")
    print(format_table(evaluate(args.shared, trafilatura_eval_pages=args.subset)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
