"""Replace detected PII spans: typed placeholders, or consistent surrogates per document.

Spans are code-point offsets into the Python string, so a replacement can never split a UTF-8
sequence. A replacement whose edge is a letter or digit and would touch a letter or digit gets a
space on that side, so a surrogate never merges with its neighbour into one word (placeholders
start with ``<`` and end with ``>``, so they never merge).

Surrogates are the same for the same value inside one document (``alice@x.org`` twice -> the
same fake address twice) and differ between values; they come from ranges reserved for examples
(RFC 2606 domains, RFC 5737/3849 documentation networks, the 555-01xx fictional block, the
all-zero SSN area, IBAN check digits 00 that no real IBAN has, a test-range card number), so a
surrogate can never be someone's real data. Values are compared after dropping separators and
case, so ``+1 (555) 010-0199`` and ``+1 555 010 0199`` get the same surrogate.
"""
from __future__ import annotations

import re
from collections import Counter

from curate.pii.detectors import ADDRESS, CARD, EMAIL, IBAN, IP, NAME, PHONE, SECRET, SSN, DetectorOptions, Span, find_pii, luhn_valid

_SEPARATORS = re.compile(r"[\s\-.()]")
PLACEHOLDERS = {t: f"<{t}>" for t in (EMAIL, PHONE, IP, CARD, IBAN, SSN, SECRET, NAME, ADDRESS)}


def _surrogate(kind: str, value: str, n: int) -> str:
    """The ``n``-th (1-based) distinct value of ``kind`` in a document, as a reserved fake."""
    if kind == EMAIL:
        return f"person{n}@example.com"
    if kind == PHONE:
        return f"+1-555-01{n % 100:02d}"
    if kind == IP:
        return f"2001:db8::{n:x}" if ":" in value else f"192.0.2.{n % 254 + 1}"
    if kind == CARD:
        # A 16-digit test-range Visa with a valid check digit: still parses as a card for
        # downstream tools, and is one of the numbers networks reserve for testing.
        body = f"400000000000{n % 1000:03d}"
        check = next(d for d in "0123456789" if luhn_valid(body + d))
        return body + check
    if kind == IBAN:
        return f"XX00TEST{n:010d}"
    if kind == SSN:
        return f"000-00-{n % 10000:04d}"
    if kind == NAME:
        return f"Person {n}"
    if kind == ADDRESS:
        return f"{n} Example Street"
    return PLACEHOLDERS[kind]  # secrets: a fake key teaches nothing and may look real


def replace_spans(text: str, spans: list[Span], mode: str = "placeholder") -> tuple[str, Counter]:
    """``text`` with each span replaced; returns the new text and the count per type.

    ``spans`` must be sorted and non-overlapping (``resolve_overlaps`` guarantees both).
    """
    counts: Counter = Counter()
    if not spans:
        return text, counts
    seen: dict[tuple[str, str], int] = {}
    per_type: Counter = Counter()
    out: list[str] = []
    cursor = 0
    for start, end, kind in spans:
        counts[kind] += 1
        if mode == "surrogate":
            key = (kind, _SEPARATORS.sub("", text[start:end]).lower())
            if key not in seen:
                per_type[kind] += 1
                seen[key] = per_type[kind]
            replacement = _surrogate(kind, text[start:end], seen[key])
        else:
            replacement = PLACEHOLDERS[kind]
        out.append(text[cursor:start])
        # Only letters/digits can merge: "<PHONE>" next to a word stays two tokens, a surrogate
        # like "Person 1" does not.
        if start > 0 and text[start - 1].isalnum() and replacement[0].isalnum():
            replacement = " " + replacement
        if end < len(text) and text[end].isalnum() and replacement[-1].isalnum():
            replacement = replacement + " "
        out.append(replacement)
        cursor = end
    out.append(text[cursor:])
    return "".join(out), counts


def scrub(text: str | None, options: DetectorOptions = DetectorOptions()) -> str | None:
    """``text`` with every rule-detected span replaced by its placeholder (for records such as
    reject rows, whose URLs may carry an address or a credential)."""
    if not text:
        return text
    spans = find_pii(text, options)
    return replace_spans(text, spans)[0] if spans else text
