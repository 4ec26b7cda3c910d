"""C4's cleaning heuristics (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a
Unified Text-to-Text Transformer", JMLR 21, section 2.2) as a pure function of a text.

The paper's rules, with the numbers of its reference implementation (TensorFlow Datasets
``tensorflow_datasets/text/c4_utils.py``: ``_MIN_WORDS_PER_LINE = 5``, ``_MIN_NUM_SENTENCES = 3``,
``_MAX_WORD_LENGTH = 1000``, ``_END_MARKS = (".", "?", "!", '"')``, ``_ELLIPSIS = "..."`` and the
six policy substrings; the paper: "We discarded any page with fewer than 3 sentences and only
retained lines that contained at least 5 words"; datatrove's ``C4QualityFilter`` defaults to the
swapped 5 sentences / 3 words, after Dodge et al. 2021):

line rules (a line failing one is removed, in this order, as ``clean_page`` does):

1. ``long_word``: a word longer than ``max_word_length`` characters (TFDS only; not applied to
   languages written without spaces, whose lines are one "word");
2. citation markers ``[1]``, ``[edit]``, ``[citation needed]`` are removed from every line first
   (an edit, not a removal; the line is then right-stripped, so "end. [1]" ends in "." — TFDS
   does not re-strip);
3. ``no_terminal_punct``: the line does not end in a terminal mark (``terminal_punctuation``:
   TFDS's four, closing quotes ” » 」 』, CJK 。 ！ ？ ．, and । ॥ ؟ ۔ ။ ។ ።), or ends in an
   ellipsis ("..." or "…"). Thai and Lao end sentences with a space, so C4's rule removes their
   lines: switch it off for them;
4. ``too_few_words``: fewer than ``min_words_per_line`` words (whitespace tokens; for languages
   written without spaces, non-whitespace characters / ``chars_per_word``);
5. ``javascript``: the line contains "javascript" (any case);
6. ``policy``: the line contains one of the policy phrases (any case).

document rules (the page is rejected):

* ``lorem_ipsum``: "lorem ipsum" (any case) appears, or a line of placeholder text does (curate's
  addition: ``lorem_min_words`` or more words, at least ``lorem_vocabulary_frac`` of them in the
  lorem-ipsum vocabulary, see ``lorem_vocabulary``; placeholder text without the phrase is labelled
  Latin by language ID, where no stop-word rule applies); ``curly_brace``: "{" appears. The paper says
  "any page that contained"; TFDS checks only the lines that survive the line rules (a "{" on a
  code line without terminal punctuation removes that line, not the page). ``scope="page"``
  follows the paper, ``"kept_lines"`` approximates TFDS.
* ``emptied``: no line survives the line rules; ``too_few_sentences``: fewer than
  ``min_sentences`` sentences in the surviving lines. A sentence is counted as in TFDS on each
  surviving line (TFDS uses NLTK's punkt; here: runs of . ! ? ؟ followed by optional closing quotes
  or brackets and then whitespace or the line's end, and 。！？।॥۔။។። anywhere; every non-empty line is at
  least one sentence, as punkt returns one for any text). Abbreviations ("e.g. ", "Mr. ") are
  counted as sentence ends, so the count is a little above punkt's.

The scores and the decision are the same whether or not the text is edited (``edit_lines``): the
sentence count is always that of the surviving lines, so editing only changes the text. Blank
lines are not lines: they are kept as single paragraph separators between surviving lines. A text
the line rules leave untouched is returned as the same string.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
# TFDS's end marks, then closing quotes (” » 」 』), CJK full stops and marks (。 ！ ？ ．), and the
# sentence ends of other scripts (Devanagari । ॥, Arabic ؟, Urdu ۔, Burmese ။, Khmer ។, Ethiopic ።).
TERMINAL_PUNCTUATION: tuple[str, ...] = (
    ".", "!", "?", '"', "\u201d", "\u00bb", "\u300d", "\u300f", "\u3002", "\uff01", "\uff1f", "\uff0e",
    "\u0964", "\u0965", "\u061f", "\u06d4", "\u104b", "\u17d4", "\u1362",
)
ELLIPSES: tuple[str, ...] = ("...", "…")
POLICY_PHRASES: tuple[str, ...] = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
_SENTENCE_END = re.compile(r"[.!?\u061f]+[\"'\u201d\u2019\u00bb)\]]*(?=\s|$)|[\u3002\uff01\uff1f\u0964\u0965\u06d4\u104b\u17d4\u1362]+")

LINE_RULES: tuple[str, ...] = ("long_word", "no_terminal_punct", "too_few_words", "javascript", "policy")


def count_sentences(line: str) -> int:
    """Sentences in one line (>= 1 for a non-blank line); see the module doc."""
    if not line.strip():
        return 0
    return max(1, len(_SENTENCE_END.findall(line)))


@dataclass(frozen=True)
class C4Rules:
    """Which line rules run and with what settings (the document rules are the stage's)."""

    remove_citations: bool = True
    max_word_length: int | None = 1000
    require_terminal_punct: bool = True
    terminal_punctuation: tuple[str, ...] = TERMINAL_PUNCTUATION
    min_words_per_line: int = 5
    remove_javascript_lines: bool = True
    remove_policy_lines: bool = True
    policy_phrases: tuple[str, ...] = POLICY_PHRASES
    scope: str = "page"  # where lorem ipsum / "{" are looked for: "page" or "kept_lines"
    chars_per_word: float = 2.0
    lorem_vocabulary_frac: float | None = 0.8  # a line this much lorem-ipsum vocabulary is placeholder text (None: off)
    lorem_min_words: int = 8  # ... when it has at least this many words


@dataclass
class C4Result:
    text: str  # the text with failing lines removed (and citations removed from the rest)
    lines: int  # non-blank lines in the input
    lines_removed: int  # non-blank lines the line rules remove
    removed_by: dict[str, int] = field(default_factory=dict)  # line rule (first that fired) -> lines
    citations_removed: int = 0
    no_terminal_punct_lines: int = 0  # lines without terminal punctuation (all lines, any rule)
    short_lines: int = 0  # lines under min_words_per_line
    javascript_lines: int = 0  # lines containing "javascript"
    policy_lines: int = 0  # lines containing a policy phrase
    sentences: int = 0  # sentences in the surviving lines
    lorem_ipsum: bool = False  # in the scope the rules say: the phrase, or a placeholder-text line
    lorem_phrase: bool = False  # "lorem ipsum" itself
    lorem_line: tuple[float, int] | None = None  # (vocabulary share, words) of the first placeholder-text line
    curly_brace: bool = False

    @property
    def no_terminal_punct_frac(self) -> float:
        return self.no_terminal_punct_lines / self.lines if self.lines else 0.0


# Placeholder text that does not say "lorem ipsum": generators draw their words from Cicero's
# de Finibus passage (the classic text below) or from a fixed list of ~180 Latin words (Faker's "la"
# provider, a curate dependency). Real Latin shares its common words (et, in, est, non, sed...):
# on 6-sentence documents of lingua's Latin sentences at most 29 % of the words are in this
# vocabulary, 46 % on a single sentence of 8+ words, 40 % on a line of the Latin UDHR; generated
# placeholder lines are 100 %. Language ID labels such text Latin, so no stop-word rule catches it.
# Lines are split on whitespace whatever the page's language (a Latin line on a Japanese page counts).
_CLASSIC_LOREM = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo consequat "
    "duis aute irure in reprehenderit voluptate velit esse cillum eu fugiat nulla pariatur excepteur sint occaecat "
    "cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum")
_WORD_EDGES = ".,;:!?\"'()[]«»“”"


@functools.cache
def lorem_vocabulary() -> frozenset[str]:
    from faker.providers.lorem.la import Provider

    return frozenset(_CLASSIC_LOREM.split()) | frozenset(w.lower() for w in Provider.word_list)


def lorem_share(lower_line: str, min_words: int) -> tuple[float, int] | None:
    """(share of the words in the lorem-ipsum vocabulary, words) of a lower-cased line of at least
    ``min_words`` words; None for a shorter line."""
    words = lower_line.split()
    if len(words) < min_words:
        return None
    vocabulary = lorem_vocabulary()
    return sum(w.strip(_WORD_EDGES) in vocabulary for w in words) / len(words), len(words)


def c4_clean(text: str | None, rules: C4Rules = C4Rules(), unspaced: bool = False) -> C4Result:
    """Apply C4's line rules to ``text`` and measure what the document rules need."""
    text = text or ""
    removed_by = dict.fromkeys(LINE_RULES, 0)
    out: list[str] = []
    pending_blank = edited = False
    lines = removed = citations = no_term = short = js = policy = sentences = 0
    kept_lorem = kept_curly = False
    lorem_line = kept_lorem_line = None
    check_lorem = rules.lorem_vocabulary_frac is not None
    min_chars = rules.min_words_per_line * rules.chars_per_word
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            pending_blank = bool(out)
            continue
        lines += 1
        if rules.remove_citations and "[" in line:
            cleaned, n = CITATION.subn("", line)
            if n:
                citations += n
                line = cleaned.rstrip()
                raw = line
                edited = True
        lower = line.lower()
        long_word = (not unspaced and rules.max_word_length is not None
                     and len(line) > rules.max_word_length and max(map(len, line.split() or [""])) > rules.max_word_length)
        no_terminal = not line.endswith(rules.terminal_punctuation) or line.endswith(ELLIPSES)
        if unspaced:
            too_short = len(line) - line.count(" ") < min_chars
        else:
            too_short = len(line.split()) < rules.min_words_per_line
        placeholder = None
        if check_lorem and (lorem_line is None or kept_lorem_line is None):
            share = lorem_share(lower, rules.lorem_min_words)
            if share is not None and share[0] >= rules.lorem_vocabulary_frac:
                placeholder = share
                lorem_line = lorem_line or share
        has_js = "javascript" in lower
        has_policy = any(p in lower for p in rules.policy_phrases)
        no_term += no_terminal
        short += too_short
        js += has_js
        policy += has_policy
        fired = None
        if long_word:
            fired = "long_word"
        elif rules.require_terminal_punct and no_terminal:
            fired = "no_terminal_punct"
        elif rules.min_words_per_line and too_short:
            fired = "too_few_words"
        elif rules.remove_javascript_lines and has_js:
            fired = "javascript"
        elif rules.remove_policy_lines and has_policy:
            fired = "policy"
        if fired is not None:
            removed += 1
            removed_by[fired] += 1
            continue
        sentences += count_sentences(line)
        kept_lorem = kept_lorem or "lorem ipsum" in lower
        kept_lorem_line = kept_lorem_line or placeholder
        kept_curly = kept_curly or "{" in line
        if pending_blank:
            out.append("")
            pending_blank = False
        out.append(raw)
    if rules.scope == "page":
        lorem, curly = "lorem ipsum" in text.lower(), "{" in text
    else:
        lorem, curly, lorem_line = kept_lorem, kept_curly, kept_lorem_line
    new_text = "\n".join(out) if (removed or edited) else text
    return C4Result(
        text=new_text, lines=lines, lines_removed=removed, removed_by=removed_by, citations_removed=citations,
        no_terminal_punct_lines=no_term, short_lines=short, javascript_lines=js, policy_lines=policy,
        sentences=sentences, lorem_ipsum=lorem or lorem_line is not None, lorem_phrase=lorem, lorem_line=lorem_line,
        curly_brace=curly,
    )
