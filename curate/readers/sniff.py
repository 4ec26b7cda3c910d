"""Looking at HTTP headers and the first bytes of a payload: media type, HTML or not, charset.

Cheap, header-level decisions only. Full charset detection (guessing from the bytes) is the
extraction stage's job; the reader records what the page itself declares.
"""
from __future__ import annotations

import codecs
import re

HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Declared types too vague to trust: the payload decides. text/plain is here because
# misconfigured servers label HTML pages text/plain; robots.txt and logs fail the sniff.
SNIFFED_MEDIA_TYPES = frozenset({
    "", "text/plain", "application/octet-stream", "binary/octet-stream", "application/unknown",
    "unknown/unknown", "application/x-unknown-content-type", "*/*",
})

# WHATWG MIME sniffing: an HTML payload starts (after whitespace) with one of these tags,
# followed by a space or '>' (we also take the tabs and newlines real pages put there).
# Comments count without a terminator.
_HTML_PREFIXES = tuple(p.encode() for p in (
    "<!doctype html", "<html", "<head", "<script", "<iframe", "<h1", "<div", "<font", "<table",
    "<a", "<style", "<title", "<b", "<body", "<br", "<p",
))
_TAG_ENDS = (b" ", b">", b"\t", b"\n", b"\r", b"\f")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16le"), (codecs.BOM_UTF16_BE, "utf-16be"))
# <meta charset="x"> and <meta http-equiv="Content-Type" content="text/html; charset=x">.
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([a-z0-9_.:-]+)""", re.IGNORECASE)
CHARSET_SNIFF_BYTES = 4096


def parse_content_type(value: str | None) -> tuple[str, str | None]:
    """(media type lower-cased, charset parameter or None) of a Content-Type value."""
    if not value:
        return "", None
    media_type, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset":
            charset = val.strip().strip("'\"") or None
    return media_type.strip().lower(), charset


def looks_like_html(payload: bytes) -> bool:
    head = payload[:1024]
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    head = head.lstrip(b" \t\n\r\f").lower()
    if head.startswith(b"<!--"):
        return True
    for prefix in _HTML_PREFIXES:
        if head.startswith(prefix) and head[len(prefix):len(prefix) + 1] in _TAG_ENDS:
            return True
    return False


def declared_charset(http_charset: str | None, payload: bytes) -> str | None:
    """The charset the page declares: BOM, then HTTP header, then <meta> in the first 4 KiB.

    The WHATWG order of precedence. Only names Python knows are returned (lower-cased), so
    a misspelt label never reaches a decoder downstream.
    """
    for bom, name in _BOMS:
        if payload.startswith(bom):
            return name
    candidates = [http_charset]
    match = _META_CHARSET.search(payload[:CHARSET_SNIFF_BYTES])
    if match:
        candidates.append(match.group(1).decode("ascii", "ignore"))
    for candidate in candidates:
        if candidate and _known_codec(candidate):
            return candidate.lower()
    return None


def _known_codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True
