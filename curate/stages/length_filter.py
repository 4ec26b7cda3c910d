"""Reject documents too short to be worth training on (after extraction)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from curate.stages.base import Stage, StageOutput, StageParams


class LengthFilterParams(StageParams):
    min_words: int = Field(default=50, ge=0, description="fewer whitespace-separated words -> too_few_words")
    max_words: int | None = Field(default=None, ge=1, description="more words -> too_many_words (off when null)")
    min_chars: int = Field(default=0, ge=0, description="fewer characters -> too_few_chars")

    @model_validator(mode="after")
    def _bounds_ordered(self):
        if self.max_words is not None and self.max_words < self.min_words:
            raise ValueError(f"max_words ({self.max_words}) must be >= min_words ({self.min_words})")
        return self


class LengthFilter(Stage):
    name = "length_filter"
    version = "1"
    Params = LengthFilterParams
    writes = {"word_count": pa.int32()}

    def process(self, batch: pa.Table) -> StageOutput:
        p: LengthFilterParams = self.params
        text = pc.fill_null(batch.column("text"), "")
        # Whitespace tokens; the same definition the Gopher rules use for "words".
        words = pc.list_value_length(pc.utf8_split_whitespace(text)).cast(pa.int32())
        chars = pc.utf8_length(text)
        word_list = words.to_pylist()
        char_list = chars.to_pylist()
        keep, reasons, details = [], [], []
        for n_words, n_chars in zip(word_list, char_list):
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
        return StageOutput(kept=kept, rejected=rejected, counters={"words_kept": float(sum(w for w, k in zip(word_list, keep) if k))})
