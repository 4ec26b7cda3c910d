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

from curate.langid import CODES, LanguageIdentifier
from evals.langid import LINGUA_LANGUAGES, LINGUA_SENTENCES, LINGUA_TO_LANG, LINGUA_UNKNOWN, lingua_accuracy
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


# ----- with lingua's second opinion, as the lang_id stage runs it (issue 16) -----
# Measured: documents of six sentences 0.970 (lid.176 alone 0.940), single sentences 0.941 (0.892),
# UDHR documents of six lines over 118 languages lid.176 labels 0.782 (0.768). Below 0.80 on six
# sentences: Malay (0.25: Indonesian) and Bosnian (0.30: Croatian), which lingua cannot tell apart
# either, and Yoruba (0.65: lid.176 answers Romansh, a language lingua does not have, so no second
# opinion is asked).
SIX_SENTENCE_FLOOR = 0.96
SINGLE_SENTENCE_FLOOR = 0.93
PER_LANGUAGE_FLOOR = 0.80
BELOW_PER_LANGUAGE_FLOOR = {"ms": 0.2, "bs": 0.25, "yo": 0.55}


@pytest.fixture(scope="module")
def with_second_opinion():
    from evals.langid import UDHR_TEXTS, lingua_documents_accuracy, predictor, udhr_accuracy

    folder = shared_path(*LINGUA_SENTENCES.parts)
    plain, second = predictor(second_opinion=False), predictor(second_opinion=True)
    udhr = shared_path(*UDHR_TEXTS.parts)
    return {
        "six": lingua_documents_accuracy(folder, second),
        "six_plain": lingua_documents_accuracy(folder, plain),
        "one": lingua_documents_accuracy(folder, second, 1),
        "udhr": udhr_accuracy(udhr, second),
        "udhr_plain": udhr_accuracy(udhr, plain),
    }


def test_six_sentence_documents_reach_the_floor(with_second_opinion):
    six, plain = with_second_opinion["six"], with_second_opinion["six_plain"]
    assert len(six["per_language"]) == 67
    assert six["mean_accuracy"] >= SIX_SENTENCE_FLOOR > plain["mean_accuracy"]
    below = {code: round(r["accuracy"], 3) for code, r in six["per_language"].items()
             if r["accuracy"] < BELOW_PER_LANGUAGE_FLOOR.get(code, PER_LANGUAGE_FLOOR)}
    assert below == {}, below


def test_single_sentences_and_the_udhr_improve_too(with_second_opinion):
    assert with_second_opinion["one"]["mean_accuracy"] >= SINGLE_SENTENCE_FLOOR
    udhr, plain = with_second_opinion["udhr"], with_second_opinion["udhr_plain"]
    assert len(udhr["per_language"]) >= 110
    assert udhr["mean_accuracy"] >= plain["mean_accuracy"] and udhr["mean_accuracy"] >= 0.77
