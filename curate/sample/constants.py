"""The sample corpus's fixed numbers: languages, categories, rates, formats."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
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

