"""Line keys for Llama 3's line-level dedup: which lines of a document count as "the same line".

A line's key is the xxh3-64 of ``"<bucket>\\x00<language>\\x00<normalised line>"``, so lines are only
ever compared within one bucket of documents and one language, as the report does. Normalisation:

* ``whitespace`` (default): the line with runs of whitespace collapsed and the ends stripped;
* ``ccnet``: additionally lower-cased, accents stripped, digits turned into 0 and punctuation
  removed (CCNet's rule), so ``© 2023 Example Inc.`` and ``© 2024 Example Inc`` are one line.

Lines whose normalised form is shorter than ``min_line_chars`` (blank lines, a lone ``}``) get no
key: they are never counted and never removed.
"""
from __future__ import annotations

import re
import unicodedata

import xxhash

NORMALISATIONS = ("whitespace", "ccnet")
_DIGITS = re.compile(r"\d")


def _ccnet(line: str) -> str:
    decomposed = unicodedata.normalize("NFD", line.lower())
    kept = "".join(c for c in decomposed if not unicodedata.category(c).startswith(("M", "P")))
    return _DIGITS.sub("0", kept)


def normalise_line(line: str, normalisation: str = "whitespace") -> str:
    if normalisation == "ccnet":
        line = _ccnet(line)
    elif normalisation != "whitespace":
        raise ValueError(f"unknown line normalisation {normalisation!r}; one of {NORMALISATIONS}")
    return " ".join(line.split())


def bucket_of(document_id: str, num_buckets: int) -> int:
    """The document's bucket: a stable hash of its id (the same on every worker and node)."""
    return xxhash.xxh64_intdigest(document_id.encode("utf-8")) % num_buckets


def line_keys(text: str | None, salt: str, normalisation: str = "whitespace", min_line_chars: int = 1) -> list[int | None]:
    """One key per line of ``text`` (split on ``\\n``), None for lines too short to count."""
    keys: list[int | None] = []
    prefix = salt.encode("utf-8")
    for line in (text or "").split("\n"):
        normal = normalise_line(line, normalisation)
        keys.append(xxhash.xxh3_64_intdigest(prefix + normal.encode("utf-8")) if len(normal) >= min_line_chars else None)
    return keys


def line_salt(bucket: int, language: str | None) -> str:
    return f"{bucket}\x00{language or ''}\x00"
