"""The default sample corpus: a seeded synthetic web crawl in WARC files, with a ground-truth sidecar.

``generate_sample_corpus(out_dir, seed=0, pages=3000, pages_per_warc=500)`` writes::

    out_dir/warc/sample-00000.warc.gz ...   warcinfo, then request + response per page (gzip per record)
    out_dir/ground_truth.jsonl              one line per response record: what was planted in it
    out_dir/README.md                       how it was generated, with the counts

Pages are full HTML documents (head, navigation, header, sidebar, cookie banner, footer) around
an article in one of eleven languages; categories are general articles, news, code tutorials,
math notes, spam, boilerplate-only pages, very short pages and non-HTML responses. Planted on
top: exact duplicates on other sites, near-duplicate clusters with a measured word 5-gram
Jaccard, re-fetches of a URL (also under spellings that normalise alike), lines repeated across
many pages, fake PII (emails, phones, IPs, cards, IBANs, SSNs, API keys) and quality defects.
``ground_truth.jsonl`` records all of it plus the gold main text, so every stage can be scored.

All text is made here: hand-written grammars and word lists (``data/sample_lexicon.json``), code
and formula templates (``data/sample_snippets.txt``) and Faker for names, places and PII values.
Same seed and sizes => byte-identical files (with the same Faker, warcio and zlib versions).

Ids: a reader run on ``out_dir/warc`` (what ``curate run`` does with the sample) names each
document ``document_id(source, offset)`` with ``source`` the file's path relative to ``warc/``
(``sample-00000.warc.gz``) and ``offset`` the byte offset of the response record's gzip member.
The ground truth stores ``source``, ``offset`` and that ``id`` (and ``file``, the path relative to
``out_dir``), so it joins with the readers' output directly.

Ground-truth fields (one JSON object per response record, in file order):

* ``id``, ``source``, ``offset``, ``file``, ``warc_record_id``, ``url``, ``fetch_time`` (WARC-Date),
  ``content_type`` (media type), ``charset`` (the page's declared charset; None for binaries);
* ``language`` (ISO 639-1; None for non-HTML), ``category`` (CATEGORY_NAMES), ``topic`` (English
  general/news/short pages: one of twelve topics; code -> technology, math -> science), ``title``;
* ``exact_dup_of``: the original's id for a copy of its text on another site, else None;
* ``near_dup_cluster``: the cluster's id (= its original's id) for every member, the original
  included; ``near_dup_of`` (copies: the original), ``near_dup_edit_fraction`` (words edited:
  swaps, insertions, deletions; 0.0 for the original) and ``near_dup_jaccard`` (word 5-gram
  shingle Jaccard of the main texts vs the original, as ``jaccard()``; 1.0 for the original);
* ``url_refetch_of``: the first fetch's id for a later fetch of the same URL (or a spelling of it
  that URL normalisation folds back), slightly changed, else None;
* ``planted_pii``: [{type, value}] with types PII_TYPES, each value verbatim in the page;
* ``planted_lines``: lines from the repeated-line pool placed in the main text;
* ``defects``: DEFECTS planted (thin pages carry ``short`` / ``boilerplate_heavy``);
* ``words`` (whitespace words of the main text) and ``main_text``: the gold text of the article
  body, one line per paragraph, heading, list item, code block (verbatim) or display formula (its
  TeX); None for non-HTML.

A source original is copied one way only, so exact, near and re-fetch families never overlap, and
no two pages from different families share a text, a normalised URL or 5-gram Jaccard >= 0.5.
"""
from __future__ import annotations

import datetime as dt
import html as _html
import io
import ipaddress
import json
import math
import random
import re
import struct
import unicodedata
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from faker import Faker
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from curate.schema import document_id

DATA_DIR = Path(__file__).with_name("data")
LEXICON_PATH = DATA_DIR / "sample_lexicon.json"
SNIPPETS_PATH = DATA_DIR / "sample_snippets.txt"

START = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=dt.UTC)

# ~20% of pages are not English.
LANGUAGES = [("en", 0.80), ("de", 0.035), ("fr", 0.03), ("es", 0.03), ("it", 0.02), ("pt", 0.02), ("nl", 0.015),
             ("pl", 0.015), ("ru", 0.015), ("ja", 0.01), ("zh", 0.01)]
EN_CATEGORIES = [("general", 0.47), ("news", 0.15), ("code", 0.10), ("math", 0.07), ("spam", 0.07),
                 ("boilerplate_only", 0.05), ("short", 0.05)]
OTHER_CATEGORIES = [("general", 0.60), ("news", 0.25), ("boilerplate_only", 0.08), ("short", 0.07)]
CATEGORY_NAMES = ("general", "news", "code", "math", "spam", "boilerplate_only", "short", "non_html")
NON_HTML_RATE = 0.03
EXACT_RATE, NEAR_RATE, REFETCH_RATE = 0.05, 0.05, 0.03
PII_RATE = 0.15
POOL_LINE_RATE = 0.30
NEAR_EDIT_FRACTIONS = (0.005, 0.01, 0.02, 0.05, 0.1)
NEAR_EDIT_WEIGHTS = (2, 3, 3, 2, 1)
SHINGLE_WORDS = 5  # as curate.dedup.minhash: lower-cased whitespace words, 5-grams
PII_TYPES = ("email", "phone", "ipv4", "ipv6", "card", "iban", "ssn", "secret")
DEFECTS = ("repeated_lines", "dirty_words", "keyword_stuffing", "lorem_ipsum", "short", "no_punctuation",
           "javascript_lines", "symbol_heavy", "boilerplate_heavy")
CJK = ("ja", "zh")
# Some pages are served in a legacy charset (declared in the header and the page); the
# decoding check uses the superset a browser (and curate's extractor) decodes that label with.
LEGACY_CHARSETS = {
    "en": [("iso-8859-1", 0.03)], "de": [("windows-1252", 0.1), ("iso-8859-1", 0.1)],
    "fr": [("windows-1252", 0.1), ("iso-8859-1", 0.1)], "es": [("windows-1252", 0.1), ("iso-8859-1", 0.1)],
    "it": [("windows-1252", 0.1), ("iso-8859-1", 0.1)], "pt": [("windows-1252", 0.1), ("iso-8859-1", 0.1)],
    "nl": [("windows-1252", 0.1), ("iso-8859-1", 0.1)], "pl": [("iso-8859-2", 0.2)],
    "ru": [("windows-1251", 0.3), ("koi8-r", 0.05)], "ja": [("shift_jis", 0.25), ("euc-jp", 0.05)],
    "zh": [("gbk", 0.25), ("gb18030", 0.05)],
}
_DECODE_AS = {"iso-8859-1": "cp1252", "shift_jis": "cp932", "gbk": "gb18030"}
DATE_FORMATS = {"en": "{month} {day}, {year}", "de": "{day}. {month} {year}", "fr": "{day} {month} {year}",
                "es": "{day} de {month} de {year}", "it": "{day} {month} {year}", "pt": "{day} de {month} de {year}",
                "nl": "{day} {month} {year}", "pl": "{day} {month} {year}", "ru": "{day} {month} {year} г.",
                "ja": "{year}年{mnum}月{day}日", "zh": "{year}年{mnum}月{day}日"}
PHONE_FORMATS = {
    "en": ["+1 {3}-{3}-{4}", "+1 ({3}) {3}-{4}", "+44 20 {4} {4}", "+44 7{3} {6}", "+61 2 {4} {4}"],
    "de": ["+49 30 {8}", "+49 (0)89 {7}", "+49 151 {8}"], "fr": ["+33 1 {2} {2} {2} {2}", "+33 6 {2} {2} {2} {2}"],
    "es": ["+34 91{1} {3} {3}", "+34 6{2} {3} {3}"], "it": ["+39 06 {4} {4}", "+39 3{2} {3} {4}"],
    "pt": ["+351 21 {3} {4}", "+351 91{1} {3} {3}"], "nl": ["+31 20 {3} {4}", "+31 6 {8}"],
    "pl": ["+48 22 {3} {2} {2}", "+48 5{2} {3} {3}"], "ru": ["+7 495 {3}-{2}-{2}", "+7 9{2} {3}-{2}-{2}"],
    "ja": ["+81 3-{4}-{4}", "+81 90-{4}-{4}"], "zh": ["+86 10 {4} {4}", "+86 13{1} {4} {4}"],
}
SERVERS = ["nginx", "nginx/1.24.0", "Apache/2.4.57 (Debian)", "cloudflare", "Microsoft-IIS/10.0", "LiteSpeed",
           "openresty", "Apache"]
USER_AGENT = "Mozilla/5.0 (compatible; CurateSampleBot/1.0; +https://example.org/curate-sample-bot)"
_SYMBOL = re.compile(r"<([A-Za-z][A-Za-z0-9_]*)>")
_PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9]*)@")
_SMALL_WORDS = {"a", "an", "the", "and", "or", "of", "in", "on", "at", "to", "for", "with", "by", "from", "but"}
_AN_EXCEPTIONS = ("uni", "use", "usu", "one", "once", "eu", "ur")


@dataclass
class SampleCorpus:
    """What ``generate_sample_corpus`` wrote: paths and counts."""

    root: Path
    warc_files: list[Path]
    ground_truth: Path
    readme: Path
    seed: int
    records: int  # response records = documents the readers see (HTML and non-HTML)
    categories: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)  # exact_dup / near_dup / url_refetch copies
    pii_documents: int = 0
    defects: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return {**self.categories, **self.duplicates}

    def __str__(self) -> str:
        cats = ", ".join(f"{k}={v}" for k, v in self.categories.items())
        dups = ", ".join(f"{k}={v}" for k, v in self.duplicates.items())
        return (f"{self.records} records in {len(self.warc_files)} WARC files (seed {self.seed}); {cats}; {dups}; "
                f"non-English={sum(v for k, v in self.languages.items() if k not in ('en', 'none'))}; pii_documents={self.pii_documents}")


def read_ground_truth(root: Path) -> list[dict]:
    """The ground-truth rows of a generated corpus, in file order."""
    path = Path(root) / "ground_truth.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def word_shingles(text: str, n: int = SHINGLE_WORDS) -> set[str]:
    """Lower-cased whitespace-word n-grams (a text of <= n words is one shingle), as the dedup stages use."""
    words = text.lower().split()
    if len(words) <= n:
        return {" ".join(words)}
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: str, b: str, n: int = SHINGLE_WORDS) -> float:
    sa, sb = word_shingles(a, n), word_shingles(b, n)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


# --- data -------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _lexicon() -> dict:
    return json.loads(LEXICON_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _snippets() -> dict[str, list]:
    """{"code": [(language, name, text)], "math": [(name, tex, mathml)], "inline": [tex]}."""
    out: dict[str, list] = {"code": [], "math": [], "inline": []}
    header, body = None, []

    def flush():
        if header is None:
            return
        kind, lang, name = (header.split() + ["", ""])[:3]
        text = "\n".join(body).strip("\n") + "\n"
        if kind == "code":
            out["code"].append((lang, name, text))
        elif kind == "math":
            fields = dict(line.split(": ", 1) for line in body if line.strip())
            out["math"].append((name, fields["tex"], fields["mml"]))
        elif kind == "inline":
            out["inline"].extend(line for line in body if line.strip())

    for line in SNIPPETS_PATH.read_text(encoding="utf-8").splitlines():
        if line.startswith("=== "):
            flush()
            header, body = line[4:], []
        elif header is not None:
            body.append(line)
    flush()
    return out


def _plural(noun: str) -> str:
    if "|" in noun:
        return noun.split("|", 1)[1]
    head, _, last = noun.rpartition(" ")
    if re.search(r"[^aeiou]y$", last):
        last = last[:-1] + "ies"
    elif re.search(r"(s|x|z|ch|sh)$", last):
        last += "es"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def _singular(noun: str) -> str:
    return noun.split("|", 1)[0]


def _verb_forms(entry: str) -> tuple[str, str, str]:
    """(base, third person singular, past) of an English verb "base" or "base|past"."""
    base, _, past = entry.partition("|")
    if re.search(r"(s|x|z|ch|sh|o)$", base):
        third = base + "es"
    elif re.search(r"[^aeiou]y$", base):
        third = base[:-1] + "ies"
    else:
        third = base + "s"
    if not past:
        if base.endswith("e"):
            past = base + "d"
        elif re.search(r"[^aeiou]y$", base):
            past = base[:-1] + "ied"
        else:
            past = base + "ed"
    return base, third, past


def _fix_articles(text: str) -> str:
    def repl(m: re.Match) -> str:
        word = m.group(2)
        lower = word.lower()
        if lower.startswith(_AN_EXCEPTIONS):
            return m.group(0)
        return f"{m.group(1)}n {word}"

    text = re.sub(r"\b([Aa]) ([aeiouAEIOU]\w*)", repl, text)
    return re.sub(r"\b([Aa]) (hour|honest)", r"\1n \2", text)


def _capitalize(text: str) -> str:
    """Upper-case the first letter, past leading quotes; a sentence starting with a number stays as is."""
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1:]
        if ch.isdigit():
            break
    return text


def _title_case(text: str) -> str:
    words = text.split(" ")
    out = []
    for i, w in enumerate(words):
        out.append(w if (i and w in _SMALL_WORDS) or not w[:1].isalpha() else w[:1].upper() + w[1:])
    return " ".join(out)


def _slug(text: str, limit: int = 60) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0]
    return slug


def _esc(text: str) -> str:
    return _html.escape(text, quote=False)


def _attr(text: str) -> str:
    return _html.escape(text, quote=True)


# --- text ---------------------------------------------------------------------------------------


class _Grammar:
    """Expands ``<SYMBOL>`` references: rules from the lexicon, dynamic symbols from callables."""

    def __init__(self, rules: dict[str, list[str]], rng: random.Random, dynamic: dict):
        self.random = rng.random
        self.dynamic = dynamic
        self.rules = {name: [tuple(_SYMBOL.split(alt)) for alt in alts] for name, alts in rules.items()}
        for name, alts in self.rules.items():
            for parts in alts:
                for sym in parts[1::2]:
                    if sym not in self.rules and sym not in dynamic:
                        raise KeyError(f"sample lexicon: <{sym}> (used by {name}) is not defined")

    def __call__(self, symbol: str) -> str:
        fn = self.dynamic.get(symbol)
        if fn is not None:
            return fn()
        alts = self.rules[symbol]
        parts = alts[int(self.random() * len(alts))]
        if len(parts) == 1:
            return parts[0]
        out = [parts[0]]
        for i in range(1, len(parts), 2):  # literal, symbol, literal, ...
            out.append(self(parts[i]))
            out.append(parts[i + 1])
        return "".join(out)


@dataclass
class _Block:
    kind: str  # p | h2 | ul | pre | math
    text: str = ""  # p/h2: the text; pre: the code; math: the TeX
    items: list[str] = field(default_factory=list)  # ul
    extra: str = ""  # pre: language; math: MathML body
    linkable: bool = True  # p: ordinary prose (may get an inline link, a PII sentence, a re-fetch edit)

    def lines(self) -> list[str]:
        return list(self.items) if self.kind == "ul" else [self.text]

    def copy(self) -> _Block:
        return _Block(self.kind, self.text, list(self.items), self.extra, self.linkable)


def _main_text(blocks: list[_Block]) -> str:
    return "\n".join(line for b in blocks for line in b.lines())


@dataclass
class _Site:
    domain: str
    name: str
    lang: str
    kind: str  # news | blog | docs | portal | spam | mirror
    theme: str  # news | blog | docs | portal | spam
    scheme: str
    host: str
    ip: str
    founded: int
    authors: list[str]
    nav: list[str]
    tagline: str
    server: str


@dataclass
class _Doc:
    n: int
    kind: str  # original | exact | near | refetch
    lang: str | None
    category: str
    topic: str | None
    site: _Site
    title: str
    blocks: list[_Block]
    url: str
    time: dt.datetime
    published: dt.datetime
    author: str
    record_id: str
    request_id: str
    source: _Doc | None = None  # the original this copy was made from
    near_edit_fraction: float | None = None
    near_jaccard: float | None = None
    pii: list[dict] = field(default_factory=list)
    planted_lines: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    content_type: str = "text/html"
    charset: str | None = "utf-8"
    payload: bytes | None = None  # non-HTML payloads
    near_members: int = 1  # originals of a near-duplicate cluster: its size so far
    near_target: int = 0
    family: list[_Doc] = field(default_factory=list)  # originals re-fetched: the later fetches
    used_as: str | None = None  # originals: exact | near | refetch once used as a source


class _Generator:
    def __init__(self, seed: int):
        self.seed = seed
        self.rng = random.Random(f"curate-sample:{seed}")
        lex = _lexicon()
        self.lex = lex
        self.langs = lex["languages"]
        self.snips = _snippets()
        self.fakers: dict[str, Faker] = {}
        for code, data in self.langs.items():
            f = Faker(data["faker_locale"])
            f.seed_instance(f"curate-sample:{seed}:{code}")
            self.fakers[code] = f
        self.latin = Faker("la")
        self.latin.seed_instance(f"curate-sample:{seed}:la")
        self._grammars: dict[tuple[str, str | None], _Grammar] = {}
        self._pools: dict[str, tuple[list[str], list[str]]] = {}
        self._value = ""
        self._inline_fn = lambda: ""
        self.urls: dict[str, int] = {}
        self.short_texts: dict[str, int] = {}
        self.seen: Counter = Counter()  # PII types and defects planted so far
        self._spam_defects: list[str] = []
        self.sites = self._make_sites()

    # ----- grammar -----

    def _dynamic(self, lang: str) -> dict:
        f = self.fakers[lang]
        data = self.langs[lang]
        rng = self.rng
        cities = data.get("cities")
        if not cities:
            # it_IT builds its list from a set: sort, so the order does not depend on string hashing.
            listed = getattr(f.provider("faker.providers.address"), "cities", None)
            cities = sorted(set(listed)) if listed else None
        city_fn = f.city_name if hasattr(f, "city_name") else f.city
        city = (lambda: rng.choice(cities)) if cities else city_fn
        months = data["boiler"]["months"]
        nums = ["2", "3", "4", "5", "6", "7", "8", "10", "12", "15", "20", "25", "30", "40", "50", "100", "120", "200",
                "350", "1,000"] if lang == "en" else ["2", "3", "4", "5", "8", "10", "12", "20", "30", "50", "100", "200"]
        # Faker's weighted name choice is slow: draw pools once per language, then pick from them.
        if lang not in self._pools:
            self._pools[lang] = ([f.name() for _ in range(400)], [f.company() for _ in range(200)])
        people, companies = self._pools[lang]
        return {
            "person": lambda: rng.choice(people), "company": lambda: rng.choice(companies),
            "city": city, "cityup": lambda: city().upper(),
            "year": lambda: str(rng.randint(2008, 2025)), "num": lambda: rng.choice(nums),
            "pct": lambda: str(rng.randint(5, 95)), "month": lambda: rng.choice(months),
            "day": lambda: str(rng.randint(1, 28)), "VALUE": lambda: self._value, "INL": lambda: self._inline_fn(),
            "DW": lambda: rng.choice(self.lex["spam"]["dirty_words"]),
        }

    def grammar(self, lang: str, topic: str | None = None) -> _Grammar:
        key = (lang, topic if lang == "en" else None)
        g = self._grammars.get(key)
        if g is None:
            data = self.langs[lang]
            rules = dict(data["grammar"])
            if lang == "en":
                nouns = data["nouns"]
                tnouns = data["topics"][topic] if topic else nouns
                forms = [_verb_forms(v) for v in data["verbs"]]
                rules.update({
                    "N": [_singular(n) for n in nouns], "Npl": [_plural(n) for n in nouns],
                    "TN": [_singular(n) for n in tnouns], "TNpl": [_plural(n) for n in tnouns],
                    "Vb": [b for b, _, _ in forms], "V3": [t for _, t, _ in forms], "Vd": [p for _, _, p in forms],
                })
            g = _Grammar(rules, self.rng, self._dynamic(lang))
            self._grammars[key] = g
        return g

    def sentence(self, lang: str, symbol: str = "S", topic: str | None = None) -> str:
        text = _capitalize(self.grammar(lang, topic)(symbol))
        text = re.sub(r"(?<=\w\.)\.(?!\.)", "", text)  # "... Co. KG." + "." -> one period
        return _fix_articles(text) if lang == "en" else text

    def paragraph(self, lang: str, n: int, symbol: str = "S", topic: str | None = None) -> str:
        sep = "" if lang in CJK else " "
        return sep.join(self.sentence(lang, symbol, topic) for _ in range(n))

    def title(self, lang: str, topic: str | None = None) -> str:
        text = self.grammar(lang, topic)("TITLE").rstrip(".")
        text = _fix_articles(text) if lang == "en" else text
        return _title_case(_capitalize(text)) if lang == "en" else _capitalize(text)

    @staticmethod
    def units(text: str, lang: str | None) -> int:
        """Words, or for Chinese/Japanese (no spaces) characters / 2."""
        return len(text) // 2 if lang in CJK else len(text.split())

    # ----- sites -----

    def _make_site(self, domain: str, lang: str, kind: str, theme: str, name: str | None = None) -> _Site:
        rng, f = self.rng, self.fakers[lang]
        data = self.langs[lang]
        www = kind in ("news", "portal") or rng.random() < 0.3
        scheme = "http" if (kind in ("portal", "spam") and rng.random() < 0.6) or rng.random() < 0.05 else "https"
        name = name or " ".join(w.capitalize() for w in re.split(r"[-.]", domain.split(".")[0]) if w)
        nav = list(data["boiler"]["nav"])
        rng.shuffle(nav)
        nav = [data["boiler"]["nav"][0]] + [x for x in nav if x != data["boiler"]["nav"][0]][:9]
        return _Site(
            domain=domain, name=name, lang=lang, kind=kind, theme=theme, scheme=scheme,
            host=("www." + domain) if www else domain,
            ip=f"{rng.randint(23, 213)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            founded=rng.randint(1998, 2019), authors=[f.name() for _ in range(rng.randint(3, 6))], nav=nav,
            tagline=self.title(lang, rng.choice(list(self.langs["en"]["topics"])) if lang == "en" else None),
            server=rng.choice(SERVERS),
        )

    def _make_sites(self) -> dict[tuple[str, str], list[_Site]]:
        rng = self.rng
        en = self.lex["en_sites"]
        sites: dict[tuple[str, str], list[_Site]] = {}
        used: set[str] = set()

        def en_domain(first: list[str], second: list[str]) -> str:
            while True:
                d = rng.choice(first) + rng.choice(["", "-"]) + rng.choice(second) + rng.choice(en["tlds"])
                if d not in used:
                    used.add(d)
                    return d

        for kind, theme, count, (first, second) in [
            ("news", "news", 12, (en["first"], en["second"])), ("blog", "blog", 14, (en["first"], en["second"])),
            ("portal", "portal", 6, (en["first"], en["second"])), ("code", "docs", 4, (en["code_first"], en["code_second"])),
            ("code", "blog", 3, (en["code_first"], en["code_second"])), ("math", "docs", 2, (en["math_first"], en["math_second"])),
            ("math", "blog", 2, (en["math_first"], en["math_second"])),
        ]:
            for _ in range(count):
                sites.setdefault(("en", kind), []).append(self._make_site(en_domain(first, second), "en", kind, theme))
        for domain in self.lex["spam"]["domains"]:
            sites.setdefault(("en", "spam"), []).append(self._make_site(domain, "en", "spam", "spam"))
        for domain in en["mirror"]:
            sites.setdefault(("en", "mirror"), []).append(
                self._make_site(domain, "en", "mirror", rng.choice(["news", "blog", "portal"])))
        for lang, data in self.langs.items():
            if lang == "en":
                continue
            for i, domain in enumerate(data["sites"]):
                kind, theme = [("news", "news"), ("blog", "blog"), ("portal", "portal")][i % 3]
                sites.setdefault((lang, kind), []).append(self._make_site(domain, lang, kind, theme))
        return sites

    def pick_site(self, lang: str, category: str, exclude: _Site | None = None) -> _Site:
        kinds = {"general": ["blog", "portal", "news"], "news": ["news"], "code": ["code"], "math": ["math"],
                 "spam": ["spam"], "boilerplate_only": ["news", "blog", "portal"], "short": ["blog", "portal"],
                 "non_html": ["news", "blog", "portal"], "mirror": ["mirror"] if lang == "en" else ["news", "blog", "portal"]}[category]
        pool = [s for k in kinds for s in self.sites.get((lang, k), [])] or [
            s for (lg, _), ss in self.sites.items() if lg == lang for s in ss]
        choices = [s for s in pool if s is not exclude] or pool
        return self.rng.choice(choices)

    def make_url(self, site: _Site, title: str, published: dt.datetime, category: str) -> str:
        rng = self.rng
        slug = _slug(title) or f"article-{rng.randint(1000, 99999)}"
        section = _slug(rng.choice(site.nav[1:])) or f"section{rng.randint(1, 9)}"
        if site.kind == "news":
            path = f"/{section}/{published:%Y/%m/%d}/{slug}-{rng.randint(10000, 9999999)}"
        elif site.kind == "blog":
            path = f"/{published:%Y/%m}/{slug}/"
        elif site.kind in ("code", "math"):
            path = f"/{rng.choice(['tutorials', 'guides', 'notes', 'posts'])}/{slug}.html"
        elif site.kind == "portal":
            path = rng.choice([f"/index.php?option=com_content&view=article&id={rng.randint(100, 99999)}",
                               f"/article.php?id={rng.randint(100, 99999)}&cat={rng.randint(1, 40)}",
                               f"/{section}/{slug}.html"])
        elif site.kind == "spam":
            path = f"/{slug[:40]}-{rng.randint(100, 99999)}.html"
        else:  # mirror
            path = rng.choice([f"/story/{rng.randint(10**5, 10**7)}/{slug}", f"/r/{rng.getrandbits(40):010x}",
                               f"/news/{published:%Y%m%d}/{slug}.html"])
        url = f"{site.scheme}://{site.host}{path}"
        n = self.urls.get(url, 0)
        self.urls[url] = n + 1
        if n:  # the same slug twice on one site: a second page of it
            url += ("&" if "?" in url else "?") + f"page={n + 1}"
        return url

    # ----- content -----

    def code_snippet(self) -> tuple[str, str]:
        rng = self.rng
        lang, _, text = rng.choice(self.snips["code"])
        words = self.langs["en"]["grammar"]["CODE_N"]
        nouns = [w for w in (_singular(n) for n in self.langs["en"]["nouns"]) if " " not in w]

        verbs = ["get", "load", "parse", "build", "find", "make", "count", "update", "fetch", "merge"]
        values = {"FN": f"{rng.choice(verbs)}_{rng.choice(nouns)}", "FN2": f"{rng.choice(verbs)}_{rng.choice(nouns)}",
                  "VAR": rng.choice(nouns), "VAR2": rng.choice(nouns) + "_list",
                  "FIELD": rng.choice(nouns), "FIELD2": rng.choice(["count", "total", "size", "score", "age", "rank"]),
                  "WORD": rng.choice(words), "N": str(rng.randint(2, 20)), "M": str(rng.randint(10, 999)),
                  "A": str(rng.randint(1, 9)), "B": str(rng.randint(1, 9)), "C": str(rng.randint(1, 9))}
        values["CLS"] = "".join(w.capitalize() for w in rng.sample(nouns, 2))
        values["JSFN"] = values["FN"].split("_")[0] + "".join(w.capitalize() for w in values["FN"].split("_")[1:])
        return lang, _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)

    def _math_values(self) -> dict[str, str]:
        rng = self.rng
        a, b, c, n = rng.randint(2, 9), rng.randint(1, 9), rng.randint(1, 9), rng.randint(2, 9)
        return {"A": str(a), "B": str(b), "C": str(c), "N": str(n), "M": str(rng.randint(10, 99)),
                "X": rng.choice("xtuz"), "N1": str(n + 1), "NM1": str(n - 1), "AN": str(a * n), "A1": str(a + 1),
                "DET": str(a * n - b * c), "SQRT": f"{math.sqrt(a):.3f}"}

    def inline_tex(self) -> str:
        values = self._math_values()
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.rng.choice(self.snips["inline"]))

    def display_formula(self) -> tuple[str, str]:
        _, tex, mml = self.rng.choice(self.snips["math"])
        values = self._math_values()
        sub = lambda s: _PLACEHOLDER.sub(lambda m: values[m.group(1)], s)
        return sub(tex), sub(mml)

    def article_blocks(self, lang: str, category: str, topic: str | None, title: str) -> list[_Block]:
        rng = self.rng
        if category == "short":
            for _ in range(100):  # distinct short texts: no unplanted exact duplicates
                text = self.sentence(lang, "SHORT", topic)
                if self.units(text, lang) < 40 and text not in self.short_texts:
                    break
            self.short_texts[text] = 1
            return [_Block("p", text)]
        if category == "boilerplate_only":
            # The stock message of a listing/login/404 page, and what was asked for (distinct per page).
            label = self.langs[lang]["boiler"][rng.choice(["search", "tags", "categories"])]
            return [_Block("p", self.sentence(lang, "BOILER_ONLY"), linkable=False),
                    _Block("p", f"{label}: {title}", linkable=False)]
        if category == "spam":
            return self.spam_blocks()
        g_symbol = "S_news" if category == "news" else "S"
        median, sigma = {"general": (420, 0.55), "news": (480, 0.5), "code": (260, 0.4), "math": (260, 0.4)}[category]
        target = int(min(1500, max(150, rng.lognormvariate(math.log(median), sigma))))
        blocks: list[_Block] = []
        total, paragraphs = 0, 0
        code_blocks = rng.randint(1, 3) if category == "code" else 0
        formulas = rng.randint(1, 3) if category == "math" else 0
        while total < target:
            roll = rng.random()
            if paragraphs >= 3 and roll < 0.12 and blocks[-1].kind != "h2" and category in ("general", "news"):
                blocks.append(_Block("h2", _capitalize(self.grammar(lang, topic)("H2"))))
                continue
            if paragraphs >= 2 and roll < 0.17 and category in ("general", "news"):
                items = [_capitalize(self.grammar(lang, topic)("LI")) for _ in range(rng.randint(3, 5))]
                blocks.append(_Block("ul", items=[_fix_articles(i) if lang == "en" else i for i in items]))
                total += sum(self.units(i, lang) for i in items)
                continue
            if category == "code" and paragraphs >= 1 and code_blocks and roll < 0.45:
                code_lang, code = self.code_snippet()
                blocks.append(_Block("pre", code.rstrip("\n"), extra=code_lang))
                code_blocks -= 1
                continue
            if category == "math" and paragraphs >= 1 and formulas and roll < 0.45:
                tex, mml = self.display_formula()
                blocks.append(_Block("math", tex, extra=mml))
                formulas -= 1
                continue
            n = rng.randint(3, 7)
            if category == "code":
                sents = [self.sentence("en", "CODE_S" if rng.random() < 0.6 else "S", topic) for _ in range(n)]
                text = " ".join(sents)
            elif category == "math":
                self._inline_fn = self.inline_tex
                sents = [self.sentence("en", "MATH_S" if rng.random() < 0.6 else "S", topic) for _ in range(n)]
                text = " ".join(sents)
            else:
                text = self.paragraph(lang, n, g_symbol, topic)
            if category == "news" and paragraphs == 0:
                text = self.grammar(lang, topic)("DATELINE") + text
            blocks.append(_Block("p", text))
            paragraphs += 1
            total += self.units(text, lang)
        while code_blocks:  # short tutorials still show their code
            code_lang, code = self.code_snippet()
            blocks.insert(rng.randint(1, len(blocks)), _Block("pre", code.rstrip("\n"), extra=code_lang))
            code_blocks -= 1
        while formulas:
            tex, mml = self.display_formula()
            blocks.insert(rng.randint(1, len(blocks)), _Block("math", tex, extra=mml))
            formulas -= 1
        return blocks

    def spam_blocks(self) -> list[_Block]:
        rng = self.rng
        spam = self.lex["spam"]
        g = self.grammar("en")
        blocks = []
        if rng.random() < 0.6:  # keyword stuffing
            kws = rng.sample(spam["keywords"], 6)
            for _ in range(rng.randint(2, 4)):
                words = [rng.choice(kws) for _ in range(rng.randint(30, 90))]
                blocks.append(_Block("p", _capitalize(", ".join(words) if rng.random() < 0.5 else " ".join(words)), linkable=False))
            line = rng.choice(spam["lines"])
            blocks[1:1] = [_Block("p", line, linkable=False) for _ in range(rng.randint(6, 12))]
            blocks.append(_Block("ul", items=[_title_case(f"{rng.choice(kws)} {rng.choice(kws)}") for _ in range(rng.randint(8, 16))]))
            self._spam_defects = ["keyword_stuffing", "repeated_lines"]
        else:  # adult spam
            for _ in range(rng.randint(2, 4)):
                words = [rng.choice(spam["dirty_words"]) if rng.random() < 0.5 else rng.choice(spam["keywords"])
                         for _ in range(rng.randint(25, 70))]
                blocks.append(_Block("p", _capitalize(" ".join(words)), linkable=False))
            line = _capitalize(g("DW")) + " " + rng.choice(["videos", "pics", "chat", "cams"]) + " - " + rng.choice(spam["lines"])
            blocks[1:1] = [_Block("p", line, linkable=False) for _ in range(rng.randint(6, 10))]
            links = [_capitalize(self._expand_adult(rng.choice(spam["adult_lines"]))) for _ in range(rng.randint(6, 12))]
            blocks.append(_Block("ul", items=links))
            self._spam_defects = ["dirty_words", "repeated_lines"]
        return blocks

    def _expand_adult(self, template: str) -> str:
        return _SYMBOL.sub(lambda m: self.rng.choice(self.lex["spam"]["dirty_words"]), template)

    def spam_title(self) -> str:
        kws = self.rng.sample(self.lex["spam"]["keywords"] + self.lex["spam"]["dirty_words"], 4)
        return _title_case(" ".join(kws)) + f" {self.rng.randint(2023, 2025)} | Free"

    # ----- planting -----

    def pii_value(self, kind: str, lang: str) -> str:
        rng = self.rng
        f, fen = self.fakers[lang], self.fakers["en"]
        if kind == "email":
            return f.email()
        if kind == "phone":
            fmt = rng.choice(PHONE_FORMATS[lang])
            return re.sub(r"\{(\d)\}", lambda m: "".join(str(rng.randint(0 if i else 1, 9)) for i in range(int(m.group(1)))), fmt)
        if kind == "ipv4":
            return fen.ipv4_public()
        if kind == "ipv6":
            v6 = fen.ipv6()
            return str(ipaddress.IPv6Address(v6)) if rng.random() < 0.5 else v6
        if kind == "card":
            number = fen.credit_card_number(card_type=rng.choice(["visa16", "mastercard", "amex", "discover"]))
            style = rng.random()
            groups = [4, 6, 5] if len(number) == 15 else [4, 4, 4, 4]
            if style < 0.5:
                return number
            parts, i = [], 0
            for g in groups:
                parts.append(number[i:i + g])
                i += g
            return (" " if style < 0.8 else "-").join(parts)
        if kind == "iban":
            iban = f.iban() if hasattr(f, "iban") else fen.iban()
            return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban
        if kind == "ssn":
            return fen.ssn()
        if kind == "secret":
            alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
            pick = lambda chars, n: "".join(rng.choice(chars) for _ in range(n))
            return rng.choice([
                lambda: "AKIA" + pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
                lambda: "ghp_" + pick(alnum, 36),
                lambda: "AIza" + pick(alnum + "_-", 35),
                lambda: "sk_live_" + pick(alnum, 24),
            ])()
        raise ValueError(kind)

    def plant_pii(self, doc: _Doc) -> None:
        rng = self.rng
        lang = doc.lang
        kinds = [k for k in PII_TYPES if k != "ssn" or lang == "en"]
        chosen = rng.sample(kinds, rng.choice([1, 1, 1, 2, 2, 3]))
        unused = [k for k in kinds if not self.seen[k] and k not in chosen]
        if unused:  # every type early on, so even a small corpus has them all
            chosen[0] = unused[0]
        self.seen.update(chosen)
        if doc.category == "code" and "secret" not in chosen and rng.random() < 0.6:
            chosen[0] = "secret"
        templates = self.langs[lang]["pii"]
        for kind in chosen:
            value = self.pii_value(kind, lang)
            doc.pii.append({"type": kind, "value": value})
            if doc.category == "code" and kind in ("secret", "email") and rng.random() < 0.7:
                code = {
                    "secret": rng.choice([f'AWS_ACCESS_KEY_ID = "{value}"\nAWS_REGION = "us-east-1"',
                                          f'const API_TOKEN = "{value}";\nconst client = new Client({{ token: API_TOKEN }});',
                                          f"export API_KEY={value}\nexport DEBUG=false"]),
                    "email": f"# Maintainer: {self.fakers['en'].name()} <{value}>\n# License: MIT",
                }[kind]
                doc.blocks.insert(rng.randint(1, len(doc.blocks)), _Block("pre", code, extra="text"))
                continue
            self._value = value
            source = templates.get(kind) or self.langs["en"]["pii"][kind]
            g = self.grammar(lang, doc.topic)
            sentence = _capitalize(_SYMBOL.sub(lambda m: g(m.group(1)), rng.choice(source)))
            paras = [i for i, b in enumerate(doc.blocks) if b.kind == "p" and b.linkable]  # ordinary prose
            if paras and rng.random() < 0.5:
                b = doc.blocks[rng.choice(paras)]
                b.text = b.text + ("" if lang in CJK else " ") + sentence
                b.linkable = False
            else:
                doc.blocks.insert(rng.randint(0, len(doc.blocks)), _Block("p", sentence, linkable=False))

    def plant_defects(self, doc: _Doc) -> None:
        rng = self.rng
        lang = doc.lang
        paras = [b for b in doc.blocks if b.kind == "p"]
        if not paras:
            return
        roll = rng.random()
        kind = ("lorem_ipsum" if roll < 0.03 else "repeated_lines" if roll < 0.06 else
                "javascript_lines" if roll < 0.085 and lang == "en" else "no_punctuation" if roll < 0.105 else
                "symbol_heavy" if roll < 0.125 else None)
        self.seen["defect_candidates"] += 1
        if self.seen["defect_candidates"] % 5 == 0:  # every kind early on, so even a small corpus has them all
            unused = [d for d in ("lorem_ipsum", "repeated_lines", "javascript_lines", "no_punctuation", "symbol_heavy")
                      if not self.seen[d] and (d != "javascript_lines" or lang == "en")]
            kind = unused[0] if unused else kind
        self.seen[kind] += 1
        if kind == "lorem_ipsum":
            lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " + self.latin.paragraph(nb_sentences=rng.randint(4, 8))
            doc.blocks.insert(rng.randint(0, len(doc.blocks)), _Block("p", lorem))
            if rng.random() < 0.5:
                doc.blocks.insert(rng.randint(0, len(doc.blocks)), _Block("p", self.latin.paragraph(nb_sentences=5)))
            doc.defects.append("lorem_ipsum")
        elif kind == "repeated_lines":
            if rng.random() < 0.5:
                line = rng.choice(paras).text
            else:
                line = self.sentence(lang, "S", doc.topic)
            at = rng.randint(0, len(doc.blocks))
            doc.blocks[at:at] = [_Block("p", line, linkable=False) for _ in range(rng.randint(4, 8))]
            doc.defects.append("repeated_lines")
        elif kind == "javascript_lines":
            for line in rng.sample(self.langs["en"]["js_lines"], rng.randint(2, 3)):
                doc.blocks.insert(rng.randint(0, len(doc.blocks)), _Block("p", line, linkable=False))
            doc.defects.append("javascript_lines")
        elif kind == "no_punctuation":
            for b in doc.blocks:
                if b.kind in ("p", "h2"):
                    b.text = re.sub(r"[.,;:!?\u2026\u3002\u3001\uff0c\u201c\u201d\u201e\u00ab\u00bb\u2018\u2019\"]", "", b.text)
                elif b.kind == "ul":
                    b.items = [re.sub(r"[.,;:!?]", "", i) for i in b.items]
            doc.defects.append("no_punctuation")
        elif kind == "symbol_heavy":
            words = sum(self.units(b.text, lang) for b in paras)
            tags = self.lex["spam"]["hashtags"] + [w.replace(" ", "") for w in self.langs["en"]["topics"][doc.topic or "travel"]]
            for _ in range(rng.randint(1, 2)):
                n = max(30, int(words * 0.12))
                line = " ".join("#" + rng.choice(tags) for _ in range(n))
                doc.blocks.insert(rng.randint(0, len(doc.blocks)), _Block("p", line, linkable=False))
            trailing = "... ".join(self.sentence(lang, "S", doc.topic).rstrip(".") for _ in range(3)) + "..."
            doc.blocks.append(_Block("p", trailing, linkable=False))
            doc.defects.append("symbol_heavy")

    def plant_pool_lines(self, doc: _Doc) -> None:
        rng = self.rng
        pool = self.langs[doc.lang]["pool_lines"]
        for line in rng.sample(pool, rng.choice([1, 1, 2])):
            where = rng.random()
            at = len(doc.blocks) if where < 0.5 else 0 if where < 0.7 else rng.randint(0, len(doc.blocks))
            doc.blocks.insert(at, _Block("p", line, linkable=False))
            doc.planted_lines.append(line)

    # ----- documents -----

    def _ids(self) -> tuple[str, str]:
        rng = self.rng
        return (f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>",
                f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>")

    def _random_time(self) -> dt.datetime:
        span = int((END - START).total_seconds()) - 30 * 86400  # room for later re-fetches
        return START + dt.timedelta(seconds=self.rng.randrange(span))

    def _published(self, fetch: dt.datetime) -> dt.datetime:
        return fetch - dt.timedelta(seconds=self.rng.randrange(0, 400 * 86400))

    def original(self, n: int) -> _Doc:
        rng = self.rng
        time = self._random_time()
        published = self._published(time)
        record_id, request_id = self._ids()
        if rng.random() < NON_HTML_RATE:
            site = self.pick_site("en" if rng.random() < 0.8 else _pick(rng, LANGUAGES), "non_html")
            return self.non_html(n, site, time, published, record_id, request_id)
        lang = _pick(rng, LANGUAGES)
        category = _pick(rng, EN_CATEGORIES if lang == "en" else OTHER_CATEGORIES)
        topics = list(self.langs["en"]["topics"])
        topic = {"code": "technology", "math": "science", "spam": None}.get(category, rng.choice(topics)) if lang == "en" else None
        site = self.pick_site(lang, category)
        self._spam_defects = []
        title = self.spam_title() if category == "spam" else self.title(lang, topic)
        blocks = self.article_blocks(lang, category, topic, title)
        doc = _Doc(n=n, kind="original", lang=lang, category=category, topic=topic, site=site, title=title,
                   blocks=blocks, url=self.make_url(site, title, published, category), time=time, published=published,
                   author=rng.choice(site.authors), record_id=record_id, request_id=request_id)
        doc.defects.extend(self._spam_defects)
        if category == "short":
            doc.defects.append("short")
        if category == "boilerplate_only":
            doc.defects.append("boilerplate_heavy")
        if category in ("general", "news"):
            self.plant_defects(doc)
        if category in ("general", "news", "code", "math") and rng.random() < POOL_LINE_RATE:
            self.plant_pool_lines(doc)
        if category in ("general", "news", "code", "math", "short") and rng.random() < PII_RATE / 0.9:
            self.plant_pii(doc)
        doc.charset = self._charset(lang)
        return doc

    def _charset(self, lang: str) -> str:
        roll, acc = self.rng.random(), 0.0
        for name, p in LEGACY_CHARSETS.get(lang, []):
            acc += p
            if roll < acc:
                return name
        return "utf-8"

    def non_html(self, n: int, site: _Site, time, published, record_id, request_id) -> _Doc:
        rng = self.rng
        kind = _pick(rng, [("png", 0.35), ("pdf", 0.25), ("jpeg", 0.15), ("json", 0.15), ("robots", 0.10)])
        stem = _slug(self.title(site.lang)) or f"file-{rng.randint(1, 9999)}"
        if kind == "png":
            payload, ctype, path = _png(rng), "image/png", f"/media/{published:%Y/%m}/{stem[:30]}.png"
        elif kind == "jpeg":
            payload, ctype, path = _jpeg(rng), "image/jpeg", f"/media/{published:%Y/%m}/{stem[:30]}.jpg"
        elif kind == "pdf":
            lines = [self.sentence("en", "S", "business") for _ in range(rng.randint(3, 8))]
            payload, ctype, path = _pdf(lines), "application/pdf", f"/files/{stem[:40]}.pdf"
        elif kind == "json":
            items = [{"id": rng.randint(1, 10**6), "title": self.title("en", "technology"), "score": round(rng.random(), 3)}
                     for _ in range(rng.randint(2, 6))]
            payload = json.dumps({"items": items, "page": 1}, ensure_ascii=False).encode("utf-8")
            ctype, path = "application/json", f"/api/v1/items?page={rng.randint(1, 50)}"
        else:
            payload = (f"User-agent: *\nDisallow: /admin/\nDisallow: /search\nCrawl-delay: {rng.randint(1, 10)}\n\n"
                       f"Sitemap: {site.scheme}://{site.host}/sitemap.xml\n").encode("ascii")
            ctype, path = "text/plain", "/robots.txt"
        url = f"{site.scheme}://{site.host}{path}"
        if url in self.urls:
            url += ("&" if "?" in url else "?") + f"v={rng.randint(1, 10**6)}"
        self.urls[url] = 1
        return _Doc(n=n, kind="original", lang=None, category="non_html", topic=None, site=site, title="", blocks=[],
                    url=url, time=time, published=published, author="", record_id=record_id, request_id=request_id,
                    content_type=ctype, charset="utf-8" if kind == "json" else None, payload=payload)

    def exact_copy(self, n: int, src: _Doc) -> _Doc:
        """The same article (text, title, byline) republished on another site of the same layout.

        Same layout, different navigation, sidebar and footer: a copy must extract to exactly the
        original's text, or exact-dedup scoring would count extraction differences as misses.
        """
        rng = self.rng
        same_layout = [s for (lang, _), ss in self.sites.items() if lang == src.lang for s in ss
                       if s.theme == src.site.theme and s is not src.site]
        mirrors = [s for s in same_layout if s.kind == "mirror"]
        site = rng.choice(mirrors or same_layout or [src.site])
        time = self._random_time()
        record_id, request_id = self._ids()
        doc = _Doc(n=n, kind="exact", lang=src.lang, category=src.category, topic=src.topic, site=site, title=src.title,
                   blocks=[b.copy() for b in src.blocks], url=self.make_url(site, src.title, src.published, src.category),
                   time=time, published=src.published, author=src.author, record_id=record_id, request_id=request_id,
                   source=src, pii=list(src.pii), planted_lines=list(src.planted_lines), defects=list(src.defects))
        doc.charset = self._charset(src.lang)
        return doc

    def near_copy(self, n: int, src: _Doc) -> _Doc:
        rng = self.rng
        fraction = rng.choices(NEAR_EDIT_FRACTIONS, weights=NEAR_EDIT_WEIGHTS)[0]
        blocks = _edit_blocks(rng, src.blocks, fraction)
        site = self.pick_site(src.lang, rng.choice(["mirror", "general"]), exclude=src.site)
        time = self._random_time()
        record_id, request_id = self._ids()
        text = _main_text(blocks)
        doc = _Doc(n=n, kind="near", lang=src.lang, category=src.category, topic=src.topic, site=site, title=src.title,
                   blocks=blocks, url=self.make_url(site, src.title, src.published, src.category), time=time,
                   published=src.published, author=src.author, record_id=record_id, request_id=request_id, source=src,
                   near_edit_fraction=fraction, near_jaccard=round(jaccard(_main_text(src.blocks), text), 4),
                   pii=[p for p in src.pii if p["value"] in text],
                   planted_lines=[line for line in src.planted_lines if line in text.split("\n")])
        doc.charset = self._charset(src.lang)
        return doc

    def refetch(self, n: int, src: _Doc) -> _Doc:
        """``src`` fetched again later (under its URL or a spelling that normalises alike), slightly changed."""
        rng = self.rng
        latest = src.family[-1] if src.family else src
        # Later than every earlier fetch, and before END: at most half the time left.
        room = (END - latest.time).total_seconds()
        high = min(240 * 86400, room / 2)
        low = min(3600, high / 2)
        time = latest.time + dt.timedelta(seconds=max(1, int(low + rng.random() * (high - low))))
        blocks = [b.copy() for b in latest.blocks]
        lang = src.lang
        change = rng.random()
        paras = [i for i, b in enumerate(blocks) if b.kind == "p" and b.linkable]
        if src.category in ("boilerplate_only",) or not paras or change < 0.5:
            update = self.langs[lang]["boiler"]["update"] + " " + self.paragraph(lang, rng.randint(1, 3), "S", src.topic)
            blocks.append(_Block("p", update))
        elif change < 0.8:
            i = rng.choice(paras)
            blocks[i] = _Block("p", self.paragraph(lang, rng.randint(2, 5), "S", src.topic))
        else:
            i = rng.choice(paras)
            sep = "" if lang in CJK else " "
            blocks[i] = _Block("p", blocks[i].text + sep + self.sentence(lang, "S", src.topic))
        record_id, request_id = self._ids()
        text = _main_text(blocks)
        doc = _Doc(n=n, kind="refetch", lang=lang, category=src.category, topic=src.topic, site=src.site,
                   title=src.title, blocks=blocks, url=_url_variant(rng, src.url), time=time, published=src.published,
                   author=src.author, record_id=record_id, request_id=request_id, source=src,
                   pii=[p for p in src.pii if p["value"] in text],
                   planted_lines=[line for line in src.planted_lines if line in text.split("\n")],
                   defects=list(src.defects), charset=src.charset)
        src.family.append(doc)
        return doc

    # ----- the whole corpus -----

    def plan(self, pages: int) -> list[_Doc]:
        """The documents in generation order: originals, and copies of earlier originals.

        A source original is used for one kind of copy only (exact, near or re-fetch), so the
        duplicate families in the ground truth never overlap.
        """
        rng = self.rng
        docs: list[_Doc] = []
        any_pool: list[_Doc] = []  # HTML originals not yet a source: re-fetch sources
        exact_pool: list[_Doc] = []  # ... with real content (thin pages extract their boilerplate)
        near_pool: list[_Doc] = []  # ... clean general/news of space-separated languages, >= 150 words
        pools = (any_pool, exact_pool, near_pool)
        open_near: list[_Doc] = []
        exact_sources: list[_Doc] = []
        refetch_sources: list[_Doc] = []
        # Exactly the planned share of each copy kind (small corpora too), at random places after
        # the first few originals.
        kinds = (["exact"] * round(EXACT_RATE * pages) + ["near"] * round(NEAR_RATE * pages)
                 + ["refetch"] * round(REFETCH_RATE * pages))
        slots = list(range(min(10, pages), pages))
        kind_at = dict(zip(rng.sample(slots, min(len(kinds), len(slots))), rng.sample(kinds, len(kinds)), strict=False))
        for n in range(pages):
            kind = kind_at.get(n)
            doc = None
            if kind == "exact" and exact_pool:
                if len(exact_sources) >= 5 and rng.random() < 0.25:  # clusters of 3+ copies too
                    src = rng.choice(exact_sources)
                else:
                    src = _take(rng, exact_pool, pools)
                    src.used_as = "exact"
                    exact_sources.append(src)
                doc = self.exact_copy(n, src)
            elif kind == "near" and (near_pool or open_near):
                if open_near and (rng.random() < 0.6 or not near_pool):
                    src = rng.choice(open_near)
                else:
                    src = _take(rng, near_pool, pools)
                    src.used_as = "near"
                    src.near_target = rng.randint(2, 5)
                    open_near.append(src)
                doc = self.near_copy(n, src)
                src.near_members += 1
                if src.near_members >= src.near_target:
                    open_near.remove(src)
            elif kind == "refetch" and any_pool:
                if len(refetch_sources) >= 5 and rng.random() < 0.2:  # a third or fourth fetch
                    src = rng.choice(refetch_sources)
                else:
                    src = _take(rng, any_pool, pools)
                    src.used_as = "refetch"
                    refetch_sources.append(src)
                doc = self.refetch(n, src)
            if doc is None:
                doc = self.original(n)
                if doc.category != "non_html":
                    any_pool.append(doc)
                    if doc.category in ("general", "news", "code", "math", "spam"):
                        exact_pool.append(doc)
                    if (doc.category in ("general", "news") and doc.lang not in CJK and not doc.defects
                            and len(_main_text(doc.blocks).split()) >= 150):
                        near_pool.append(doc)
            docs.append(doc)
        return docs

    def render(self, doc: _Doc) -> tuple[bytes, str]:
        """(payload bytes, Content-Type header value) of an HTML page."""
        article = _render_blocks(self.rng, doc)
        for _ in range(2):
            page = _THEMES[doc.site.theme](self, doc, article)
            try:
                payload = page.encode(doc.charset)
                if payload.decode(_DECODE_AS.get(doc.charset, doc.charset)) != page:
                    raise UnicodeError(doc.charset)
                break
            except (UnicodeError, LookupError):
                doc.charset = "utf-8"  # the text needs characters the legacy charset lacks
        spelled = doc.charset.upper() if self.rng.random() < 0.3 else doc.charset
        ctype = "text/html" if self.rng.random() < 0.1 else f"text/html; charset={spelled}"
        return payload, ctype


def _pick(rng: random.Random, weighted):
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def _take(rng: random.Random, pool: list, pools: tuple[list, ...]):
    """Remove a random member of ``pool`` from every pool and return it."""
    src = pool[rng.randrange(len(pool))]
    for p in pools:
        if src in p:
            p.remove(src)
    return src


def _edit_blocks(rng: random.Random, blocks: list[_Block], fraction: float) -> list[_Block]:
    """A copy of ``blocks`` with ``fraction`` of its words edited (swaps, insertions, deletions)."""
    out = [b.copy() for b in blocks]
    tokens: list[list] = []  # [block index, item index, word]
    for bi, b in enumerate(out):
        if b.kind in ("p", "h2"):
            tokens.extend([bi, 0, w] for w in b.text.split())
        elif b.kind == "ul":
            for ii, item in enumerate(b.items):
                tokens.extend([bi, ii, w] for w in item.split())
    vocab = [t[2] for t in tokens]
    edits = max(1, round(len(tokens) * fraction))
    for _ in range(edits):
        i = rng.randrange(len(tokens))
        op = rng.random()
        if op < 1 / 3 and len(tokens) > 2:
            bi, ii = tokens[i][0], tokens[i][1]
            if sum(1 for t in tokens if t[0] == bi and t[1] == ii) > 1:
                del tokens[i]
                continue
        if op < 2 / 3:
            tokens.insert(i, [tokens[i][0], tokens[i][1], rng.choice(vocab)])
        else:
            j = i + 1 if i + 1 < len(tokens) else i - 1
            tokens[i][2], tokens[j][2] = tokens[j][2], tokens[i][2]
    texts: dict[tuple[int, int], list[str]] = {}
    for bi, ii, w in tokens:
        texts.setdefault((bi, ii), []).append(w)
    for bi, b in enumerate(out):
        if b.kind in ("p", "h2"):
            b.text = " ".join(texts.get((bi, 0), [b.text]))
            b.linkable = False
        elif b.kind == "ul":
            b.items = [" ".join(texts.get((bi, ii), [item])) for ii, item in enumerate(b.items)]
    return out


def _url_variant(rng: random.Random, url: str) -> str:
    """``url`` or a spelling of it that URL normalisation folds back (the scheme stays lower case:
    crawlers write it so and WARC readers, warcio included, only parse http:/https: targets)."""
    scheme, rest = url.split("://", 1)
    host, slash, path = rest.partition("/")
    path = slash + path
    port = ":443" if scheme == "https" else ":80"

    def tracking(p: str) -> str:
        param = rng.choice(["utm_source=newsletter&utm_medium=email", "utm_source=twitter", "fbclid=IwAR" + "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16)), "utm_campaign=spring_sale&utm_source=x"])
        return p + ("&" if "?" in p else "?") + param

    def toggle_slash(p: str) -> str:
        if "?" in p:
            return p
        return p[:-1] if p.endswith("/") and len(p) > 1 else p + "/"

    kind = rng.choice(["same", "same", "same", "tracking", "fragment", "slash", "host", "combo"])
    if kind == "same":
        return url
    if kind == "tracking":
        return f"{scheme}://{host}{tracking(path)}"
    if kind == "fragment":
        return f"{scheme}://{host}{path}#{rng.choice(['comments', 'top', 'section-2', 'respond'])}"
    if kind == "slash":
        return f"{scheme}://{host}{toggle_slash(path)}"
    if kind == "host":
        return f"{scheme}://{_mixed_case(rng, host)}{port}{path}"
    return f"{scheme}://{_mixed_case(rng, host)}{port}{tracking(path)}#frag"


def _mixed_case(rng: random.Random, host: str) -> str:
    if rng.random() < 0.5:
        return host.upper()
    return ".".join(p.capitalize() for p in host.split("."))


# --- HTML -------------------------------------------------------------------------------------


def _render_blocks(rng: random.Random, doc: _Doc) -> str:
    out = []
    for b in doc.blocks:
        if b.kind == "p":
            text = _esc(b.text)
            if b.linkable and doc.lang not in CJK and rng.random() < 0.15:
                words = b.text.split(" ")
                if len(words) > 8:
                    i = rng.randrange(1, len(words) - 4)
                    k = rng.randint(2, 4)
                    anchor = " ".join(words[i:i + k])
                    href = f"/{rng.choice(['topics', 'tag', 'news', 'guide'])}/{_slug(anchor) or 'more'}"
                    text = (_esc(" ".join(words[:i])) + f' <a href="{href}">{_esc(anchor)}</a> '
                            + _esc(" ".join(words[i + k:])))
            out.append(f"<p>{text}</p>")
        elif b.kind == "h2":
            out.append(f"<h2>{_esc(b.text)}</h2>")
        elif b.kind == "ul":
            out.append("<ul>\n" + "\n".join(f"<li>{_esc(i)}</li>" for i in b.items) + "\n</ul>")
        elif b.kind == "pre":
            out.append(f'<pre><code class="language-{b.extra}">{_esc(b.text)}</code></pre>')
        elif b.kind == "math":
            out.append(f'<div class="equation"><math xmlns="http://www.w3.org/1998/Math/MathML" display="block" '
                       f'alttext="{_attr(b.text)}"><semantics><mrow>{b.extra}</mrow>'
                       f'<annotation encoding="application/x-tex">{_esc(b.text)}</annotation></semantics></math></div>')
    return "\n".join(out)


def _date_text(lang: str, when: dt.datetime, boiler: dict) -> str:
    return DATE_FORMATS[lang].format(month=boiler["months"][when.month - 1], mnum=when.month, day=when.day, year=when.year)


def _chrome(gen: _Generator, doc: _Doc) -> dict:
    """Shared pieces of every theme, in the page's language."""
    rng = gen.rng
    site, lang = doc.site, doc.site.lang
    boiler = gen.langs[lang]["boiler"]
    topic = doc.topic if lang == "en" else None
    titles = [gen.title(lang, topic) for _ in range(rng.randint(4, 6))]
    links = [f'<a href="/{_slug(t) or "p"}-{rng.randint(100, 99999)}">{_esc(t)}</a>' for t in titles]
    nav = "\n".join(f'<li><a href="/{_slug(x) or "s" + str(i)}/">{_esc(x)}</a></li>' if i else f'<li><a href="/">{_esc(x)}</a></li>'
                    for i, x in enumerate(site.nav))
    footer_links = " | ".join(f'<a href="/{_slug(x) or "info"}">{_esc(x)}</a>' for x in boiler["footer_links"])
    return {
        "b": boiler, "lang": lang, "charset": doc.charset, "title": _esc(doc.title), "title_attr": _attr(doc.title),
        "site": _esc(site.name), "nav": nav, "links": links, "footer_links": footer_links,
        "date": _date_text(lang, doc.published, boiler), "iso": doc.published.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "author": _esc(doc.author), "author_slug": _slug(doc.author) or "redaktion", "year": doc.time.year,
        "h": f"{rng.getrandbits(32):08x}", "canonical": _attr(_canonical(doc.url)),
        "desc": _attr(_main_text(doc.blocks)[:150].replace("\n", " ")),
        "cookie": (f'<p>{_esc(boiler["cookie"])} <a href="/privacy">{_esc(boiler["privacy"])}</a></p>'
                   f'<button class="accept">{_esc(boiler["accept"])}</button> '
                   f'<button class="settings">{_esc(boiler["settings"])}</button>'),
    }


def _canonical(url: str) -> str:
    """The page's own clean URL (what ``<link rel="canonical">`` names): no fragment, tracking or default port."""
    parts = urlsplit(url)
    host = parts.netloc.lower().removesuffix(":443").removesuffix(":80")
    query = "&".join(p for p in parts.query.split("&") if p and not p.startswith(("utm_", "fbclid=")))
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def _theme_news(gen: _Generator, doc: _Doc, article: str) -> str:
    c = _chrome(gen, doc)
    b, rng = c["b"], gen.rng
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": doc.title,
                     "datePublished": c["iso"], "author": {"@type": "Person", "name": doc.author},
                     "publisher": {"@type": "Organization", "name": doc.site.name}}, ensure_ascii=False).replace("</", "<\\/")
    tags = ", ".join(f'<a href="/tag/{_slug(t) or "t"}">{_esc(t)}</a>' for t in rng.sample(doc.site.nav[1:], 3))
    breaking = (f'<div class="breaking-news"><strong>{_esc(b["read_more"])}:</strong> {c["links"][0]}</div>\n'
                if rng.random() < 0.5 else "")
    return f"""<!DOCTYPE html>
<html lang="{c['lang']}">
<head>
<meta charset="{c['charset']}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{c['title']} | {c['site']}</title>
<meta name="description" content="{c['desc']}">
<link rel="canonical" href="{c['canonical']}">
<meta property="og:type" content="article">
<meta property="og:title" content="{c['title_attr']}">
<meta property="og:site_name" content="{_attr(doc.site.name)}">
<meta property="article:published_time" content="{c['iso']}">
<link rel="stylesheet" href="/static/css/site.{c['h']}.css">
<script async src="https://www.googletagmanager.com/gtag/js?id=G-{c['h'].upper()}"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){{dataLayer.push(arguments);}}
  gtag('js', new Date());
  gtag('config', 'G-{c['h'].upper()}');
</script>
<script type="application/ld+json">{ld}</script>
</head>
<body class="article-page">
<div class="top-bar"><div class="container"><span class="today">{_date_text(c['lang'], doc.time, b)}</span> <a href="/account/login">{_esc(b['login'])}</a> <a class="btn" href="/subscribe">{_esc(b['subscribe'])}</a></div></div>
<header class="site-header">
<div class="container">
<a class="logo" href="/"><img src="/static/img/logo.svg" alt="{_attr(doc.site.name)}"></a>
<nav class="main-nav" aria-label="Main">
<ul>
{c['nav']}
</ul>
</nav>
<form class="search-form" action="/search" method="get"><input type="search" name="q" placeholder="{_attr(b['search'])}…"><button type="submit">{_esc(b['search'])}</button></form>
</div>
</header>
{breaking}<div class="container layout">
<main id="main-content">
<nav class="breadcrumb"><a href="/">{_esc(doc.site.nav[0])}</a> &rsaquo; <a href="/{_slug(doc.site.nav[1]) or 'news'}/">{_esc(doc.site.nav[1])}</a></nav>
<article class="story">
<header class="story-header">
<h1 class="story-title">{c['title']}</h1>
<div class="byline">{_esc(b['by'])} <a rel="author" href="/authors/{c['author_slug']}">{c['author']}</a> &middot; <time datetime="{c['iso']}">{c['date']}</time></div>
</header>
<div class="story-body">
{article}
</div>
<div class="story-tags">{_esc(b['tags'])}: {tags}</div>
<div class="share-bar"><span>{_esc(b['share'])}</span> <a href="https://www.facebook.com/sharer/sharer.php?u={_attr(c['canonical'])}">Facebook</a> <a href="https://twitter.com/intent/tweet?url={_attr(c['canonical'])}">X</a> <a href="mailto:?subject={c['title_attr']}">Email</a></div>
</article>
<section class="related">
<h2>{_esc(b['related'])}</h2>
<ul>
{chr(10).join('<li>' + link + '</li>' for link in c['links'][1:4])}
</ul>
</section>
</main>
<aside class="sidebar">
<div class="widget most-read"><h3>{_esc(b['popular'])}</h3><ol>{''.join('<li>' + link + '</li>' for link in c['links'])}</ol></div>
<div class="widget newsletter"><h3>{_esc(b['newsletter'])}</h3><p>{_esc(b['newsletter_text'])}</p><form action="/newsletter" method="post"><input type="email" name="email"><button>{_esc(b['subscribe'])}</button></form></div>
<div class="ad-slot" data-slot="sidebar-300x250">{_esc(b['advert'])}</div>
</aside>
</div>
<footer class="site-footer">
<div class="container">
<nav class="footer-nav">{c['footer_links']}</nav>
<p class="copyright">&copy; {doc.site.founded}&ndash;{c['year']} {c['site']}. {_esc(b['rights'])}</p>
</div>
</footer>
<div id="cookie-consent" class="cookie-banner" role="dialog" aria-live="polite">{c['cookie']}</div>
<script src="/static/js/main.{c['h']}.js" defer></script>
</body>
</html>
"""


def _theme_blog(gen: _Generator, doc: _Doc, article: str) -> str:
    c = _chrome(gen, doc)
    b, rng = c["b"], gen.rng
    post_id = rng.randint(100, 99999)
    comments = ""
    if rng.random() < 0.5 and doc.category != "boilerplate_only":
        items = []
        for _ in range(rng.randint(1, 4)):
            name = gen.fakers[c["lang"]].first_name()
            text = gen.paragraph(c["lang"], rng.randint(1, 2), "S", doc.topic)
            items.append(f'<li class="comment"><article class="comment-body"><footer class="comment-meta"><b class="fn">{_esc(name)}</b> '
                         f'<time>{_date_text(c["lang"], doc.time, b)}</time></footer><div class="comment-content"><p>{_esc(text)}</p></div>'
                         f'<div class="reply"><a class="comment-reply-link" href="#respond">{_esc(b["reply"])}</a></div></article></li>')
        comments = (f'<div id="comments" class="comments-area">\n<h2 class="comments-title">{len(items)} {_esc(b["comments"])}</h2>\n'
                    f'<ol class="comment-list">\n' + "\n".join(items) + "\n</ol>\n</div>\n")
    months = "".join(f'<li><a href="/{doc.time.year}/{m:02d}/">{_esc(b["months"][m - 1])} {doc.time.year}</a></li>'
                     for m in range(doc.time.month, max(0, doc.time.month - 6), -1))
    cats = "".join(f'<li><a href="/category/{_slug(x) or "c"}/">{_esc(x)}</a></li>' for x in doc.site.nav[1:6])
    return f"""<!DOCTYPE html>
<html lang="{c['lang']}">
<head>
<meta charset="{c['charset']}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{c['title']} &#8211; {c['site']}</title>
<meta name="generator" content="WordPress 6.{rng.randint(1, 5)}.{rng.randint(0, 3)}">
<link rel="canonical" href="{c['canonical']}">
<link rel="stylesheet" id="theme-style-css" href="/wp-content/themes/twentytwenty/style.css?ver=1.{rng.randint(1, 9)}" media="all">
<style>.screen-reader-text{{clip:rect(1px,1px,1px,1px);position:absolute!important;height:1px;width:1px;overflow:hidden}}</style>
</head>
<body class="post-template-default single single-post postid-{post_id}">
<div id="page" class="site">
<a class="skip-link screen-reader-text" href="#content">Skip to content</a>
<header id="masthead" class="site-header">
<div class="site-branding"><p class="site-title"><a href="/" rel="home">{c['site']}</a></p><p class="site-description">{_esc(doc.site.tagline)}</p></div>
<nav id="site-navigation" class="main-navigation">
<button class="menu-toggle" aria-controls="primary-menu" aria-expanded="false">Menu</button>
<ul id="primary-menu" class="menu">
{c['nav']}
</ul>
</nav>
</header>
<div id="content" class="site-content">
<div id="primary" class="content-area">
<main id="main" class="site-main">
<article id="post-{post_id}" class="post-{post_id} post type-post status-publish format-standard hentry">
<header class="entry-header">
<h1 class="entry-title">{c['title']}</h1>
<div class="entry-meta"><span class="posted-on">{_esc(b['posted'])} <time class="entry-date published" datetime="{c['iso']}">{c['date']}</time></span> <span class="byline">{_esc(b['by'])} <span class="author vcard"><a class="url fn n" href="/author/{c['author_slug']}/">{c['author']}</a></span></span></div>
</header>
<div class="entry-content">
{article}
</div>
<footer class="entry-footer"><span class="cat-links">{_esc(b['categories'])}: <a href="/category/{_slug(doc.site.nav[1]) or 'c'}/">{_esc(doc.site.nav[1])}</a></span></footer>
</article>
<nav class="navigation post-navigation" aria-label="Posts">
<div class="nav-links"><div class="nav-previous"><span class="meta-nav">{_esc(b['prev'])}</span> {c['links'][0]}</div><div class="nav-next"><span class="meta-nav">{_esc(b['next'])}</span> {c['links'][1]}</div></div>
</nav>
{comments}</main>
</div>
<aside id="secondary" class="widget-area">
<section class="widget widget_search"><form role="search" method="get" class="search-form" action="/"><input type="search" class="search-field" placeholder="{_attr(b['search'])} …" name="s"></form></section>
<section class="widget widget_recent_entries"><h2 class="widget-title">{_esc(b['recent'])}</h2><ul>{''.join('<li>' + link + '</li>' for link in c['links'])}</ul></section>
<section class="widget widget_archive"><h2 class="widget-title">{_esc(b['archives'])}</h2><ul>{months}</ul></section>
<section class="widget widget_categories"><h2 class="widget-title">{_esc(b['categories'])}</h2><ul>{cats}</ul></section>
</aside>
</div>
<footer id="colophon" class="site-footer">
<div class="site-info">&copy; {c['year']} {c['site']}. {_esc(b['rights'])} <span class="sep"> | </span>{c['footer_links']} <span class="sep"> | </span><a href="https://wordpress.org/">Proudly powered by WordPress</a></div>
</footer>
</div>
<div id="cookie-notice" class="cookie-notice-container" role="dialog">{c['cookie']}</div>
<script src="/wp-includes/js/jquery/jquery.min.js?ver=3.7.1" id="jquery-core-js"></script>
</body>
</html>
"""


def _theme_docs(gen: _Generator, doc: _Doc, article: str) -> str:
    c = _chrome(gen, doc)
    b, rng = c["b"], gen.rng
    g = gen.grammar("en", doc.topic)
    toc = "\n".join(f'<li><a href="/{("guides", "notes", "tutorials")[i % 3]}/{_slug(x)}.html">{_esc(x)}</a></li>'
                    for i, x in enumerate(_capitalize(g("H2")) for _ in range(10)))
    mathjax = ('<script>window.MathJax = {tex: {inlineMath: [["$", "$"]]}};</script>\n'
               '<script defer src="/assets/mathjax/tex-mml-chtml.js"></script>\n') if doc.category == "math" else ""
    minutes = max(1, len(_main_text(doc.blocks).split()) // 200)
    return f"""<!DOCTYPE html>
<html lang="{c['lang']}">
<head>
<meta charset="{c['charset']}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{c['title']} - {c['site']}</title>
<link rel="canonical" href="{c['canonical']}">
<link rel="stylesheet" href="/assets/docs.{c['h']}.css">
<link rel="stylesheet" href="/assets/highlight.min.css">
{mathjax}</head>
<body>
<header class="topbar">
<a class="brand" href="/">{c['site']}</a>
<nav class="topnav"><a href="/">{_esc(b['nav'][0])}</a> <a href="/docs/">Docs</a> <a href="/tutorials/">Tutorials</a> <a href="/blog/">Blog</a> <a href="/community/">Community</a> <a href="https://github.com/{_slug(doc.site.name) or 'org'}">GitHub</a></nav>
<input class="search" type="search" placeholder="{_attr(b['search'])}">
</header>
<div class="cookie-banner" id="cookies">{c['cookie']}</div>
<div class="wrapper">
<nav class="sidebar" aria-label="Contents">
<h4>Contents</h4>
<ul>
{toc}
</ul>
</nav>
<main class="content">
<article class="doc">
<h1>{c['title']}</h1>
<p class="meta">{_esc(b['posted'])} {c['date']} &middot; {minutes} min read</p>
{article}
</article>
<div class="pager"><a class="prev" href="/{rng.choice(['guides', 'notes'])}/{rng.randint(1, 99)}.html">&larr; {_esc(b['prev'])}</a> <a class="next" href="/{rng.choice(['guides', 'notes'])}/{rng.randint(1, 99)}.html">{_esc(b['next'])} &rarr;</a></div>
<div class="feedback">Was this page helpful? <button>Yes</button> <button>No</button></div>
</main>
</div>
<footer class="footer">
<p>&copy; {c['year']} {c['site']}. {_esc(b['rights'])} Code samples are licensed under the MIT License.</p>
<p>{c['footer_links']}</p>
</footer>
<script src="/assets/highlight.min.js"></script>
</body>
</html>
"""


def _theme_portal(gen: _Generator, doc: _Doc, article: str) -> str:
    c = _chrome(gen, doc)
    b, rng = c["b"], gen.rng
    cats = "".join(f'<li><a href="/index.php?cat={i}">{_esc(x)}</a></li>' for i, x in enumerate(doc.site.nav[1:8], 1))
    return f"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="{c['lang']}" lang="{c['lang']}">
<head>
<meta http-equiv="Content-Type" content="text/html; charset={c['charset']}" />
<title>{c['site']} :: {c['title']}</title>
<link href="/css/style.css" rel="stylesheet" type="text/css" />
<script type="text/javascript" src="/js/jquery-1.4.2.min.js"></script>
</head>
<body>
<div id="wrapper">
<div id="header"><h1 class="logo"><a href="/">{c['site']}</a></h1><div class="slogan">{_esc(doc.site.tagline)}</div></div>
<nav id="menu"><ul>
{c['nav']}
</ul></nav>
<div id="left">
<div class="box"><h3>{_esc(b['categories'])}</h3><ul>{cats}</ul></div>
<div class="box"><h3>{_esc(b['login'])}</h3><form action="/login.php" method="post"><input name="user" /> <input type="password" name="pass" /> <input type="submit" value="OK" /></form></div>
</div>
<div id="main">
<div class="post">
<h2 class="title">{c['title']}</h2>
<div class="date">{c['date']} | {_esc(b['by'])} {c['author']}</div>
<div class="entry">
{article}
</div>
<p class="links"><a href="/index.php?cat=1">{_esc(b['read_more'])}</a> | <a href="#comments">{_esc(b['comments'])} ({rng.randint(0, 40)})</a></p>
</div>
</div>
<div id="right">
<div class="box"><h3>{_esc(b['popular'])}</h3><ul>{''.join('<li>' + link + '</li>' for link in c['links'])}</ul></div>
<div class="box ad">{_esc(b['advert'])}<br /><a href="http://ads.example.net/click?id={rng.randint(1000, 99999)}"><img src="/banners/{c['h']}.gif" alt="" /></a></div>
</div>
<div id="footer"><p>Copyright &copy; {doc.site.founded}-{c['year']} {c['site']}. {_esc(b['rights'])} | {c['footer_links']}</p><p>Design by <a href="#">Free CSS Templates</a></p></div>
</div>
<div id="cookie-bar">{c['cookie']}</div>
</body>
</html>
"""


def _theme_spam(gen: _Generator, doc: _Doc, article: str) -> str:
    c = _chrome(gen, doc)
    rng = gen.rng
    spam = gen.lex["spam"]
    kws = rng.sample(spam["keywords"], 10)
    nav = " | ".join(f'<a href="/{_slug(k)}.html">{_esc(_title_case(k))}</a>' for k in kws)
    side = "".join(f'<li><a href="http://{rng.choice(spam["domains"])}/?ref={rng.randint(1, 999)}">{_esc(_title_case(k))}</a></li>'
                   for k in rng.sample(spam["keywords"], 8))
    return f"""<html>
<head>
<meta charset="{c['charset']}">
<title>{c['title']}</title>
<meta name="keywords" content="{_attr(', '.join(kws))}">
</head>
<body bgcolor="#000000" text="#ffff00">
<nav class="nav">{nav}</nav>
<div class="header"><h1>{c['title']}</h1></div>
<div class="cookie">{c['cookie']}</div>
<div class="content">
{article}
</div>
<div class="sidebar"><h3>Top Links</h3><ul>{side}</ul></div>
<div class="footer">&copy; {c['year']} {_esc(doc.site.domain)}. All rights reserved. {c['footer_links']}</div>
</body>
</html>
"""


_THEMES = {"news": _theme_news, "blog": _theme_blog, "docs": _theme_docs, "portal": _theme_portal, "spam": _theme_spam}


# --- binary payloads ------------------------------------------------------------------------------


def _png(rng: random.Random) -> bytes:
    width, height = rng.randint(8, 48), rng.randint(8, 48)
    raw = b"".join(b"\x00" + bytes(rng.getrandbits(8) for _ in range(width * 3)) for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _jpeg(rng: random.Random) -> bytes:
    header = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x48\x00\x48\x00\x00"
    return header + bytes(rng.getrandbits(8) for _ in range(rng.randint(2000, 12000))) + b"\xff\xd9"


def _pdf(lines: list[str]) -> bytes:
    text = "BT /F1 11 Tf 72 720 Td 14 TL " + " ".join(
        "(" + line.encode("latin-1", "replace").decode("latin-1").replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
        for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(text.encode('latin-1'))} >>\nstream\n{text}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{obj}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


# --- WARC ---------------------------------------------------------------------------------------


def _http_date(when: dt.datetime) -> str:
    return when.strftime("%a, %d %b %Y %H:%M:%S GMT")


def _warc_date(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_warc(gen: _Generator, name: str, docs: list[_Doc], seed: int, warcinfo_id: str) -> tuple[bytes, dict]:
    """The bytes of one WARC file and {doc.n: offset of its response record}."""
    rng = gen.rng
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    first = min(d.time for d in docs)
    info = (f"software: curate-sample/1 (warcio)\r\nformat: WARC File Format 1.0\r\n"
            f"conformsTo: http://bibnum.bnf.fr/WARC/WARC_ISO_28500_version1_latestdraft.pdf\r\n"
            f"isPartOf: curate-sample-seed-{seed}\r\n"
            f"description: Synthetic pages generated by curate.sample; no page was fetched from the web.\r\n"
            f"robots: classic\r\nhttp-header-user-agent: {USER_AGENT}\r\n").encode()
    headers = StatusAndHeaders("", [("WARC-Type", "warcinfo"), ("WARC-Record-ID", warcinfo_id),
                                    ("WARC-Date", _warc_date(first)), ("WARC-Filename", name.rsplit("/", 1)[-1]),
                                    ("Content-Type", "application/warc-fields")], protocol="WARC/1.0")
    writer.write_record(writer.create_warc_record("", "warcinfo", payload=io.BytesIO(info), length=len(info),
                                                  warc_headers=headers))
    offsets = {}
    for doc in docs:
        if doc.payload is not None:
            payload, ctype = doc.payload, doc.content_type + (f"; charset={doc.charset}" if doc.charset else "")
        else:
            payload, ctype = gen.render(doc)
        target = doc.url
        rest = target.split("://", 1)[1]
        host, slash, path = rest.partition("/")
        path = (slash + path).split("#", 1)[0] or "/"
        lang = doc.lang or "en"
        request_headers = StatusAndHeaders(f"GET {path} HTTP/1.1", [
            ("Host", host.lower()), ("User-Agent", USER_AGENT),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("Accept-Language", f"{lang},en;q=0.5" if lang != "en" else "en-US,en;q=0.5"),
            ("Accept-Encoding", "identity"), ("Connection", "close")], is_http_request=True)
        writer.write_record(writer.create_warc_record(target, "request", http_headers=request_headers, warc_headers_dict={
            "WARC-Type": "request", "WARC-Record-ID": doc.request_id, "WARC-Warcinfo-ID": warcinfo_id,
            "WARC-Date": _warc_date(doc.time), "WARC-Target-URI": target, "WARC-Concurrent-To": doc.record_id}))
        http = [("Date", _http_date(doc.time)), ("Server", doc.site.server), ("Content-Type", ctype),
                ("Content-Length", str(len(payload)))]
        if doc.payload is None:
            http.append(("Last-Modified", _http_date(doc.published)))
            http.append(("Cache-Control", rng.choice(["max-age=300", "no-cache", "public, max-age=600", "private, max-age=0"])))
            http.append(("Vary", "Accept-Encoding"))
            if rng.random() < 0.4:
                http.append(("Set-Cookie", f"sid={rng.getrandbits(64):016x}; Path=/; HttpOnly; SameSite=Lax"))
            if rng.random() < 0.3:
                http.append(("X-Frame-Options", "SAMEORIGIN"))
        else:
            http.append(("Accept-Ranges", "bytes"))
            http.append(("ETag", f'"{rng.getrandbits(48):012x}"'))
        http.append(("Connection", "close"))
        offsets[doc.n] = buffer.tell()
        writer.write_record(writer.create_warc_record(
            target, "response", payload=io.BytesIO(payload), length=len(payload),
            http_headers=StatusAndHeaders("200 OK", http, protocol="HTTP/1.1"),
            warc_headers_dict={"WARC-Type": "response", "WARC-Record-ID": doc.record_id, "WARC-Warcinfo-ID": warcinfo_id,
                               "WARC-Concurrent-To": doc.request_id, "WARC-Date": _warc_date(doc.time),
                               "WARC-Target-URI": target, "WARC-IP-Address": doc.site.ip}))
    return buffer.getvalue(), offsets


# --- entry point --------------------------------------------------------------------------------


def generate_sample_corpus(out_dir: Path, *, seed: int = 0, pages: int = 3000, pages_per_warc: int = 500) -> SampleCorpus:
    """Write the seeded sample corpus into ``out_dir`` (see the module docstring)."""
    if pages < 1 or pages_per_warc < 1:
        raise ValueError("pages and pages_per_warc must be >= 1")
    out_dir = Path(out_dir)
    warc_dir = out_dir / "warc"
    warc_dir.mkdir(parents=True, exist_ok=True)
    for stale in warc_dir.glob("sample-*.warc.gz"):
        stale.unlink()
    gen = _Generator(seed)
    docs = gen.plan(pages)

    # Crawl order is not time order across files: shuffle, then sort each file by fetch time.
    order = list(docs)
    gen.rng.shuffle(order)
    warc_files, location = [], {}
    for index, start in enumerate(range(0, len(order), pages_per_warc)):
        chunk = sorted(order[start:start + pages_per_warc], key=lambda d: (d.time, d.n))
        source = f"sample-{index:05d}.warc.gz"
        warcinfo_id = f"<urn:uuid:{uuid.UUID(int=gen.rng.getrandbits(128), version=4)}>"
        data, offsets = _write_warc(gen, f"warc/{source}", chunk, seed, warcinfo_id)
        path = warc_dir / source
        path.write_bytes(data)
        warc_files.append(path)
        for doc in chunk:
            location[doc.n] = (source, offsets[doc.n])

    ids = {d.n: document_id(*location[d.n]) for d in docs}
    rows, categories, languages, duplicates, defects = [], Counter(), Counter(), Counter(), Counter()
    pii_documents = 0
    for doc in sorted(docs, key=lambda d: location[d.n]):
        source, offset = location[doc.n]
        main_text = None if doc.category == "non_html" else _main_text(doc.blocks)
        near_cluster = None
        if doc.kind == "near":
            near_cluster = ids[doc.source.n]
        elif doc.used_as == "near":
            near_cluster = ids[doc.n]
        rows.append({
            "id": ids[doc.n], "source": source, "offset": offset, "file": f"warc/{source}",
            "warc_record_id": doc.record_id, "url": doc.url, "fetch_time": _warc_date(doc.time),
            "content_type": doc.content_type, "charset": doc.charset, "language": doc.lang, "category": doc.category,
            "topic": doc.topic, "title": doc.title or None,
            "exact_dup_of": ids[doc.source.n] if doc.kind == "exact" else None,
            "near_dup_cluster": near_cluster,
            "near_dup_of": ids[doc.source.n] if doc.kind == "near" else None,
            "near_dup_edit_fraction": doc.near_edit_fraction if doc.kind == "near" else (0.0 if near_cluster else None),
            "near_dup_jaccard": doc.near_jaccard if doc.kind == "near" else (1.0 if near_cluster else None),
            "url_refetch_of": ids[doc.source.n] if doc.kind == "refetch" else None,
            "planted_pii": doc.pii, "planted_lines": doc.planted_lines, "defects": doc.defects,
            "words": None if main_text is None else len(main_text.split()),
            "main_text": main_text,
        })
        categories[doc.category] += 1
        languages[doc.lang or "none"] += 1
        if doc.kind != "original":
            duplicates[{"exact": "exact_dup", "near": "near_dup", "refetch": "url_refetch"}[doc.kind]] += 1
        pii_documents += bool(doc.pii)
        defects.update(doc.defects)

    ground_truth = out_dir / "ground_truth.jsonl"
    ground_truth.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    corpus = SampleCorpus(
        root=out_dir, warc_files=warc_files, ground_truth=ground_truth, readme=out_dir / "README.md", seed=seed,
        records=len(docs), categories={k: categories[k] for k in CATEGORY_NAMES if categories[k]},
        languages=dict(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))),
        duplicates={k: duplicates[k] for k in ("exact_dup", "near_dup", "url_refetch")}, pii_documents=pii_documents,
        defects={k: defects[k] for k in DEFECTS if defects[k]},
    )
    corpus.readme.write_text(_readme(corpus, pages_per_warc, rows), encoding="utf-8")
    return corpus


def _readme(corpus: SampleCorpus, pages_per_warc: int, rows: list[dict]) -> str:
    from importlib.metadata import version

    def table(title: str, counts: dict) -> str:
        return f"| {title} | records |\n|---|---:|\n" + "".join(f"| {k} | {v} |\n" for k, v in counts.items())

    pii = Counter(p["type"] for r in rows for p in r["planted_pii"])
    clusters = Counter(r["near_dup_cluster"] for r in rows if r["near_dup_cluster"])
    return f"""# curate sample corpus

A synthetic web crawl written by `curate.sample.generate_sample_corpus` (`curate sample`) with
seed {corpus.seed}: {corpus.records} HTTP response records in {len(corpus.warc_files)} WARC files
(`warc/`, up to {pages_per_warc} responses each). Nothing in it was fetched from the web.

- Page text: hand-written grammars and word lists in eleven languages
  (`curate/data/sample_lexicon.json`); code and formulas: templates in
  `curate/data/sample_snippets.txt`; names, places, companies and every planted PII value: Faker
  {version("faker")} with a seeded generator. All PII is fake.
- Each WARC file starts with a `warcinfo` record; every page is a `request` record followed by its
  `response` record (HTTP headers with Content-Type and charset); one gzip member per record. Fetch
  times lie in 2023-2025; files are in shuffled crawl order, each sorted by fetch time.
- `ground_truth.jsonl`: one line per response record with its reader id
  (`curate.schema.document_id(source, offset)`, `source` relative to `warc/`), URL, language,
  category, duplicate links (`exact_dup_of`, `near_dup_cluster`/`near_dup_of` with the edit fraction
  and word 5-gram Jaccard, `url_refetch_of`), planted PII, planted repeated lines, defects and the
  gold main text.

Same seed, `pages` and `pages_per_warc` give byte-identical files (with the same Faker, warcio
{version("warcio")} and zlib).

{table("category", corpus.categories)}
{table("language", corpus.languages)}
{table("duplicate kind (copies)", corpus.duplicates)}
Near-duplicate clusters: {len(clusters)} (sizes {dict(sorted(Counter(clusters.values()).items()))}).

{table("planted PII type", dict(sorted(pii.items())))}
Documents with planted PII: {corpus.pii_documents}.

{table("defect", corpus.defects)}"""
