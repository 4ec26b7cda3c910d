"""Extraction accuracy on the labelled pages in ../shared/data/extraction.

* scrapinghub-aeb: mean token precision / recall / F1 (bag of whitespace tokens) of the
  extracted text against the human gold ``articleBody``.
* trafilatura-eval: per page, a ``with`` snippet found is a TP, missing a FN; a ``without``
  snippet found is a FP (absent: TN). Precision, recall, F1 and accuracy over all snippets.

Both extractors are called as ``extract(html_bytes, url) -> str``; plain ``trafilatura.extract``
with its defaults is the baseline. ``python -m curate.eval.extraction [shared_dir]`` prints both.
"""
from __future__ import annotations

import gzip
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

Extractor = Callable[[bytes, "str | None"], str]
_SPACE = re.compile(r"\s+")


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def baseline_extract(html: bytes, url: str | None = None) -> str:
    import trafilatura

    return trafilatura.extract(html, url=url) or ""


def curate_extract() -> Extractor:
    from curate.stages.extract_html import HtmlExtractor, _Reject

    stage = HtmlExtractor()
    stage.ensure_setup()

    def extract(html: bytes, url: str | None = None) -> str:
        try:
            return stage.extract_one(html, None, url)[0]
        except _Reject:
            return ""

    return extract


def load_aeb(root: Path) -> list[tuple[str, bytes, str, str]]:
    """(id, html, url, gold text) for each page of scrapinghub-aeb."""
    gold = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for page_id in sorted(gold):
        path = root / "html" / f"{page_id}.html.gz"
        if path.is_file():
            pages.append((page_id, _read(path), gold[page_id].get("url"), gold[page_id]["articleBody"]))
    return pages


def load_trafilatura_eval(root: Path) -> list[tuple[str, bytes, list[str], list[str]]]:
    """(url, html, with snippets, without snippets) for each page of trafilatura-eval."""
    data = json.loads((root / "evaldata.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(data):
        entry = data[key]
        for folder in ("cache", "eval"):
            for name in (entry["file"], entry["file"] + ".gz"):
                path = root / folder / name
                if path.is_file():
                    pages.append((key, _read(path), entry.get("with", []), entry.get("without", [])))
                    break
            else:
                continue
            break
    return pages


@dataclass
class Scores:
    precision: float
    recall: float
    f1: float
    accuracy: float | None
    pages: int
    seconds: float

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else float("inf")

    def as_dict(self) -> dict:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "accuracy": None if self.accuracy is None else round(self.accuracy, 4), "pages": self.pages,
                "pages_per_second": round(self.pages_per_second, 1)}


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def score_aeb(extract: Extractor, pages: Iterable[tuple[str, bytes, str, str]]) -> Scores:
    ps, rs, fs = [], [], []
    started = time.perf_counter()
    n = 0
    for _, html, url, gold in pages:
        got = Counter(extract(html, url).split())
        want = Counter(gold.split())
        overlap = sum((got & want).values())
        p, r, f = _prf(overlap, sum(got.values()) - overlap, sum(want.values()) - overlap)
        ps.append(p), rs.append(r), fs.append(f)
        n += 1
    seconds = time.perf_counter() - started
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    return Scores(mean(ps), mean(rs), mean(fs), None, n, seconds)


def score_trafilatura_eval(extract: Extractor, pages: Iterable[tuple[str, bytes, list[str], list[str]]]) -> Scores:
    tp = fn = fp = tn = 0
    started = time.perf_counter()
    n = 0
    for _, html, with_snippets, without_snippets in pages:
        text = _norm(extract(html, None))
        for snippet in with_snippets:
            if _norm(snippet) in text:
                tp += 1
            else:
                fn += 1
        for snippet in without_snippets:
            if _norm(snippet) in text:
                fp += 1
            else:
                tn += 1
        n += 1
    seconds = time.perf_counter() - started
    p, r, f = _prf(tp, fp, fn)
    return Scores(p, r, f, (tp + tn) / max(1, tp + tn + fp + fn), n, seconds)


def evaluate(shared: Path, subset: int | None = None) -> dict:
    """Both extractors on both sets (the first ``subset`` pages of trafilatura-eval if given)."""
    aeb = load_aeb(shared / "data" / "extraction" / "scrapinghub-aeb")
    teval = load_trafilatura_eval(shared / "data" / "extraction" / "trafilatura-eval")
    if subset:
        teval = teval[:subset]
    ours = curate_extract()
    return {
        "scrapinghub-aeb": {"curate": score_aeb(ours, aeb).as_dict(), "trafilatura": score_aeb(baseline_extract, aeb).as_dict()},
        "trafilatura-eval": {"curate": score_trafilatura_eval(ours, teval).as_dict(), "trafilatura": score_trafilatura_eval(baseline_extract, teval).as_dict()},
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    shared = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / ".." / "shared"
    results = evaluate(shared)
    print(f"{'set':<18} {'extractor':<12} {'P':>6} {'R':>6} {'F1':>6} {'acc':>6} {'pages/s':>8}")
    for dataset, by_extractor in results.items():
        for name, s in by_extractor.items():
            acc = "-" if s["accuracy"] is None else f"{s['accuracy']:.3f}"
            print(f"{dataset:<18} {name:<12} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} {acc:>6} {s['pages_per_second']:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
