"""Gopher's repetition removal (Rae et al. 2021, Appendix A.1.2, Table A1) — what the Llama 3 report
calls the "duplicated n-gram coverage ratio" filter (removes logs, error messages, keyword lists).

Fourteen scores per document, every one written as a float32 column for every document (kept
and rejected alike, before the split) and binned for the card: ``rep_dup_line_frac``,
``rep_dup_para_frac``, ``rep_dup_line_char_frac``, ``rep_dup_para_char_frac``,
``rep_top_{2,3,4}gram_char_frac``, ``rep_dup_{5..10}gram_char_frac`` (definitions:
``curate.filters.gopher``). A document is rejected when a score is above its threshold (Table A1's
by default; null switches that rule off, the score is still computed). Rules are checked in the
column order above; the first that fires is the reason (``gopher_rep_<score>``, detail
``value=0.412>0.300``), and ``would_reject_gopher_rep_<score>`` counts every document each rule
would reject on its own.

Language: the scores are script-independent for lines and paragraphs. The n-gram scores use
whitespace words; for languages written without spaces (zh, ja, th, ...) a "word" is a phrase or
a line, so those scores can only fire on repeated multi-phrase spans, which the line scores catch
as well; no ``lang`` column is needed or read.
"""
from __future__ import annotations

import pyarrow as pa
from pydantic import Field

from curate.contract import ScoreHistogram, StageOutput, StageParams
from curate.filters.gopher import DUP_NGRAM_NS, REPETITION_SCORES, TOP_NGRAM_NS, Threshold, decide, repetition_scores
from curate.stages.base import Stage

_FRACTION = dict(ge=0.0, le=1.0)


def _max(default: float, what: str) -> object:
    return Field(default=default, **_FRACTION, description=f"reject when {what} is above this (null: rule off); Gopher Table A1: {default}")


class GopherRepetitionParams(StageParams):
    max_dup_line_frac: float | None = _max(0.30, "the fraction of lines that are duplicates")
    max_dup_para_frac: float | None = _max(0.30, "the fraction of paragraphs that are duplicates")
    max_dup_line_char_frac: float | None = _max(0.20, "the fraction of line characters in duplicate lines")
    max_dup_para_char_frac: float | None = _max(0.20, "the fraction of paragraph characters in duplicate paragraphs")
    max_top_2gram_char_frac: float | None = _max(0.20, "the fraction of word characters in the most frequent word 2-gram")
    max_top_3gram_char_frac: float | None = _max(0.18, "the fraction of word characters in the most frequent word 3-gram")
    max_top_4gram_char_frac: float | None = _max(0.16, "the fraction of word characters in the most frequent word 4-gram")
    max_dup_5gram_char_frac: float | None = _max(0.15, "the fraction of word characters in repeated word 5-grams")
    max_dup_6gram_char_frac: float | None = _max(0.14, "the fraction of word characters in repeated word 6-grams")
    max_dup_7gram_char_frac: float | None = _max(0.13, "the fraction of word characters in repeated word 7-grams")
    max_dup_8gram_char_frac: float | None = _max(0.12, "the fraction of word characters in repeated word 8-grams")
    max_dup_9gram_char_frac: float | None = _max(0.11, "the fraction of word characters in repeated word 9-grams")
    max_dup_10gram_char_frac: float | None = _max(0.10, "the fraction of word characters in repeated word 10-grams")
    count_first_occurrence: bool = Field(
        default=True,
        description="a repeated line/paragraph/n-gram counts with all its occurrences (the paper's reading, Dolma) "
                    "or only with the occurrences after the first (false: datatrove); top n-grams always count all")


COLUMNS: dict[str, str] = {score: f"rep_{score}" for score in REPETITION_SCORES}
RULES: tuple[str, ...] = tuple(f"gopher_rep_{score}" for score in REPETITION_SCORES)

_LABELS = {
    "dup_line_frac": "duplicate lines (fraction of lines)",
    "dup_para_frac": "duplicate paragraphs (fraction of paragraphs)",
    "dup_line_char_frac": "duplicate lines (fraction of characters)",
    "dup_para_char_frac": "duplicate paragraphs (fraction of characters)",
    **{f"top_{n}gram_char_frac": f"most frequent {n}-gram (fraction of characters)" for n in TOP_NGRAM_NS},
    **{f"dup_{n}gram_char_frac": f"repeated {n}-grams (fraction of characters)" for n in DUP_NGRAM_NS},
}


def thresholds(params: GopherRepetitionParams) -> list[Threshold]:
    """One rule per score, in the documented order (disabled ones included, with no bound)."""
    return [Threshold(f"gopher_rep_{score}", COLUMNS[score], high=getattr(params, f"max_{score}")) for score in REPETITION_SCORES]


class GopherRepetition(Stage):
    name = "gopher_repetition"
    version = "1"
    Params = GopherRepetitionParams
    writes = {column: pa.float32() for column in COLUMNS.values()}

    @classmethod
    def score_histograms(cls, params: GopherRepetitionParams) -> dict[str, ScoreHistogram]:
        return {
            rule.column: ScoreHistogram(0.0, 1.0, 40, () if rule.high is None else (rule.high,), _LABELS[score])
            for score, rule in zip(REPETITION_SCORES, thresholds(params), strict=True)
        }

    def score(self, batch: pa.Table) -> tuple[pa.Table, list[list[tuple[str, str]]]]:
        """``batch`` with the score columns, and per document every rule that fires (in order)."""
        p: GopherRepetitionParams = self.params
        rules = thresholds(p)
        values: dict[str, list[float]] = {column: [] for column in COLUMNS.values()}
        hits: list[list[tuple[str, str]]] = []
        for text in batch.column("text").to_pylist():
            scores = repetition_scores(text, p.count_first_occurrence)
            doc_hits = []
            for score, rule in zip(REPETITION_SCORES, rules, strict=True):
                value = scores[score]
                values[rule.column].append(value)
                detail = rule.check(value)
                if detail is not None:
                    doc_hits.append((rule.reason, detail))
            hits.append(doc_hits)
        for column, column_values in values.items():
            batch = set_column(batch, column, pa.array(column_values, pa.float32()))
        return batch, hits

    def process(self, batch: pa.Table) -> StageOutput:
        batch, hits = self.score(batch)
        keep, reasons, details, counters = decide(hits, [r.reason for r in thresholds(self.params) if r.enabled])
        histograms = self.histogram_counts(batch)
        kept, rejected = self.split(batch, keep, reasons, details)
        return StageOutput(kept, rejected, counters, histograms)


def set_column(batch: pa.Table, name: str, values: pa.Array) -> pa.Table:
    """Add ``name``, or replace it when the batch already has it (a stage run twice)."""
    if name in batch.column_names:
        return batch.set_column(batch.column_names.index(name), name, values)
    return batch.append_column(name, values)
