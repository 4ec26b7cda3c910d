"""Dirty-word counting (Llama 3, after C4): reject pages that are largely obscene / adult terms.

Per document (matching and units: ``curate.filters.dirty_words``), written for every document before
the split: ``dirty_word_count`` (int32, matches of the language's list) and ``dirty_word_frac``
(float32, the share of the document's words that matches cover; characters for Chinese, Japanese,
Thai). Both are null where the document's language has no list in use (counter
``unscored_language``).

Rules (``would_reject_dirty_words_<rule>`` counts each on its own; the first that fires is the
reason, always ``dirty_words``):

* ``frac``: ``dirty_word_frac > max_frac`` and ``dirty_word_count >= min_count`` — detail
  ``frac=0.031>0.020 count=12``;
* ``count``: ``dirty_word_count > max_count`` (off by default; C4's rule is ``max_count: 0``,
  any listed word) — detail ``count=12>0 frac=0.031``.

Defaults, from real pages (``evals.dirty_kl.kl_calibration``: 920 pages of ../shared
extracted as the pipeline does — Scrapinghub news articles, DCLM human-labelled Common Crawl
documents, trafilatura-eval pages, Common Crawl / ClueWeb / wget WARC responses — languages by
lid.176; 914 in a language with a list) and the sample corpus:

* ``max_frac = 0.02`` (one listed word in 50). 8.3% of the real English pages contain a listed
  word (38/456: "sex", "rape", "suck"... in news and encyclopaedic text); the 99th percentile of
  ``dirty_word_frac`` is 0.012 in English, 0.002 in German, and news about sex-abuse trials reaches
  0.010-0.011. The only real pages above 0.02 are two Chinese adult-fiction / adult-video sites in
  the CC-MAIN-2020-34 WARC (0.023 with 32 matches, 0.059) and an app page for a couples' sex game
  (0.022, English): 3 of 914. The sample corpus's adult spam pages score 0.17-0.30, its clean pages
  at most 0.003. 0.02 sits at about twice the legitimate tail and an order of magnitude below the
  spam. (Llama 3 does not publish its threshold.)
* ``min_count = 3``: the fraction rule needs three matches, so one expletive in a short comment
  (one listed word in 58 words is 0.017, a real DCLM page) never decides; adult pages repeat their
  vocabulary.
* ``max_count = null``: C4's any-word rule would drop 8.3% of the real English pages and 10 of the 15
  Chinese ones (the zh list has everyday characters such as 性, "nature/sex"); set
  ``max_count: 0`` to reproduce C4.

Language: the optional ``lang`` column (``language_column``; ISO 639 codes from language ID, region
or script suffixes ignored: ``pt_BR`` -> pt). A document without one (no column, a null, empty or
``und`` value) is judged in ``default_language`` ("en": English is what most web text without a
language label is, and English list words rarely appear by accident in other languages' text;
counter ``default_language_used``); null leaves such documents unscored. The lists used are the
shipped list of the language (if ``languages`` allows it), the lists named in ``also_match``
(e.g. ``["en"]``: English adult spam on pages in other languages), and the files of
``extra_word_lists`` for that language and for ``"*"`` (every language).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from curate.contract import ScoreHistogram, StageOutput, StageParams
from curate.filters.dirty_words import DirtyWordMatcher, list_language, matcher, shipped_lists
from curate.stages.base import Stage

RULES = ("frac", "count")
_UNKNOWN = {"", "und", "zxx", "mul"}


def document_language(code: str | None) -> str | None:
    """``pt_BR`` / ``zh-Hant`` / ``EN`` -> pt / zh / en; empty, null, ``und`` -> None."""
    if code is None:
        return None
    base = code.strip().replace("-", "_").split("_", 1)[0].lower()
    return None if base in _UNKNOWN else base


class DirtyWordsParams(StageParams):
    max_frac: float | None = Field(
        default=0.02, ge=0, le=1,
        description="dirty_word_frac above this (with at least min_count matches) -> dirty_words (null: off)")
    min_count: int = Field(default=3, ge=1, description="matches a document needs before the max_frac rule can fire")
    max_count: int | None = Field(
        default=None, ge=0, description="more matches than this -> dirty_words (null: off; 0 is C4's any-listed-word rule)")
    languages: list[str] | None = Field(
        default=None, description="shipped lists to use, by language code (null: every shipped list)")
    also_match: list[str] = Field(
        default=[], description="shipped lists matched in every document besides its own language's (e.g. ['en'])")
    extra_word_lists: dict[str, list[str]] = Field(
        default={}, description="language code (or '*' for every language) -> extra list files, one entry per line, '#' comments")
    language_column: str = Field(default="lang", description="column with the document's language (optional)")
    default_language: str | None = Field(
        default="en", description="language of documents without one (no column, null, empty or 'und'); null: leave them unscored")

    @field_validator("languages", "also_match")
    @classmethod
    def _shipped(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        shipped = shipped_lists()
        for code in value:
            if code not in shipped:
                raise ValueError(f"no shipped dirty-word list {code!r} (shipped: {', '.join(shipped)})")
        return sorted(set(value))

    @field_validator("extra_word_lists")
    @classmethod
    def _files_exist(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for code, paths in value.items():
            for path in paths:
                if not Path(path).is_file():
                    raise ValueError(f"extra_word_lists[{code!r}]: {path!r} is not a file")
        return {(code if code == "*" else document_language(code) or code): list(paths) for code, paths in value.items()}

    @model_validator(mode="after")
    def _default_is_a_code(self):
        if self.default_language is not None and document_language(self.default_language) is None:
            raise ValueError(f"default_language {self.default_language!r} is not a language code")
        return self


class DirtyWords(Stage):
    name = "dirty_words"
    version = "1"
    Params = DirtyWordsParams
    writes = {"dirty_word_count": pa.int32(), "dirty_word_frac": pa.float32()}

    @classmethod
    def score_histograms(cls, p: DirtyWordsParams) -> dict[str, ScoreHistogram]:
        frac_lines = (p.max_frac,) if p.max_frac is not None and p.max_frac <= 0.2 else ()
        count_lines = (p.max_count,) if p.max_count is not None and p.max_count <= 50 else ()
        return {
            "dirty_word_frac": ScoreHistogram(0.0, 0.2, 40, frac_lines, "share of words on the dirty-word list"),
            "dirty_word_count": ScoreHistogram(0, 50, 50, count_lines, "dirty-word matches"),
        }

    def setup(self) -> None:
        self._matchers: dict[str | None, DirtyWordMatcher | None] = {}
        if self.params.default_language is not None:
            self._matcher(document_language(self.params.default_language))

    def _matcher(self, language: str | None) -> DirtyWordMatcher | None:
        """The matcher for a document language (None: no list in use), built once per process."""
        if language not in self._matchers:
            p: DirtyWordsParams = self.params
            own = list_language(language) if language else None
            lists = set(p.also_match)
            if own is not None and (p.languages is None or own in p.languages):
                lists.add(own)
            extra = [*p.extra_word_lists.get(language or "", []), *p.extra_word_lists.get("*", [])]
            self._matchers[language] = matcher(tuple(sorted(lists)), tuple(extra)) if lists or extra else None
        return self._matchers[language]

    def process(self, batch: pa.Table) -> StageOutput:
        self.ensure_setup()
        p: DirtyWordsParams = self.params
        n = batch.num_rows
        texts = batch.column("text").to_pylist()
        langs = batch.column(p.language_column).to_pylist() if p.language_column in batch.column_names else [None] * n
        default = document_language(p.default_language) if p.default_language else None
        counts: list[int | None] = []
        fracs: list[float | None] = []
        keep, reasons, details = [], [], []
        counters: Counter = Counter({f"would_reject_dirty_words_{rule}": 0.0 for rule in RULES})
        for text, lang in zip(texts, langs, strict=True):
            language = document_language(lang)
            if language is None:
                language = default
                if default is not None:
                    counters["default_language_used"] += 1
            m = self._matcher(language)
            if m is None:
                counters["unscored_language"] += 1
                counts.append(None)
                fracs.append(None)
                keep.append(True)
                reasons.append(None)
                details.append(None)
                continue
            hits = m.hits(text or "")
            counters[f"scored_{language}"] += 1
            counters["documents_with_dirty_words"] += hits.count > 0
            counts.append(hits.count)
            fracs.append(hits.frac)
            fired = []
            if p.max_frac is not None and hits.count >= p.min_count and hits.frac > p.max_frac:
                fired.append(("frac", f"frac={hits.frac:.3f}>{p.max_frac:.3f} count={hits.count}"))
            if p.max_count is not None and hits.count > p.max_count:
                fired.append(("count", f"count={hits.count}>{p.max_count} frac={hits.frac:.3f}"))
            for rule, _ in fired:
                counters[f"would_reject_dirty_words_{rule}"] += 1
            keep.append(not fired)
            reasons.append("dirty_words" if fired else None)
            details.append(fired[0][1] if fired else None)
        batch = set_column(batch, "dirty_word_count", pa.array(counts, pa.int32()))
        batch = set_column(batch, "dirty_word_frac", pa.array(fracs, pa.float32()))
        histograms = self.histogram_counts(batch)
        kept, rejected = self.split(batch, keep, reasons, details)
        return StageOutput(kept, rejected, {k: float(v) for k, v in counters.items()}, histograms)


def set_column(batch: pa.Table, name: str, values: pa.Array) -> pa.Table:
    """Add ``name``, or replace it where an earlier run of the stage left one."""
    if name in batch.column_names:
        return batch.set_column(batch.column_names.index(name), name, values)
    return batch.append_column(name, values)
