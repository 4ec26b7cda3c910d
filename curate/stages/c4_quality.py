"""C4's cleaning heuristics (Raffel et al. 2020, section 2.2; numbers from the reference
implementation, TFDS ``c4_utils.py``) — line edits plus page rejections. Algorithm and sources:
``curate.filters.c4``.

Line rules (each switchable) remove lines from the text when ``edit_lines`` is true (C4's
behaviour, the default): a word over ``max_word_length`` characters, no terminal punctuation,
fewer than ``min_words_per_line`` words, "javascript", a policy phrase; citation markers are
removed from the remaining lines. With ``edit_lines`` false the text is left as it is, and the
scores and the decision are the same (the sentence count is always that of the lines the rules
keep): editing only changes the text.

Document rules, in this order (first that fires is the reason; ``would_reject_<reason>`` counts
each on its own): ``c4_lorem_ipsum`` ("lorem ipsum" on the page), ``c4_curly_brace`` (a "{" on the
page — this drops nearly all code and LaTeX, as C4 meant to), ``c4_emptied`` (no line survives the
line rules), ``c4_too_few_sentences`` (fewer than ``min_sentences`` in the surviving lines).

Columns, written for every document before the split: ``c4_lines_removed`` (lines the line rules
remove), ``c4_no_terminal_punct_frac`` (fraction of lines without terminal punctuation),
``c4_short_lines``, ``c4_javascript_lines``, ``c4_policy_lines`` (lines each condition holds for,
whichever rule removed them), ``c4_sentences``.

Language: C4 is English-only, and its rules are mostly script-independent. For languages written
without spaces (``unspaced_languages``, read from the optional ``lang`` column) a line's word count
is its non-whitespace characters / ``unspaced_chars_per_word`` and the long-word rule is skipped;
。！？ count as terminal punctuation and sentence ends for every language.
"""
from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import Field

from curate.contract import ScoreHistogram, StageOutput, StageParams
from curate.filters.c4 import LINE_RULES, POLICY_PHRASES, TERMINAL_PUNCTUATION, C4Rules, c4_clean
from curate.filters.gopher import UNSPACED_LANGUAGES, decide, is_unspaced
from curate.stages.base import Stage
from curate.stages.gopher_repetition import set_column


class C4QualityParams(StageParams):
    edit_lines: bool = Field(default=True, description="remove the lines the line rules fail from the text (C4); false: score and decide only")
    # line rules
    require_terminal_punct: bool = Field(default=True, description="remove lines not ending in terminal punctuation (or ending in an ellipsis)")
    terminal_punctuation: tuple[str, ...] = Field(default=TERMINAL_PUNCTUATION, min_length=1, description='line endings that count as terminal: TFDS . ? ! " plus Unicode forms')
    min_words_per_line: int = Field(default=5, ge=0, description="remove lines with fewer words (0: off); C4/TFDS: 5")
    max_word_length: int | None = Field(default=1000, ge=1, description="remove lines with a longer word (null: off); TFDS: 1000, not in the paper")
    remove_javascript_lines: bool = Field(default=True, description='remove lines containing "javascript"')
    remove_policy_lines: bool = Field(default=True, description="remove lines containing a policy phrase")
    policy_phrases: tuple[str, ...] = Field(default=POLICY_PHRASES, description="lower-case substrings that mark a policy line")
    remove_citations: bool = Field(default=True, description="remove [1], [edit], [citation needed] from lines (before the checks)")
    # document rules
    reject_lorem_ipsum: bool = Field(default=True, description='reject pages containing "lorem ipsum" or a line of placeholder text')
    lorem_vocabulary_frac: float | None = Field(
        default=0.8, gt=0, le=1, description="a line with this share of lorem-ipsum vocabulary is placeholder text (null: the phrase only, as C4)")
    lorem_min_words: int = Field(default=8, ge=1, description="words a line needs before its lorem-ipsum share counts")
    reject_curly_brace: bool = Field(default=True, description='reject pages containing "{" (drops code and LaTeX)')
    document_rules_scope: Literal["page", "kept_lines"] = Field(
        default="page", description="where lorem ipsum and '{' are looked for: the whole page (the paper) or the lines kept (TFDS)")
    reject_emptied: bool = Field(default=True, description="reject pages where no line survives the line rules")
    min_sentences: int = Field(default=3, ge=0, description="reject pages with fewer sentences in the kept lines (0: off); C4/TFDS: 3")
    # language
    language_column: str = Field(default="lang", description="column with the document's language (optional)")
    unspaced_languages: tuple[str, ...] = Field(default=UNSPACED_LANGUAGES, description="languages written without spaces between words")
    unspaced_chars_per_word: float = Field(default=2.0, gt=0, description="characters per word for line word counts in those languages")


COLUMNS: dict[str, pa.DataType] = {
    "c4_lines_removed": pa.int32(),
    "c4_no_terminal_punct_frac": pa.float32(),
    "c4_short_lines": pa.int32(),
    "c4_javascript_lines": pa.int32(),
    "c4_policy_lines": pa.int32(),
    "c4_sentences": pa.int32(),
}
RULES: tuple[str, ...] = ("c4_lorem_ipsum", "c4_curly_brace", "c4_emptied", "c4_too_few_sentences")


def enabled_rules(p: C4QualityParams) -> list[str]:
    on = {"c4_lorem_ipsum": p.reject_lorem_ipsum, "c4_curly_brace": p.reject_curly_brace,
          "c4_emptied": p.reject_emptied, "c4_too_few_sentences": p.min_sentences > 0}
    return [rule for rule in RULES if on[rule]]


class C4Quality(Stage):
    name = "c4_quality"
    version = "2"  # 2: placeholder-text lines without the phrase
    Params = C4QualityParams
    writes = dict(COLUMNS)

    @classmethod
    def score_histograms(cls, p: C4QualityParams) -> dict[str, ScoreHistogram]:
        return {
            "c4_lines_removed": ScoreHistogram(0, 100, 50, (), "lines removed"),
            "c4_no_terminal_punct_frac": ScoreHistogram(0, 1, 20, (), "lines without terminal punctuation"),
            "c4_javascript_lines": ScoreHistogram(0, 10, 10, (), "lines with 'javascript'"),
            "c4_policy_lines": ScoreHistogram(0, 10, 10, (), "lines with a policy phrase"),
            "c4_sentences": ScoreHistogram(0, 100, 50, (p.min_sentences,) if 0 < p.min_sentences <= 100 else (), "sentences kept"),
        }

    def rules(self) -> C4Rules:
        p: C4QualityParams = self.params
        return C4Rules(
            remove_citations=p.remove_citations, max_word_length=p.max_word_length,
            require_terminal_punct=p.require_terminal_punct, terminal_punctuation=p.terminal_punctuation,
            min_words_per_line=p.min_words_per_line, remove_javascript_lines=p.remove_javascript_lines,
            remove_policy_lines=p.remove_policy_lines, policy_phrases=tuple(x.lower() for x in p.policy_phrases),
            scope=p.document_rules_scope, chars_per_word=p.unspaced_chars_per_word,
            lorem_vocabulary_frac=p.lorem_vocabulary_frac if p.reject_lorem_ipsum else None, lorem_min_words=p.lorem_min_words)

    def score(self, batch: pa.Table) -> tuple[pa.Table, list[list[tuple[str, str]]], dict[str, float]]:
        """``batch`` with the score columns (and the edited text when ``edit_lines``), per document
        every document rule that fires (in order), and line counters."""
        p: C4QualityParams = self.params
        rules = self.rules()
        n = batch.num_rows
        langs = batch.column(p.language_column).to_pylist() if p.language_column in batch.column_names else [None] * n
        values: dict[str, list] = {column: [] for column in COLUMNS}
        texts, hits = [], []
        counters = {"c4_lines_in": 0.0, "c4_citations_removed": 0.0, **{f"c4_lines_removed_{r}": 0.0 for r in LINE_RULES}}
        for text, lang in zip(batch.column("text").to_pylist(), langs, strict=True):
            r = c4_clean(text, rules, is_unspaced(lang, p.unspaced_languages))
            texts.append(r.text if text is not None else None)
            values["c4_lines_removed"].append(r.lines_removed)
            values["c4_no_terminal_punct_frac"].append(r.no_terminal_punct_frac)
            values["c4_short_lines"].append(r.short_lines)
            values["c4_javascript_lines"].append(r.javascript_lines)
            values["c4_policy_lines"].append(r.policy_lines)
            values["c4_sentences"].append(r.sentences)
            counters["c4_lines_in"] += r.lines
            counters["c4_citations_removed"] += r.citations_removed
            for rule, count in r.removed_by.items():
                counters[f"c4_lines_removed_{rule}"] += count
            doc_hits = []
            if p.reject_lorem_ipsum and r.lorem_ipsum:
                doc_hits.append(("c4_lorem_ipsum", 'contains "lorem ipsum"' if r.lorem_phrase else
                                 f"placeholder line: {r.lorem_line[0]:.2f} of {r.lorem_line[1]} words lorem-ipsum vocabulary"))
            if p.reject_curly_brace and r.curly_brace:
                doc_hits.append(("c4_curly_brace", 'contains "{"'))
            if p.reject_emptied and r.lines == r.lines_removed:
                doc_hits.append(("c4_emptied", f"lines_removed={r.lines_removed} of {r.lines}"))
            if p.min_sentences and r.sentences < p.min_sentences:
                doc_hits.append(("c4_too_few_sentences", f"value={r.sentences}<{p.min_sentences}"))
            hits.append(doc_hits)
        if p.edit_lines:
            batch = set_column(batch, "text", pa.array(texts, pa.string()))
        for column, column_values in values.items():
            batch = set_column(batch, column, pa.array(column_values, COLUMNS[column]))
        return batch, hits, counters

    def process(self, batch: pa.Table) -> StageOutput:
        batch, hits, line_counters = self.score(batch)
        keep, reasons, details, counters = decide(hits, enabled_rules(self.params))
        if self.params.edit_lines:
            counters["c4_documents_edited"] = float(sum(
                1 for removed, k in zip(batch.column("c4_lines_removed").to_pylist(), keep, strict=True) if k and removed))
        histograms = self.histogram_counts(batch)
        kept, rejected = self.split(batch, keep, reasons, details)
        return StageOutput(kept, rejected, {**line_counters, **counters}, histograms)

