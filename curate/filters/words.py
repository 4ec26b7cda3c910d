"""Word counts that do not need the document's language (stages that run before language ID).

Whitespace tokens are words in most scripts, but Chinese, Japanese, Thai, Lao, Khmer, Burmese and
Tibetan write words without spaces: a Japanese paragraph of 200 characters is one to five
whitespace "words". Here each character of those scripts counts as ``1 / chars_per_word`` of a
word (2.0 by default, the estimate the Gopher rules use once the language is known: a Chinese or
Japanese word is 1.5-2 characters), and what is left once they are taken out is counted as
whitespace tokens that hold a letter or a digit (Latin words, numbers inside a CJK sentence).
Text with no such character is counted exactly as ``str.split`` counts it.
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

# Han (with extensions and compatibility ideographs), kana (with halfwidth katakana), Thai, Lao,
# Tibetan, Myanmar, Khmer. Hangul is spaced (Korean puts spaces between words) and is not here.
_UNSPACED_RANGES = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u0f00-\u0fff"  # Tibetan
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff\u19e0-\u19ff"  # Khmer
    "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\U00020000-\U0003134f"  # Han extensions B-G
)
UNSPACED_CHAR = re.compile(f"[{_UNSPACED_RANGES}]")
_UNSPACED_RE2 = f"[{_UNSPACED_RANGES}]"
_HAS_WORD_CHAR = re.compile(r"[^\W_]")


def script_word_count(text: str, chars_per_word: float = 2.0) -> int:
    """Words in ``text``: whitespace tokens, plus characters of unspaced scripts / chars_per_word."""
    unspaced = len(UNSPACED_CHAR.findall(text))
    if not unspaced:
        return len(text.split())
    rest = UNSPACED_CHAR.sub(" ", text).split()
    return round(unspaced / chars_per_word) + sum(1 for token in rest if _HAS_WORD_CHAR.search(token))


def script_word_counts(texts: pa.Array | pa.ChunkedArray, chars_per_word: float = 2.0) -> pa.Array:
    """``script_word_count`` of each text (null counts as empty), as int32; vectorised where the
    text has no unspaced-script character, which is most of a Western crawl."""
    texts = pc.fill_null(texts, "")
    trimmed = pc.utf8_trim_whitespace(texts)
    # Arrow splits "" into one empty token; str.split gives none
    counts = pc.if_else(pc.equal(pc.utf8_length(trimmed), 0), 0,
                        pc.list_value_length(pc.utf8_split_whitespace(trimmed))).cast(pa.int32())
    mixed = pc.match_substring_regex(texts, _UNSPACED_RE2)
    if not pc.any(mixed).as_py():
        return counts if isinstance(counts, pa.Array) else counts.combine_chunks()
    out = counts.to_pylist()
    for i in pc.indices_nonzero(mixed).to_pylist():
        out[i] = script_word_count(texts[i].as_py(), chars_per_word)
    return pa.array(out, type=pa.int32())
