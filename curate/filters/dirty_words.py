"""Dirty-word counting: how much of a document is words from a list of obscene / adult terms.

The Llama 3 report filters "adult websites that are not covered by domain block lists" by dirty
word counting (after C4, Raffel et al. 2020). C4 drops any page that contains any word of the
"List of Dirty, Naughty, Obscene, and Otherwise Bad Words" (LDNOOBW); curate counts the same
lists per language and decides on the *share* of the text they cover (the stage's thresholds).

Lists: ``curate/data/dirty_words/<code>.txt``, one entry per line (UTF-8, multi-word phrases
kept), copied verbatim from the npm package ``naughty-words`` 1.2.0, which packages LDNOOBW
(CC BY 4.0, Shutterstock and contributors; see ``SOURCE.md`` and ``LICENSE`` there). 27
languages plus a Québécois French list (``fr-CA-u-sd-caqc``, not matched to any language code:
add it with the stage's ``extra_word_lists``). Extra list files have the same format; lines
starting with ``#`` and blank lines are skipped (no shipped entry starts with ``#``).

Normalisation: text and entries are NFKC-normalised and case-folded (``Scheiße`` and
``SCHEISSE`` match ``scheiße``; full-width ``ＳＥＸ`` matches ``sex``; Thai SARA AM and its
decomposed spelling in the list agree), and a space inside an entry matches any run of whitespace
(a phrase broken over a line still matches).

Matching, by the script of each entry (not of the document, so a Latin entry in the Japanese
list still needs word boundaries):

* entries with a character of a script written without spaces (Han, Hiragana, Katakana, Thai,
  Lao, Khmer, Myanmar) match as **substrings**: there are no word boundaries to look for. This
  over-matches inside longer words (the zh list's ``乳`` "milk/breast" is inside ``牛乳``, ``乳腺``);
  the fraction threshold absorbs such one-offs;
* entries with Hangul match at the **start of a word** (Korean attaches particles to the end of
  words: ``섹스를`` is ``섹스`` + object particle);
* all other entries match **whole words**: not preceded or followed by a letter, digit or ``_``
  (``ass`` does not match ``class`` or ``assistant``; no "Scunthorpe problem"). Multi-word
  entries match as phrases.

All entries of a language are compiled into one regular expression factored as a trie (at each
position the engine follows one path of shared prefixes instead of trying 400 literals one by one:
6x faster on the sample corpus, the same matches), and overlapping entries count once, the longest
at the leftmost position winning (``他妈的`` over ``他妈``).

Scores, per document:

* ``count`` — non-overlapping matches;
* ``frac`` — the share of the document's *units* that matches cover. A unit is one character of
  a spaceless script, or a run of other non-whitespace characters: for text without spaceless
  scripts, exactly the whitespace-separated words ``length_filter`` counts (``str.split()``); a
  Chinese or Thai page counts characters (about 1.5 per Chinese word), a Japanese page with
  English words counts both. A match covers the units inside it, at least one (``2 girls 1
  cup``: 4; ``他妈的``: 3; ``asshole`` in ``asshole's``: 1).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LISTS_DIR = Path(__file__).resolve().parents[1] / "data" / "dirty_words"
# Language codes (as language ID writes them) -> the shipped list that covers them.
LIST_ALIASES = {"nb": "no", "nob": "no", "nn": "no", "tl": "fil", "zho": "zh", "cmn": "zh", "eng": "en"}

# Scripts written without spaces (Unicode blocks): Han (with extensions and compatibility
# ideographs), Hiragana, Katakana (with phonetic extensions and half-width forms), the Japanese
# iteration / closing marks, Thai, Lao, Khmer, Myanmar.
_SPACELESS = ("\u3005\u3006\u303b\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
              "\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff\U00020000-\U0003134f")
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_SPACELESS_CHAR = re.compile(f"[{_SPACELESS}]")
_HANGUL_CHAR = re.compile(f"[{_HANGUL}]")
# A unit: one spaceless-script character, or a run of other non-space characters (module doc).
UNIT = re.compile(f"[{_SPACELESS}]|[^\\s{_SPACELESS}]+")


def normalize(text: str) -> str:
    """NFKC + case folding: the form both texts and entries are matched in."""
    return unicodedata.normalize("NFKC", text).casefold()


def count_units(text: str) -> int:
    """Units of ``text`` (module doc); ``str.split()`` is the same count, faster, without spaceless scripts."""
    return len(UNIT.findall(text)) if _SPACELESS_CHAR.search(text) else len(text.split())


def shipped_lists() -> dict[str, Path]:
    """Shipped list name (a language code, or ``fr-CA-u-sd-caqc``) -> its file."""
    return {path.stem: path for path in sorted(LISTS_DIR.glob("*.txt"))}


def list_language(code: str | None) -> str | None:
    """The shipped list a document language code (``en``, ``pt_BR``, ``zh-Hant``, ``nb``) maps to,
    or None when there is none (or the code is empty)."""
    if not code:
        return None
    base = code.replace("-", "_").split("_", 1)[0].lower()
    base = LIST_ALIASES.get(base, base)
    return base if (LISTS_DIR / f"{base}.txt").is_file() else None


def read_word_list(path: str | Path) -> list[str]:
    """Entries of a list file: one per line, blank lines and ``#`` comments skipped, stripped."""
    entries = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            entries.append(entry)
    return entries


def entry_mode(entry: str) -> str:
    """How an (normalised) entry is matched: "substring", "word_start" or "word"."""
    if _SPACELESS_CHAR.search(entry):
        return "substring"
    if _HANGUL_CHAR.search(entry):
        return "word_start"
    return "word"


def _escape(ch: str) -> str:
    return r"\s+" if ch == " " else re.escape(ch)


def trie_pattern(entries: Iterable[str]) -> str:
    """One regular expression matching any of ``entries``, longest first, factored as a trie."""
    root: dict = {}
    for entry in entries:
        node = root
        for ch in entry:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        children = sorted(ch for ch in node if ch)
        if not children:
            return ""
        leaves = [ch for ch in children if set(node[ch]) == {""}]
        branches = [_escape(ch) + emit(node[ch]) for ch in children if ch not in leaves]
        if len(leaves) == 1:
            branches.append(_escape(leaves[0]))
        elif leaves:  # entries are stripped, so a leaf is never a space
            branches.append("[" + "".join(re.escape(ch) for ch in leaves) + "]")
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # an entry ends here: the longer continuations are tried first (greedy)
            return f"(?:{body})?"
        return body

    return emit(root)


@dataclass(frozen=True)
class Hits:
    count: int  # non-overlapping matches
    units: int  # units the matches cover
    total_units: int  # units in the document

    @property
    def frac(self) -> float:
        return self.units / self.total_units if self.total_units else 0.0


class DirtyWordMatcher:
    """Counts the entries of one word list (any mix of scripts) in texts."""

    def __init__(self, entries: Iterable[str]):
        by_mode: dict[str, set[str]] = {"word": set(), "word_start": set(), "substring": set()}
        for entry in entries:
            normalised = " ".join(normalize(entry).split())
            if normalised:
                by_mode[entry_mode(normalised)].add(normalised)
        self.entries = frozenset().union(*by_mode.values())
        parts = []
        if by_mode["word"]:
            parts.append(rf"(?<!\w)(?:{trie_pattern(by_mode['word'])})(?!\w)")
        if by_mode["word_start"]:
            parts.append(rf"(?<!\w)(?:{trie_pattern(by_mode['word_start'])})")
        if by_mode["substring"]:
            parts.append(f"(?:{trie_pattern(by_mode['substring'])})")
        self.pattern = re.compile("|".join(parts)) if parts else None

    def __len__(self) -> int:
        return len(self.entries)

    def matches(self, text: str) -> list[str]:
        """The matched spans of ``text`` (normalised), in order."""
        if self.pattern is None or not text:
            return []
        return [m.group() for m in self.pattern.finditer(normalize(text))]

    def hits(self, text: str) -> Hits:
        if not text:
            return Hits(0, 0, 0)
        normalised = normalize(text)
        total = count_units(normalised)
        if self.pattern is None:
            return Hits(0, 0, total)
        count = units = 0
        for match in self.pattern.finditer(normalised):
            count += 1
            units += max(1, count_units(match.group()))
        return Hits(count, units, total)


def matcher(lists: tuple[str, ...], extra_paths: tuple[str, ...] = ()) -> DirtyWordMatcher:
    """The matcher for shipped lists ``lists`` plus list files ``extra_paths``, once per process."""
    return _cached_matcher(tuple(lists), tuple(extra_paths))


@cache
def _cached_matcher(lists: tuple[str, ...], extra_paths: tuple[str, ...]) -> DirtyWordMatcher:
    shipped = shipped_lists()
    entries: list[str] = []
    for name in lists:
        entries.extend(read_word_list(shipped[name]))
    for path in extra_paths:
        entries.extend(read_word_list(path))
    return DirtyWordMatcher(entries)


def clear_matchers() -> None:
    """Forget the cached matchers (benchmarks measuring a cold worker; list files edited in place)."""
    _cached_matcher.cache_clear()
