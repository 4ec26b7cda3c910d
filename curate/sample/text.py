"""Words and text: the lexicon and snippet files, inflection, capitals, slugs, HTML escaping."""
from __future__ import annotations

import html as _html
import json
import re
import unicodedata
from functools import lru_cache

from curate.sample.constants import _AN_EXCEPTIONS, _SMALL_WORDS, LEXICON_PATH, SNIPPETS_PATH

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


