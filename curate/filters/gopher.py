"""Gopher's heuristic document filters (Rae et al. 2021, "Scaling Language Models: Methods, Analysis &
Insights from Training Gopher", Appendix A.1.1 "quality filters" and A.1.2 / Table A1 "repetition
removal") as pure functions of a text, plus the small helpers the heuristic stages share (language
classes, threshold checks, first-rule-wins decisions).

Definitions (all on the text as given; no normalisation beyond what is said):

* *words*: whitespace tokens (``str.split()``), punctuation attached — the definition
  ``length_filter`` uses. *Word characters*: the characters of the words (whitespace excluded).
* *lines*: ``text.split("\\n")``, each stripped; blank lines are not lines. *Paragraphs*: the text
  split on blank lines (``\\n`` + optional spaces + ``\\n``, i.e. ``\\n\\n+``), stripped, empty ones
  dropped. A text with no blank line is one paragraph (so the paragraph scores are 0 for it).

Repetition (``repetition_scores``):

* duplicate line / paragraph fraction: the share of lines (paragraphs) whose exact text occurs
  more than once in the document; duplicate line / paragraph *character* fraction: their
  characters over the characters of all lines (paragraphs). With ``count_first_occurrence`` (the
  default) every occurrence of a repeated line counts, as the paper reads ("the fraction of lines
  that are duplicates") and as Dolma's Gopher tagger computes it; with False only the second and
  later occurrences count (datatrove's ``find_duplicates``), which is roughly half as strict.
* top n-gram character fraction (n = 2, 3, 4): the word characters covered by the occurrences of
  the most frequent word n-gram, over all word characters. Only an n-gram that occurs at least
  twice counts (a document with no repeated n-gram scores 0; datatrove and Dolma also score an
  n-gram seen once, which only matters for texts of a few words, the quality filter's job); ties
  go to the n-gram with the most characters; overlapping occurrences ("a a a") are counted once
  per word. Every occurrence counts, whatever ``count_first_occurrence`` says.
* duplicated n-gram character fraction (n = 5..10): the word characters covered by any occurrence
  of any n-gram that occurs more than once, each word counted once however many n-grams cover it
  (the paper: "taking care not to count characters that occur in overlapping n-grams more than
  once"), over all word characters. With ``count_first_occurrence=False`` only the occurrences
  after the first of each n-gram cover words.

  Cost is linear: a duplicated n-gram's (n-1)-prefix is duplicated too, so the n-grams of level
  n+1 are built only at the start positions that were duplicated at level n, and a level with no
  duplicate ends the computation (every longer n then scores 0). Natural text usually stops at
  n = 5 after one ``Counter`` of tuples.

Quality (``quality_scores``): word count, mean word length, ``#`` and ellipsis ("..." or "…";
the Chinese "……" counts once) occurrences per word, the fractions of lines starting with a
bullet or ending with an ellipsis, the fraction of words with at least one alphabetic character
(Unicode letters), and the number of stop-word occurrences. For languages written without spaces
(``UNSPACED_LANGUAGES``) whitespace tokens are not words, so: the word count is *estimated* as
word characters / ``chars_per_word`` (default 2.0: a Chinese or Japanese word is 1.5-2 characters;
``curate.sample`` sizes its CJK pages the same way) and the symbol ratios divide by that estimate;
mean word length and the alpha-word fraction are not defined (None) and the alpha-*character*
fraction (letters over non-whitespace characters; Han and kana are letters) takes the alpha-word
rule's place; stop words are matched as substrings rather than as whole words.
"""
from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress

# --- languages ------------------------------------------------------------------------------------

# ISO 639-1 codes of languages written without spaces between words: Chinese, Japanese, Thai, Lao,
# Khmer, Burmese, Tibetan, Dzongkha.
UNSPACED_LANGUAGES: tuple[str, ...] = ("zh", "ja", "th", "lo", "km", "my", "bo", "dz")

# Gopher's stop-word rule: "at least two of the following English words".
GOPHER_STOP_WORDS: dict[str, tuple[str, ...]] = {"en": ("the", "be", "to", "of", "and", "that", "have", "with")}

# Line-start bullets for the bullet-line rule (the paper names none; datatrove checks "•" and "-",
# Dolma "*" and "-").
DEFAULT_BULLETS: tuple[str, ...] = ("•", "‣", "⁃", "◦", "▪", "▫", "●", "○", "■", "□", "►", "▸", "-", "*", "–")


def base_language(lang: str | None) -> str | None:
    """``"zh-Hant"`` / ``"pt_BR"`` / ``"EN"`` -> ``"zh"`` / ``"pt"`` / ``"en"``; empty -> None."""
    if not lang:
        return None
    return re.split(r"[-_]", lang.strip().lower(), maxsplit=1)[0] or None


def is_unspaced(lang: str | None, unspaced: Iterable[str] = UNSPACED_LANGUAGES) -> bool:
    base = base_language(lang)
    return base is not None and base in unspaced


# --- thresholds and decisions (shared by the heuristic stages) --------------------------------------


def _fmt(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1:
        return str(int(value))
    return f"{value:.3f}"


def _compare(value: float, op: str, threshold: float) -> str:
    a, b = _fmt(value), _fmt(threshold)
    if a == b:  # 0.3004 > 0.300 should not read "0.300>0.300"
        a, b = f"{value:.6g}", f"{threshold:.6g}"
    return f"value={a}{op}{b}"


@dataclass(frozen=True)
class Threshold:
    """A rule on one score: reject when ``value < low`` or ``value > high`` (None: that side is off;
    a None value — a score that does not apply to the document — never fires)."""

    reason: str
    column: str
    low: float | None = None
    high: float | None = None

    @property
    def enabled(self) -> bool:
        return self.low is not None or self.high is not None

    def check(self, value: float | None) -> str | None:
        """The detail (``value=0.412>0.300``) when the rule fires, else None."""
        if value is None:
            return None
        if self.low is not None and value < self.low:
            return _compare(value, "<", self.low)
        if self.high is not None and value > self.high:
            return _compare(value, ">", self.high)
        return None


def decide(hits: Sequence[Sequence[tuple[str, str]]], rules: Iterable[str]) -> tuple[list[bool], list[str | None], list[str | None], dict[str, float]]:
    """From each document's fired rules (reason, detail) in rule order: keep mask, the first rule as
    reason and its detail, and ``would_reject_<rule>`` counters over every fired rule (0 for rules
    that fired nowhere)."""
    counters = {f"would_reject_{rule}": 0.0 for rule in rules}
    keep, reasons, details = [], [], []
    for doc_hits in hits:
        for reason, _ in doc_hits:
            counters[f"would_reject_{reason}"] = counters.get(f"would_reject_{reason}", 0.0) + 1.0
        if doc_hits:
            keep.append(False)
            reasons.append(doc_hits[0][0])
            details.append(doc_hits[0][1])
        else:
            keep.append(True)
            reasons.append(None)
            details.append(None)
    return keep, reasons, details, counters


# --- lines and paragraphs ---------------------------------------------------------------------------

_BLANK_LINE_SPLIT = re.compile(r"\n[ \t\r\f\v]*\n")


def lines_of(text: str) -> list[str]:
    """Non-blank lines, stripped."""
    return [s for s in (line.strip() for line in text.split("\n")) if s]


def paragraphs_of(text: str) -> list[str]:
    """Paragraphs (split on blank lines), stripped, empty ones dropped."""
    return [s for s in (p.strip() for p in _BLANK_LINE_SPLIT.split(text)) if s]


def duplicate_fractions(items: Sequence[str], count_first_occurrence: bool = True) -> tuple[float, float]:
    """(share of items that are duplicates, share of the items' characters in duplicates)."""
    if len(items) < 2:
        return 0.0, 0.0
    counts = Counter(items)
    if len(counts) == len(items):
        return 0.0, 0.0
    dup_items = dup_chars = 0
    for item, count in counts.items():
        if count > 1:
            k = count if count_first_occurrence else count - 1
            dup_items += k
            dup_chars += k * len(item)
    total_chars = sum(map(len, items))
    return dup_items / len(items), (dup_chars / total_chars if total_chars else 0.0)


# --- word n-grams -----------------------------------------------------------------------------------

TOP_NGRAM_NS: tuple[int, ...] = (2, 3, 4)
DUP_NGRAM_NS: tuple[int, ...] = (5, 6, 7, 8, 9, 10)


def _covered_chars(lengths: list[int], starts: Iterable[int], n: int) -> int:
    covered = bytearray(len(lengths))
    ones = b"\x01" * n
    for i in starts:
        covered[i:i + n] = ones
    return sum(compress(lengths, covered))


def _has_border(gram: tuple[str, ...]) -> bool:
    """Whether two occurrences of ``gram`` can overlap (a proper prefix equals a suffix)."""
    n = len(gram)
    return any(gram[:k] == gram[n - k:] for k in range(1, n))


def ngram_char_fractions(
    words: Sequence[str],
    top_ns: Sequence[int] = TOP_NGRAM_NS,
    dup_ns: Sequence[int] = DUP_NGRAM_NS,
    count_first_occurrence: bool = True,
) -> tuple[dict[int, float], dict[int, float]]:
    """({n: top n-gram char fraction}, {n: duplicated n-gram char fraction}); see the module doc."""
    top = {n: 0.0 for n in top_ns}
    dup = {n: 0.0 for n in dup_ns}
    n_words = len(words)
    if n_words < 3:  # two occurrences of an n-gram (n >= 2) need 3 words at least
        return top, dup
    lengths = list(map(len, words))
    total = sum(lengths)
    if not total:
        return top, dup
    no_dup_from = None  # smallest n known to have no repeated n-gram: nothing longer repeats either

    for n in sorted(top_ns):
        if no_dup_from is not None and n >= no_dup_from or n_words <= n:
            break
        counts = Counter(zip(*(words[i:] for i in range(n)), strict=False))
        if len(counts) == n_words - n + 1:
            no_dup_from = n
            break
        most = max(counts.values())
        best = max((g for g, c in counts.items() if c == most), key=lambda g: sum(map(len, g)))
        if _has_border(best):
            grams = zip(*(words[i:] for i in range(n)), strict=False)
            covered = _covered_chars(lengths, (i for i, g in enumerate(grams) if g == best), n)
        else:
            covered = most * sum(map(len, best))
        top[n] = covered / total

    starts: list[int] | None = None  # start positions of repeated n-grams at the previous level
    for n in sorted(dup_ns):
        if no_dup_from is not None and n >= no_dup_from or n_words <= n:
            break
        if starts is None:
            positions = range(n_words - n + 1)
            counts = Counter(zip(*(words[i:] for i in range(n)), strict=False))
            if len(counts) == len(positions):
                no_dup_from = n
                break
            grams = list(zip(*(words[i:] for i in range(n)), strict=False))
        else:
            positions = [i for i in starts if i + n <= n_words]
            grams = [tuple(words[i:i + n]) for i in positions]
            counts = Counter(grams)
            if len(counts) == len(grams):
                no_dup_from = n
                break
        starts = [i for i, g in zip(positions, grams, strict=True) if counts[g] > 1]
        if count_first_occurrence:
            cover = starts
        else:
            seen: set = set()
            cover = []
            for i, g in zip(positions, grams, strict=True):
                if counts[g] > 1:
                    if g in seen:
                        cover.append(i)
                    else:
                        seen.add(g)
        dup[n] = _covered_chars(lengths, cover, n) / total
    return top, dup


# --- repetition scores ------------------------------------------------------------------------------

REPETITION_SCORES: tuple[str, ...] = (
    "dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac",
    *(f"top_{n}gram_char_frac" for n in TOP_NGRAM_NS),
    *(f"dup_{n}gram_char_frac" for n in DUP_NGRAM_NS),
)


def repetition_scores(text: str | None, count_first_occurrence: bool = True) -> dict[str, float]:
    """Every Gopher repetition score of ``text`` (names: ``REPETITION_SCORES``), each in [0, 1]."""
    text = text or ""
    line_frac, line_char_frac = duplicate_fractions(lines_of(text), count_first_occurrence)
    para_frac, para_char_frac = duplicate_fractions(paragraphs_of(text), count_first_occurrence)
    top, dup = ngram_char_fractions(text.split(), count_first_occurrence=count_first_occurrence)
    scores = {
        "dup_line_frac": line_frac,
        "dup_para_frac": para_frac,
        "dup_line_char_frac": line_char_frac,
        "dup_para_char_frac": para_char_frac,
    }
    scores.update({f"top_{n}gram_char_frac": v for n, v in top.items()})
    scores.update({f"dup_{n}gram_char_frac": v for n, v in dup.items()})
    return scores


# --- quality scores ---------------------------------------------------------------------------------

# Unicode letters (``str.isalpha``'s alphabet: \w without digits and "_").
_has_letter = re.compile(r"[^\W\d_]").search
_LETTERS = re.compile(r"[^\W\d_]+")
_ASCII_LETTERS = string.ascii_letters.encode("ascii")
_ELLIPSIS_ENDINGS = ("...", "…")


def stop_word_pattern(words: Iterable[str], unspaced: bool = False) -> re.Pattern | None:
    """A regex matching the (lower-cased) stop words: as whole words, or as substrings for a
    language written without spaces. None for an empty list."""
    alternatives = sorted({w.lower() for w in words if w}, key=len, reverse=True)
    if not alternatives:
        return None
    body = "|".join(map(re.escape, alternatives))
    if unspaced:
        return re.compile(f"(?:{body})")
    if all(re.fullmatch(r"\w(?:.*\w)?", w) for w in alternatives):  # \b is faster, and the same here
        return re.compile(rf"\b(?:{body})\b")
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)")


@dataclass
class QualityScores:
    word_count: int
    mean_word_length: float | None  # None for unspaced languages
    hash_word_ratio: float
    ellipsis_word_ratio: float
    bullet_lines_frac: float
    ellipsis_lines_frac: float
    alpha_words_frac: float | None  # None for unspaced languages
    alpha_chars_frac: float
    stop_words: int | None  # None when the language has no stop-word list


def quality_scores(
    text: str | None,
    *,
    unspaced: bool = False,
    stop_words: re.Pattern | None = None,
    distinct_stop_words: bool = False,
    bullets: tuple[str, ...] = DEFAULT_BULLETS,
    chars_per_word: float = 2.0,
) -> QualityScores:
    """Gopher's quality-filter scores of ``text`` (see the module doc). ``stop_words`` is a
    ``stop_word_pattern`` for the document's language, or None when it has no list."""
    text = text or ""
    words = text.split()
    word_chars = sum(map(len, words))
    if unspaced:
        n_words = word_chars / chars_per_word
        mean_word_length = alpha_words_frac = None
    else:
        n_words = len(words)
        mean_word_length = word_chars / n_words if n_words else 0.0
        no_letter = sum(1 for w in words if not (w.isalpha() or _has_letter(w)))
        alpha_words_frac = (n_words - no_letter) / n_words if n_words else 0.0
    hashes = text.count("#")
    ellipses = text.count("...") + text.count("…") - text.count("……")
    lines = lines_of(text)
    n_lines = len(lines)
    bullet_lines = sum(1 for line in lines if line.startswith(bullets))
    ellipsis_lines = sum(1 for line in lines if line.endswith(_ELLIPSIS_ENDINGS))
    if text.isascii():
        letters = len(text) - len(text.encode("ascii").translate(None, _ASCII_LETTERS))
    else:
        letters = len(text) - len(_LETTERS.sub("", text))
    stop = None
    if stop_words is not None:
        found = stop_words.findall(text.lower())
        stop = len(set(found)) if distinct_stop_words else len(found)
    return QualityScores(
        word_count=int(round(n_words)),
        mean_word_length=mean_word_length,
        hash_word_ratio=hashes / n_words if n_words else 0.0,
        ellipsis_word_ratio=ellipses / n_words if n_words else 0.0,
        bullet_lines_frac=bullet_lines / n_lines if n_lines else 0.0,
        ellipsis_lines_frac=ellipsis_lines / n_lines if n_lines else 0.0,
        alpha_words_frac=alpha_words_frac,
        alpha_chars_frac=letters / word_chars if word_chars else 0.0,
        stop_words=stop,
    )
