"""Gopher's quality filters (Rae et al. 2021, Appendix A.1.1): "we remove any document that does not
contain between 50 and 100,000 words, or whose mean word length is outside the range of 3 to 10
characters; ... with a symbol-to-word ratio greater than 0.1 for either the hash symbol or the
ellipsis; ... with more than 90% of lines starting with a bullet point, or more than 30% ending
with an ellipsis. We also require that 80% of words in a document contain at least one alphabetic
character, and apply a 'stop word' filter, to remove documents that do not contain at least two of
the following English words: the, be, to, of, and, that, have, with".

Scores (definitions: ``curate.filters.gopher``), one column each, written for every document before
the split: ``gopher_word_count`` (int32), ``gopher_mean_word_length``, ``gopher_hash_word_ratio``,
``gopher_ellipsis_word_ratio``, ``gopher_bullet_lines_frac``, ``gopher_ellipsis_lines_frac``,
``gopher_alpha_words_frac``, ``gopher_alpha_chars_frac`` (float32), ``gopher_stop_words`` (int32).

Rules, in this order (the first that fires is the reason, ``gopher_quality_<rule>``, detail
``value=<score><op><threshold>``; ``would_reject_gopher_quality_<rule>`` counts each rule on its
own; a null threshold switches a rule, or one side of it, off):
``word_count``, ``mean_word_length``, ``hash_ratio``, ``ellipsis_ratio``, ``bullet_lines``,
``ellipsis_lines``, ``alpha_words``, ``alpha_chars``, ``stop_words``.

Language (the optional ``lang`` column, ISO 639-1 from language ID; absent or null ->
``default_language``, "en" by default, i.e. the paper's English-only setting):

* stop words: the rule applies only where ``stop_words`` has a list for the document's language
  (English from the paper is built in; lists given in params are added, and an empty list switches
  a language off); elsewhere ``gopher_stop_words`` is null and the rule does not fire;
* languages written without spaces (``unspaced_languages``: zh, ja, th, lo, km, my, bo, dz):
  whitespace tokens are phrases, not words, so ``gopher_word_count`` is an estimate (non-whitespace
  characters / ``unspaced_chars_per_word``, 2.0) that the word-count bounds and the symbol ratios
  use; mean word length and the alpha-word fraction are null (rules skipped), and the
  alpha-*character* rule (letters among non-whitespace characters >= ``min_alpha_chars_frac``)
  takes the alpha-word rule's place. The alpha-character rule applies only to those languages;
  its score is written for every document.
"""
from __future__ import annotations

from functools import cached_property

import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from curate.contract import ScoreHistogram, StageOutput, StageParams
from curate.filters.gopher import (
    DEFAULT_BULLETS,
    GOPHER_STOP_WORDS,
    UNSPACED_LANGUAGES,
    Threshold,
    base_language,
    decide,
    quality_scores,
    stop_word_pattern,
)
from curate.stages.base import Stage
from curate.stages.gopher_repetition import set_column


class GopherQualityParams(StageParams):
    min_words: int | None = Field(default=50, ge=0, description="fewer words -> gopher_quality_word_count (null: off); paper: 50")
    max_words: int | None = Field(default=100_000, ge=1, description="more words -> gopher_quality_word_count (null: off); paper: 100,000")
    min_mean_word_length: float | None = Field(default=3.0, ge=0, description="shorter mean word length (characters) -> gopher_quality_mean_word_length; paper: 3")
    max_mean_word_length: float | None = Field(default=10.0, ge=0, description="longer mean word length -> gopher_quality_mean_word_length; paper: 10")
    max_hash_word_ratio: float | None = Field(default=0.1, ge=0, description="more '#' per word -> gopher_quality_hash_ratio; paper: 0.1")
    max_ellipsis_word_ratio: float | None = Field(default=0.1, ge=0, description="more ellipses ('...' or '…') per word -> gopher_quality_ellipsis_ratio; paper: 0.1")
    max_bullet_lines_frac: float | None = Field(default=0.9, ge=0, le=1, description="a larger fraction of lines starting with a bullet -> gopher_quality_bullet_lines; paper: 0.9")
    max_ellipsis_lines_frac: float | None = Field(default=0.3, ge=0, le=1, description="a larger fraction of lines ending with an ellipsis -> gopher_quality_ellipsis_lines; paper: 0.3")
    min_alpha_words_frac: float | None = Field(default=0.8, ge=0, le=1, description="a smaller fraction of words with a letter -> gopher_quality_alpha_words; paper: 0.8")
    min_alpha_chars_frac: float | None = Field(
        default=0.7, ge=0, le=1,
        description="languages without spaces only: a smaller fraction of letters among non-whitespace characters -> "
                    "gopher_quality_alpha_chars (curate's stand-in for the alpha-word rule; not in the paper)")
    min_stop_words: int | None = Field(default=2, ge=0, description="fewer stop-word occurrences -> gopher_quality_stop_words (where the language has a list); paper: 2")
    distinct_stop_words: bool = Field(default=False, description="count distinct stop words instead of occurrences (datatrove and Dolma count occurrences)")
    stop_words: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: dict(GOPHER_STOP_WORDS),
        description="stop-word lists by language (ISO 639-1), added to the built-in English one from the paper; [] switches a language off")
    bullets: tuple[str, ...] = Field(default=DEFAULT_BULLETS, min_length=1, description="line starts that count as bullets")
    language_column: str = Field(default="lang", description="column with the document's language (optional)")
    default_language: str | None = Field(default="en", description="language of documents without one (no column, or null); null: unknown")
    unspaced_languages: tuple[str, ...] = Field(default=UNSPACED_LANGUAGES, description="languages written without spaces between words")
    unspaced_chars_per_word: float = Field(default=2.0, gt=0, description="characters per word used to estimate word counts in those languages")

    @field_validator("stop_words", mode="after")
    @classmethod
    def _merge_stop_words(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        merged = {**GOPHER_STOP_WORDS, **{base_language(k) or k: tuple(v) for k, v in value.items()}}
        return dict(sorted(merged.items()))

    @model_validator(mode="after")
    def _bounds_ordered(self):
        for low, high in (("min_words", "max_words"), ("min_mean_word_length", "max_mean_word_length")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and hi < lo:
                raise ValueError(f"{high} ({hi}) must be >= {low} ({lo})")
        return self


RULES: tuple[str, ...] = tuple(f"gopher_quality_{r}" for r in (
    "word_count", "mean_word_length", "hash_ratio", "ellipsis_ratio", "bullet_lines", "ellipsis_lines",
    "alpha_words", "alpha_chars", "stop_words"))

COLUMNS: dict[str, pa.DataType] = {
    "gopher_word_count": pa.int32(),
    "gopher_mean_word_length": pa.float32(),
    "gopher_hash_word_ratio": pa.float32(),
    "gopher_ellipsis_word_ratio": pa.float32(),
    "gopher_bullet_lines_frac": pa.float32(),
    "gopher_ellipsis_lines_frac": pa.float32(),
    "gopher_alpha_words_frac": pa.float32(),
    "gopher_alpha_chars_frac": pa.float32(),
    "gopher_stop_words": pa.int32(),
}


def thresholds(p: GopherQualityParams) -> list[Threshold]:
    """The rules in order, each on its column (the alpha-chars rule is applied to unspaced languages only)."""
    return [
        Threshold("gopher_quality_word_count", "gopher_word_count", p.min_words, p.max_words),
        Threshold("gopher_quality_mean_word_length", "gopher_mean_word_length", p.min_mean_word_length, p.max_mean_word_length),
        Threshold("gopher_quality_hash_ratio", "gopher_hash_word_ratio", high=p.max_hash_word_ratio),
        Threshold("gopher_quality_ellipsis_ratio", "gopher_ellipsis_word_ratio", high=p.max_ellipsis_word_ratio),
        Threshold("gopher_quality_bullet_lines", "gopher_bullet_lines_frac", high=p.max_bullet_lines_frac),
        Threshold("gopher_quality_ellipsis_lines", "gopher_ellipsis_lines_frac", high=p.max_ellipsis_lines_frac),
        Threshold("gopher_quality_alpha_words", "gopher_alpha_words_frac", low=p.min_alpha_words_frac),
        Threshold("gopher_quality_alpha_chars", "gopher_alpha_chars_frac", low=p.min_alpha_chars_frac),
        Threshold("gopher_quality_stop_words", "gopher_stop_words", low=p.min_stop_words),
    ]


def _within(low: float, high: float, *values: float | None) -> tuple[float, ...]:
    return tuple(v for v in values if v is not None and low <= v <= high)


class GopherQuality(Stage):
    name = "gopher_quality"
    version = "1"
    Params = GopherQualityParams
    writes = dict(COLUMNS)

    @classmethod
    def score_histograms(cls, p: GopherQualityParams) -> dict[str, ScoreHistogram]:
        return {
            "gopher_word_count": ScoreHistogram(0, 2000, 40, _within(0, 2000, p.min_words, p.max_words), "words (whitespace; CJK estimated)"),
            "gopher_mean_word_length": ScoreHistogram(0, 15, 30, _within(0, 15, p.min_mean_word_length, p.max_mean_word_length), "mean word length (characters)"),
            "gopher_hash_word_ratio": ScoreHistogram(0, 0.5, 25, _within(0, 0.5, p.max_hash_word_ratio), "'#' per word"),
            "gopher_ellipsis_word_ratio": ScoreHistogram(0, 0.5, 25, _within(0, 0.5, p.max_ellipsis_word_ratio), "ellipses per word"),
            "gopher_bullet_lines_frac": ScoreHistogram(0, 1, 20, _within(0, 1, p.max_bullet_lines_frac), "lines starting with a bullet"),
            "gopher_ellipsis_lines_frac": ScoreHistogram(0, 1, 20, _within(0, 1, p.max_ellipsis_lines_frac), "lines ending with an ellipsis"),
            "gopher_alpha_words_frac": ScoreHistogram(0, 1, 20, _within(0, 1, p.min_alpha_words_frac), "words with a letter"),
            "gopher_alpha_chars_frac": ScoreHistogram(0, 1, 20, _within(0, 1, p.min_alpha_chars_frac), "letters among non-space characters"),
            "gopher_stop_words": ScoreHistogram(0, 100, 50, _within(0, 100, p.min_stop_words), "stop-word occurrences"),
        }

    @cached_property
    def _patterns(self) -> dict[str, object]:
        p: GopherQualityParams = self.params
        return {lang: stop_word_pattern(words, lang in p.unspaced_languages) for lang, words in p.stop_words.items()}

    def score(self, batch: pa.Table) -> tuple[pa.Table, list[list[tuple[str, str]]]]:
        """``batch`` with the score columns, and per document every rule that fires (in order)."""
        p: GopherQualityParams = self.params
        rules = thresholds(p)
        n = batch.num_rows
        langs = batch.column(p.language_column).to_pylist() if p.language_column in batch.column_names else [None] * n
        default = base_language(p.default_language)
        values: dict[str, list] = {column: [] for column in COLUMNS}
        hits: list[list[tuple[str, str]]] = []
        for text, lang in zip(batch.column("text").to_pylist(), langs, strict=True):
            lang = base_language(lang) or default
            unspaced = lang in p.unspaced_languages
            s = quality_scores(
                text, unspaced=unspaced, stop_words=self._patterns.get(lang), distinct_stop_words=p.distinct_stop_words,
                bullets=p.bullets, chars_per_word=p.unspaced_chars_per_word)
            row = (s.word_count, s.mean_word_length, s.hash_word_ratio, s.ellipsis_word_ratio, s.bullet_lines_frac,
                   s.ellipsis_lines_frac, s.alpha_words_frac, s.alpha_chars_frac, s.stop_words)
            doc_hits = []
            for rule, value in zip(rules, row, strict=True):
                values[rule.column].append(value)
                if rule.reason == "gopher_quality_alpha_chars" and not unspaced:
                    continue
                detail = rule.check(value)
                if detail is not None:
                    doc_hits.append((rule.reason, detail))
            hits.append(doc_hits)
        for column, column_values in values.items():
            batch = set_column(batch, column, pa.array(column_values, COLUMNS[column]))
        return batch, hits

    def process(self, batch: pa.Table) -> StageOutput:
        batch, hits = self.score(batch)
        keep, reasons, details, counters = decide(hits, [r.reason for r in thresholds(self.params) if r.enabled])
        histograms = self.histogram_counts(batch)
        kept, rejected = self.split(batch, keep, reasons, details)
        return StageOutput(kept, rejected, counters, histograms)
