"""Extraction accuracy against human gold, with plain trafilatura measured in the same run.

Measured on this code (full sets): scrapinghub-aeb token F1 0.961 (trafilatura 0.958);
trafilatura-eval snippet F1 0.925 (trafilatura 0.921). Floors sit a little below, and ours may
not fall behind the baseline by more than a small margin.
"""
import pytest

from curate.eval.extraction import (
    baseline_extract,
    curate_extract,
    load_aeb,
    load_trafilatura_eval,
    score_aeb,
    score_trafilatura_eval,
)
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def ours():
    return curate_extract()


def test_scrapinghub_aeb_token_f1(ours):
    pages = load_aeb(shared_path("data", "extraction", "scrapinghub-aeb"))
    assert len(pages) >= 80
    mine, base = score_aeb(ours, pages), score_aeb(baseline_extract, pages)
    print(f"\naeb curate {mine.as_dict()}\naeb trafilatura {base.as_dict()}")
    assert mine.f1 >= 0.94 and mine.precision >= 0.92 and mine.recall >= 0.97
    assert mine.f1 >= base.f1 - 0.005


def test_trafilatura_eval_snippets(ours):
    pages = load_trafilatura_eval(shared_path("data", "extraction", "trafilatura-eval"))
    assert len(pages) >= 400
    mine, base = score_trafilatura_eval(ours, pages), score_trafilatura_eval(baseline_extract, pages)
    print(f"\ntrafilatura-eval curate {mine.as_dict()}\ntrafilatura-eval trafilatura {base.as_dict()}")
    assert mine.f1 >= 0.90 and mine.precision >= 0.88 and mine.recall >= 0.92 and mine.accuracy >= 0.90
    assert mine.f1 >= base.f1 - 0.005


def test_readability_edge_cases_never_crash(ours):
    root = shared_path("data", "extraction", "readability-testpages", "test-pages")
    import gzip

    count = 0
    for case in sorted(p for p in root.iterdir() if p.is_dir()):
        source = case / "source.html"
        data = source.read_bytes() if source.is_file() else gzip.decompress((case / "source.html.gz").read_bytes()) if (case / "source.html.gz").is_file() else None
        if data is None:
            continue
        assert isinstance(ours(data, None), str)
        count += 1
    assert count >= 100
