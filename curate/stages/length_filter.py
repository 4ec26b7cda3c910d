"""Reject documents too short to be worth training on (after extraction).

It runs before language ID, so words are counted by script (``curate.filters.words``): whitespace
tokens, except that Chinese, Japanese, Thai, Lao, Khmer, Burmese and Tibetan characters count as
``1 / unspaced_chars_per_word`` of a word each (a 300-character Japanese page is ~150 words, not
the 3 whitespace tokens it has).
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from curate.contract import StageOutput, StageParams
from curate.filters.words import script_word_counts
from curate.stages.base import Stage


class LengthFilterParams(StageParams):
    min_words: int = Field(default=50, ge=0, description="fewer words (whitespace tokens; unspaced scripts by characters) -> too_few_words")
    max_words: int | None = Field(default=None, ge=1, description="more words -> too_many_words (off when null)")
    min_chars: int = Field(default=0, ge=0, description="fewer characters -> too_few_chars")
    unspaced_chars_per_word: float = Field(default=2.0, gt=0, description="characters of an unspaced script (CJK, Thai, ...) per word")

    @model_validator(mode="after")
    def _bounds_ordered(self):
        if self.max_words is not None and self.max_words < self.min_words:
            raise ValueError(f"max_words ({self.max_words}) must be >= min_words ({self.min_words})")
        return self


class LengthFilter(Stage):
    name = "length_filter"
    version = "2"  # 2: words counted by script
    Params = LengthFilterParams
    writes = {"word_count": pa.int32()}

    def process(self, batch: pa.Table) -> StageOutput:
        p: LengthFilterParams = self.params
        text = pc.fill_null(batch.column("text"), "")
        # Whitespace tokens, and unspaced scripts by characters: the Gopher rules' "words" once
        # the language is known, without needing it
        words = script_word_counts(text, p.unspaced_chars_per_word)
        chars = pc.utf8_length(text)
        word_list = words.to_pylist()
        char_list = chars.to_pylist()
        keep, reasons, details = [], [], []
        for n_words, n_chars in zip(word_list, char_list, strict=True):
            reason = detail = None
            if n_chars < p.min_chars:
                reason, detail = "too_few_chars", f"chars={n_chars}<{p.min_chars}"
            elif n_words < p.min_words:
                reason, detail = "too_few_words", f"words={n_words}<{p.min_words}"
            elif p.max_words is not None and n_words > p.max_words:
                reason, detail = "too_many_words", f"words={n_words}>{p.max_words}"
            keep.append(reason is None)
            reasons.append(reason)
            details.append(detail)
        batch = batch.append_column("word_count", words)
        kept, rejected = self.split(batch, keep, reasons, details)
        return StageOutput(kept=kept, rejected=rejected, counters={"words_kept": float(sum(w for w, k in zip(word_list, keep, strict=True) if k))})
