"""Token-distribution KL divergence: how far a document's unigram distribution is from its language's.

Llama 3 drops "documents containing excessive numbers of outlier tokens compared to the training
corpus distribution" with a token-distribution KL divergence. Here the reference Q of a language is
wordfreq's unigram frequency list for it (PyPI ``wordfreq`` 3.1.1: code Apache-2.0, data CC BY-SA
4.0, built from Wikipedia, subtitles, news, books, web text and Twitter; only frequencies are read
at run time, nothing of it is copied into the corpus). A document's distribution P is the relative
frequency of its tokens, and

    KL(P || Q) = sum over the document's token types w of P(w) * ln(P(w) / Q(w))     (nats)

computed as ``sum(c * (ln c - ln Q(w))) / n - ln n`` over type counts c (n tokens), in float64.

Tokens, per language (the list's own conventions, so a document's tokens are looked up as the
list was counted):

* languages wordfreq tokenizes with its regex (all but zh, ja, ko): ``wordfreq.tokenize`` — Unicode
  word segmentation, case-folded, the list's normal form (NFC/NFKC), French/Catalan elisions split
  (``l'homme`` -> ``l``, ``homme``), ``don't`` kept whole; multi-digit numbers are smashed as in
  the lists (``2019`` -> ``0000``), so every year or price is one common type, not an outlier;
* zh, ja, ko: wordfreq segments them with jieba / MeCab, optional packages this project does not
  install. They are scored over *characters* instead: each Han, kana or Hangul character is a unit
  (runs of Latin/Cyrillic/Greek letters and digits stay one unit), and the reference is the
  character distribution implied by the word list (each word's frequency spread over its units:
  Q(u) = sum_w f(w) * count(u in w) / sum_w f(w) * units(w)). Chinese is mapped to wordfreq's
  "oversimplified" characters first, as its list is. Scores are deterministic whatever is installed.

The reference keeps the ``top_n`` most frequent types (default 100,000: 99.3% of the English list's
token mass, 97.4% of German, 95.0% of Russian; the character references keep every character, 46k
for Chinese). Q(w) = f(w) / F, with F the list's total mass, so Q sums to <= 1. A type outside the
reference (OOV) gets the *floor*: the smallest frequency the language's list records (1e-8 for
wordfreq's large lists, 1e-6 for its small ones; for character references the rarest character's
probability) — an unlisted token is taken to be at most as common as the rarest listed one. Each
OOV type gets the floor separately (not one shared OOV bucket), so a page of random strings scores
far higher than a page of a few repeated common words: a shared bucket would cap the score of an
all-OOV page at ln(1/OOV mass), about 4 nats, below keyword stuffing. Q is not renormalised over
the document's support: that would make a page of one repeated word score 0. With Q summing to
<= 1 over any support, KL >= 0 (log-sum inequality); it is clamped at 0 against rounding.

What the score measures: KL = cross-entropy(P, Q) - entropy(P). Natural prose has common tokens
and a spread vocabulary; keyword stuffing has few types (low entropy), random strings, mojibake or
encoded data have OOV types (high cross-entropy). Raw KL also falls with length — a text of n
tokens has entropy at most ln n, and a short one cannot spread over Q's types — so each reference
carries a *null curve*: the mean KL of n tokens drawn i.i.d. from Q itself (a kept type with
probability Q(w), else a fresh OOV type), sampled once at n = 8, 16, ..., 262,144 with a fixed seed
and interpolated in ln n (a power law beyond). ``Divergence.excess`` = KL - null(n) is what a
document has beyond what its length alone explains; on real pages it is flat in length where raw KL
is not (``curate.stages.token_distribution`` has the numbers).

Building a reference reads the wordfreq file directly (``read_cBpack``, not wordfreq's cached
dictionary, so only the kept top-N stays in memory) and samples the null curve: 0.4-0.9 s and
~12 MB per language (0.55 s for English); ``reference`` caches each (language, top_n) per process.
Scoring runs at ~4.7 MB/s of text on one core, nine tenths of it ``wordfreq.tokenize``.
"""
from __future__ import annotations

import gzip
import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from functools import cache, lru_cache

import msgpack
import numpy as np
import wordfreq
from langcodes import Language
from wordfreq.numbers import smash_numbers
from wordfreq.preprocess import preprocess_text
from wordfreq.util import data_path

DEFAULT_TOP_N = 100_000
# Languages wordfreq segments with jieba / MeCab: scored over characters here (see the module doc).
CHARACTER_LANGUAGES = frozenset({"zh", "ja", "ko"})
# Language codes (as language ID writes them) -> the wordfreq list that covers them.
WORDLIST_ALIASES = {"no": "nb", "nn": "nb", "nob": "nb", "tl": "fil", "sr": "sh", "hr": "sh", "bs": "sh",
                    "hbs": "sh", "iw": "he", "in": "id", "zho": "zh", "cmn": "zh", "eng": "en"}
# The null curve: document sizes it is sampled at (8 .. 262,144 tokens), and how much sampling.
NULL_SIZES = tuple(2**k for k in range(3, 19))
_NULL_LOG_SIZES = tuple(math.log(n) for n in NULL_SIZES)
NULL_SAMPLE_TOKENS = 1 << 18  # tokens sampled per size (as repeats of n tokens) ...
NULL_MIN_REPEATS = 4  # ... and never fewer repeats than this
NULL_SEED = 20240731
_LN10 = math.log(10.0)
_DIGIT = re.compile(r"\d")
# Character units: a run of alphabetic-script letters or digits (Latin, Greek, Cyrillic, ...) is
# one unit, any other word character (Han, kana, Hangul) is a unit by itself.
_ALPHABETIC_RUN = r"[0-9A-Za-z\u00C0-\u024F\u1E00-\u1EFF\u0370-\u03FF\u0400-\u052F\uFF10-\uFF19\uFF21-\uFF3A\uFF41-\uFF5A]+"
_CHARACTER_UNIT = re.compile(rf"{_ALPHABETIC_RUN}|[^\W_]")


@lru_cache(maxsize=1)
def wordlists() -> dict[str, str]:
    """wordfreq's languages -> the file of its best (largest) list."""
    return dict(wordfreq.available_languages("best"))


def reference_language(code: str | None) -> str | None:
    """The wordfreq list a document language code (``en``, ``pt_BR``, ``zh-Hant``, ``no``) is scored
    against, or None when wordfreq has none (or the code is empty / ``und``)."""
    if not code:
        return None
    base = code.replace("-", "_").split("_", 1)[0].lower()
    base = WORDLIST_ALIASES.get(base, base)
    return base if base in wordlists() else None


@lru_cache(maxsize=1)
def _simplified_chinese() -> dict:
    # wordfreq.chinese imports jieba at import time; its mapping file is all this needs.
    with gzip.open(data_path("_chinese_mapping.msgpack.gz"), "rb") as handle:
        return msgpack.load(handle, raw=False, strict_map_key=False)


def _smash(token: str) -> str:
    return smash_numbers(token) if _DIGIT.search(token) else token


def _character_units(normalised: str) -> list[str]:
    return [_smash(unit) for unit in _CHARACTER_UNIT.findall(normalised)]


def tokenize(text: str, language: str) -> list[str]:
    """The tokens of ``text`` as the reference of ``language`` (a wordfreq list code) counts them."""
    if language in CHARACTER_LANGUAGES:
        text = preprocess_text(text, Language.get(language))
        if language == "zh":
            text = text.translate(_simplified_chinese())
        return _character_units(text)
    return [_smash(token) for token in wordfreq.tokenize(text, language)]


@dataclass(frozen=True)
class Reference:
    """A language's reference distribution: ln Q per kept type, and ln of the OOV floor."""

    language: str
    units: str  # "words" | "characters"
    log_q: dict[str, float]
    log_floor: float
    mass: float  # the share of the list's token mass the kept types carry
    # E[KL] of an n-token sample drawn from this reference, at n = NULL_SIZES (see expected_kl).
    null_kl: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.log_q)

    def expected_kl(self, n: int) -> float:
        """The KL an n-token document drawn from Q itself would have on average (interpolated in
        ln n between NULL_SIZES; a power law through the last two sizes beyond them)."""
        if n <= 0 or not self.null_kl:
            return 0.0
        x = math.log(n)
        if n <= NULL_SIZES[-1]:
            return float(np.interp(x, _NULL_LOG_SIZES, self.null_kl))
        (x0, x1), (y0, y1) = _NULL_LOG_SIZES[-2:], self.null_kl[-2:]
        slope = (math.log(y1) - math.log(y0)) / (x1 - x0)
        return math.exp(math.log(y1) + slope * (x - x1))


def build_reference(language: str, top_n: int = DEFAULT_TOP_N) -> Reference:
    """The reference of a wordfreq language code (see ``reference_language``), with its null curve."""
    buckets = wordfreq.read_cBpack(wordlists()[language])  # bucket i holds the words of frequency 10^(-i/100)
    if language in CHARACTER_LANGUAGES:
        ref = _character_reference(language, buckets, top_n)
    else:
        ref = _word_reference(language, buckets, top_n)
    return replace(ref, null_kl=null_curve(ref))


def _word_reference(language: str, buckets: list[list[str]], top_n: int) -> Reference:
    total = sum(len(words) * 10.0 ** (-i / 100) for i, words in enumerate(buckets))
    log_total = math.log(total)
    log_q: dict[str, float] = {}
    kept_mass = 0.0
    lowest = 0
    for i, words in enumerate(buckets):
        if words:
            lowest = i
        if len(log_q) >= top_n:
            continue
        log_f = -i / 100 * _LN10
        for word in words[: top_n - len(log_q)]:
            log_q[word] = log_f - log_total
            kept_mass += math.exp(log_f)
    return Reference(language, "words", log_q, -lowest / 100 * _LN10 - log_total, kept_mass / total)


def _character_reference(language: str, buckets: list[list[str]], top_n: int) -> Reference:
    mass: Counter = Counter()
    total = 0.0
    for i, words in enumerate(buckets):
        f = 10.0 ** (-i / 100)
        for word in words:
            units = _character_units(word)  # list entries are already normalised
            for unit in units:
                mass[unit] += f
            total += f * len(units)
    kept = mass.most_common(top_n)
    log_q = {unit: math.log(m / total) for unit, m in kept}
    floor = min(log_q.values())
    return Reference(language, "characters", log_q, floor, sum(m for _, m in kept) / total)


def null_curve(ref: Reference, sizes: tuple[int, ...] | None = None) -> tuple[float, ...]:
    """Mean KL of documents of n tokens sampled i.i.d. from ``ref`` (a kept type with probability
    Q(w), else a new OOV type), for n in ``sizes`` (NULL_SIZES): Monte Carlo with a fixed seed, so
    the curve, like every score, is the same in every worker and run."""
    sizes = NULL_SIZES if sizes is None else sizes
    log_q = np.fromiter(ref.log_q.values(), dtype=np.float64, count=len(ref.log_q))
    q = np.exp(log_q)
    in_vocabulary = float(min(q.sum(), 1.0))
    cdf = np.cumsum(q) / q.sum()
    rng = np.random.default_rng(NULL_SEED)
    curve = []
    for n in sizes:
        reps = max(NULL_MIN_REPEATS, NULL_SAMPLE_TOKENS // n)
        draws = rng.random((reps, n))
        oov = (rng.random((reps, n)) >= in_vocabulary).sum(axis=1)
        types = np.searchsorted(cdf, draws, side="right").clip(max=len(q) - 1)
        # Count each (repeat, type) pair at once; OOV draws are masked out as type -1.
        types[np.arange(n)[None, :] >= (n - oov)[:, None]] = -1
        keys = (np.arange(reps)[:, None] * (len(q) + 1) + types + 1).ravel()
        unique, counts = np.unique(keys, return_counts=True)
        row, kind = unique // (len(q) + 1), unique % (len(q) + 1) - 1
        counts = counts.astype(np.float64)
        listed = kind >= 0
        cross = np.bincount(row[listed], weights=counts[listed] * (np.log(counts[listed]) - log_q[kind[listed]]),
                            minlength=reps) - oov * ref.log_floor
        curve.append(float(np.maximum(0.0, cross / n - math.log(n)).mean()))
    return tuple(curve)


def reference(language: str, top_n: int = DEFAULT_TOP_N) -> Reference:
    """``build_reference``, once per process for each (language, top_n)."""
    return _cached_reference(language, top_n)


@cache
def _cached_reference(language: str, top_n: int) -> Reference:
    return build_reference(language, top_n)


def clear_references() -> None:
    """Forget the cached references (benchmarks measuring a cold worker)."""
    _cached_reference.cache_clear()


@dataclass(frozen=True)
class Divergence:
    kl: float  # nats
    tokens: int
    oov_tokens: int
    expected: float  # the null curve at this length: E[KL] of a same-length sample of Q

    @property
    def excess(self) -> float:
        """KL above what a document of this length drawn from the reference itself would have."""
        return self.kl - self.expected

    @property
    def oov_frac(self) -> float:
        return self.oov_tokens / self.tokens if self.tokens else 0.0


def divergence(tokens: list[str], ref: Reference) -> Divergence | None:
    """KL(P || Q) of a token list against ``ref``; None for no tokens."""
    n = len(tokens)
    if not n:
        return None
    log_q, floor = ref.log_q, ref.log_floor
    cross = 0.0  # sum of c * (ln c - ln Q(w))
    oov = 0
    for token, count in Counter(tokens).items():
        lq = log_q.get(token)
        if lq is None:
            lq = floor
            oov += count
        cross += count * (math.log(count) - lq)
    return Divergence(max(0.0, cross / n - math.log(n)), n, oov, ref.expected_kl(n))


def token_kl(text: str, language: str, top_n: int = DEFAULT_TOP_N) -> Divergence | None:
    """KL divergence of ``text`` against the reference of a wordfreq ``language``; None for no tokens."""
    return divergence(tokenize(text, language), reference(language, top_n))
