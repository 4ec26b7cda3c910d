"""HTML -> main text and title, as plain text that keeps code and math (trafilatura underneath).

The Llama 3 report used its own HTML parser that keeps code blocks and math and writes no
markdown. curate gets there on top of trafilatura in four steps, one parse per page:

1. Decode: the ``charset`` column (HTTP header) when it decodes cleanly, else BOM, ``<meta>`` /
   XML declaration, UTF-8, and charset_normalizer; binary payloads are rejected.
2. Protect (on the parsed DOM, before trafilatura sees it): every ``<pre>`` block and
   multi-line ``<code>`` is kept aside verbatim and its element's text becomes a marked,
   whitespace-flattened copy, so trafilatura judges the block by its real text and we can put
   the original back afterwards. Formulas become their TeX source inline: MathML (TeX
   annotation, else ``alttext``, else a linearised form), ``<script type="math/tex">`` and
   formula images (their ``alt``); KaTeX / MathJax / Wikipedia renderings are replaced whole so
   nothing is doubled. TeX already in the text (``$...$``, ``\\(...\\)``) is left alone.
3. Extract with trafilatura (``bare_extraction``, comments off, tables on, precision-leaning
   settings chosen by measurement; see ``evals/extraction.py``), by the cheapest path that
   is sure (``strategy: container``, the default; the ``extraction`` column names the path):

   * ``container``: trafilatura's own content selectors (``BODY_XPATH``, in its order) find the
     page's main container on the raw tree; trafilatura runs in fast mode on a page holding that
     container alone, and the text is kept when it has at least ``container_min_chars`` (500)
     characters. Most article pages end here, at a fraction of the cost: every pass of
     trafilatura walks the container instead of the page, and no fallback extractor runs.
   * ``trafilatura``: otherwise (no container, a short one, a thread forum) trafilatura runs on the
     whole page, as with ``strategy: full``. Its comparison with readability and jusText runs
     where its own text is under ``compare_below_chars`` (2,000) characters or has no paragraph
     text: trafilatura runs it on every page, but it changes the text only where the main text is
     deficient, and on the two gold sets 1,000 to 4,000 characters give exactly its F1
     (``fast_trafilatura.whole_page_body``; ``None`` runs it everywhere).
   * ``fallback``: when that finds less than ``fallback_below_chars`` (250, trafilatura's own
     "too short" size) the page is retried once in trafilatura's balanced mode (fast: its
     fallbacks changed no score on the gold sets) and the longer text kept.

   trafilatura's XPath expressions are evaluated as compiled Python (``curate/extract/``): the
   same elements in the same order, checked against lxml on every real page in ../shared, 2.5
   to 5 times faster each (``compiled_xpaths``); its pruning lists are selected in one walk and
   its link-density test runs only where a link is (same trees, tested). The element classes are
   chosen in C.
4. Write the text ourselves from trafilatura's XML body, so no markdown is ever produced:
   blocks (paragraphs, headings, quotes, lists, tables, code) are separated by a blank line,
   list items and table rows by a newline, table cells by a tab, ``<br>`` by a newline.
   Code comes back verbatim (indentation, blank lines), on lines of its own.

Each document runs under a time bound (``timeout_s``), and nothing a page contains makes the stage
raise: every failure is a reject row (``html_too_large``, ``undecodable_html``, ``no_main_text``,
``extraction_timeout``, ``extraction_error`` with the exception's class name). The bound is an
interval timer (SIGALRM) on the main thread, which is where Ray Data runs ``map_batches`` tasks;
elsewhere (Ray Data actor pools call the UDF off the main thread, as do threaded callers) a
watchdog thread raises the timeout in the extracting thread (``documents_bound_by_watchdog``).
"""
from __future__ import annotations

import codecs
import contextlib
import copy
import ctypes
import itertools
import logging
import re
import signal
import sys
import threading
import time
import unicodedata
from dataclasses import dataclass
from typing import Literal

import charset_normalizer
import lxml.etree
import lxml.html
import pyarrow as pa
import trafilatura
from pydantic import Field

from curate.contract import StageOutput, StageParams
from curate.extract.fast_trafilatura import (
    compiled_xpaths,
    fast_container_body,
    main_container_candidates,
    sequence_replica_usable,
    whole_page_body,
    whole_page_replica_usable,
)
from curate.stages.base import Stage

EXTRACTED, FALLBACK, PASSTHROUGH, CONTAINER = "trafilatura", "fallback", "passthrough", "container"


class HtmlExtractorParams(StageParams):
    timeout_s: float = Field(default=10.0, gt=0, le=3600, description="per-document time bound -> extraction_timeout")
    max_html_bytes: int = Field(default=10 * 2**20, ge=1, description="larger payloads -> html_too_large, never parsed")
    min_chars: int = Field(default=1, ge=1, description="shorter main text -> no_main_text (length_filter judges quality)")
    favor: Literal["precision", "balanced", "recall"] = Field(default="precision", description="trafilatura's focus")
    fast: bool = Field(default=False, description="skip trafilatura's readability/justext comparison (faster, less recall)")
    fallback_below_chars: int = Field(
        default=250, ge=0, description="main text shorter than this: retry in balanced mode, keep the longer (0: off)")
    strategy: Literal["container", "full"] = Field(
        default="container",
        description="container: trafilatura on the page's main container alone, the whole page only when that is "
                    "unsure; full: trafilatura on the whole page for every page")
    container_min_chars: int = Field(
        default=500, ge=1, description="container text at least this long is kept; shorter -> the whole page is extracted")
    compare_below_chars: int | None = Field(
        default=2000, ge=0,
        description="whole-page path: trafilatura's comparison with readability and jusText runs only when its main "
                    "text is shorter than this or has no paragraph text (None: on every page, as trafilatura does)")
    compiled_xpaths: bool = Field(
        default=True, description="evaluate trafilatura's XPaths as compiled Python (same results, faster)")
    include_tables: bool = True
    keep_code: bool = True
    keep_math: bool = True


# --- decoding ------------------------------------------------------------------------------

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.I)
# Labels decoded with the superset browsers use (WHATWG Encoding Standard), so pages labelled
# with the narrow charset but using its common extensions still decode cleanly.
_SUPERSETS = {
    "iso8859-1": "cp1252", "ascii": "cp1252", "iso8859-9": "cp1254", "iso8859-11": "cp874", "tis-620": "cp874",
    "gb2312": "gb18030", "gbk": "gb18030", "shift_jis": "cp932", "euc_kr": "cp949", "big5": "big5hkscs",
}
_EXTRA_LABELS = {"x-sjis": "shift_jis", "windows-31j": "cp932", "x-euc-jp": "euc_jp", "ks_c_5601-1987": "cp949",
                 "x-gbk": "gbk", "x-mac-roman": "mac_roman", "unicode": "utf-16"}
_BINARY = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


def _codec(label: str | None) -> str | None:
    """Python codec for a charset label (None when unknown)."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _EXTRA_LABELS.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return _SUPERSETS.get(name, name)


_WHATWG_NAMES = {"cp932": "shift_jis", "shift_jis": "shift_jis", "cp949": "euc-kr", "big5hkscs": "big5", "cp874": "windows-874", "mac-roman": "macintosh"}


def _charset_name(codec: str) -> str:
    """The name written to the ``charset`` column: the WHATWG Encoding Standard's name for the
    decoder used (``windows-1252`` for ISO-8859-1 labels, ``shift_jis`` for Windows-31J, ...)."""
    if codec.startswith("utf-8"):
        return "utf-8"
    if codec.startswith("cp125"):
        return "windows-" + codec[2:]
    if codec.startswith("iso8859-"):
        return "iso-8859-" + codec[8:]
    return _WHATWG_NAMES.get(codec, codec.replace("_", "-"))


def _try_decode(payload: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        text = payload.decode(codec)
    except (UnicodeDecodeError, LookupError):
        if codec == "cp1252":  # five bytes are unassigned in windows-1252; ISO-8859-1 maps them all
            return _try_decode(payload, "iso8859-1")
        return None
    if codec.startswith(("utf-16", "utf-32")) and "<" not in text[:2048]:
        return None  # an 8-bit page mislabelled as UTF-16 "decodes" to CJK noise
    return text


def _utf16_without_bom(head: bytes) -> str | None:
    if head.count(0) < len(head) // 4:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    return "utf-16-be" if even > 2 * odd else "utf-16-le" if odd > 2 * even else None


def detect_charset(payload: bytes, declared: str | None = None) -> tuple[str, str] | None:
    """(text, Python codec) of an HTML payload, or None when it does not decode to text.

    Order: byte-order mark; the declared (HTTP) charset if it decodes cleanly; ``<meta>`` or XML
    declaration in the first 4 KiB; UTF-16 by its NUL pattern; UTF-8; charset_normalizer's
    guesses. One exception to the order: a payload that is valid UTF-8 and not plain ASCII is
    UTF-8 whatever its labels say (multi-byte UTF-8 sequences practically never occur by chance
    in legacy-encoded text, while labels, above all HTTP's old ISO-8859-1 default, are often
    wrong). Payloads that decode mostly to control characters (binary served as HTML) are None.
    """
    for bom, codec in _BOMS:
        if payload.startswith(bom):
            text = _try_decode(payload, codec)
            if text is not None:
                return _unless_binary(text, codec)
            break
    if not payload.isascii():
        try:
            return _unless_binary(payload.decode("utf-8"), "utf-8")
        except UnicodeDecodeError:
            pass
    head = payload[:4096]
    candidates = [_codec(declared)]
    sniffed = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    if sniffed:
        meta_codec = _codec(sniffed.group(1).decode("ascii"))
        # a <meta> read from ASCII-compatible bytes cannot mean UTF-16 (WHATWG: use UTF-8)
        candidates.append("utf-8" if meta_codec and meta_codec.startswith(("utf-16", "utf-32")) else meta_codec)
    candidates += [_utf16_without_bom(head[:1024]), "utf-8"]
    for codec in candidates:
        text = _try_decode(payload, codec)
        if text is not None:
            return _unless_binary(text, codec)
    sample = payload if len(payload) <= 1 << 18 else payload[: 1 << 17]
    for match in charset_normalizer.from_bytes(sample):
        codec = _codec(match.encoding)
        text = _try_decode(payload, codec)
        if text is not None:
            return _unless_binary(text, codec)
    return None


def _unless_binary(text: str, codec: str) -> tuple[str, str] | None:
    sample = text[:8192]
    if len(_BINARY.findall(sample)) > 0.05 * max(1, len(sample)):
        return None
    return text, codec


def decode_html(payload: bytes, declared: str | None = None) -> tuple[str, str] | None:
    """(text, charset name) of an HTML payload, or None (see ``detect_charset``)."""
    decoded = detect_charset(payload, declared)
    return None if decoded is None else (decoded[0], _charset_name(decoded[1]))


# --- time bound ----------------------------------------------------------------------------


def _disarm(teardown, exc_type) -> bool:
    """Run a time bound's teardown until it completes: a timeout landing inside it must not leave a
    timer or handler behind. A timeout that fired during a clean exit is raised afterwards."""
    fired = False
    while True:
        try:
            teardown()
            break
        except ExtractionTimeout:
            fired = True
    if fired and exc_type is None:
        raise ExtractionTimeout()
    return False


class ExtractionTimeout(BaseException):
    """Raised into the extraction when its time is up.

    A BaseException so that trafilatura's own ``except Exception`` blocks cannot swallow it; it
    is also raised again every ``_REFIRE_S`` until the bound is disarmed, for the same reason.
    """


_REFIRE_S = 0.05


class _AlarmBound:
    """SIGALRM interval timer; the main thread only (Python runs signal handlers there).

    The handler raises only while the frame that entered the bound is still running. A timer that
    fires in the instant the block ends (at the entry of ``__exit__``, before it disarms) makes
    ``__exit__`` raise without disarming; the owner catches the timeout and returns, and the next
    refire, finding the owner gone from the stack, disarms the timer instead of raising into
    whatever code runs next (a test runner's report, a Ray worker's loop).
    """

    def __init__(self, seconds: float, owner=None):
        self.seconds = seconds
        self.armed = False
        self.previous = None
        self.owner = owner  # the frame whose work is bounded

    def _on_alarm(self, signum, frame):
        if not self.armed:
            return
        running = frame
        while running is not None:
            if running is self.owner:
                raise ExtractionTimeout()
            running = running.f_back
        self._disarm_alarm()  # the bounded frame has returned: nothing left to interrupt

    def __enter__(self):
        self.previous = signal.signal(signal.SIGALRM, self._on_alarm)
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds, _REFIRE_S)
        return self

    def __exit__(self, exc_type, exc, tb):
        return _disarm(self._disarm_alarm, exc_type)

    def _disarm_alarm(self):
        if not self.armed:
            return
        self.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)
        self.owner = None


def _raise_in_thread(thread_id: int, exc_type: type[BaseException] | None) -> None:
    # exc_type None clears an exception set earlier and not yet delivered.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None)


class _Watchdog:
    """One daemon thread per process raising ExtractionTimeout in threads past their deadline.

    For extraction off the main thread (threaded actors, a thread pool), where SIGALRM cannot be
    used. The exception is delivered at the thread's next Python bytecode, like a signal.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._due: dict[int, list] = {}  # token -> [deadline, thread id, fired]
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> int:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="curate-extract-watchdog", daemon=True)
                self._thread.start()
            token = next(self._tokens)
            self._due[token] = [time.monotonic() + seconds, threading.get_ident(), False]
            self._cond.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._cond:
            entry = self._due.pop(token, None)
            if entry is not None and entry[2]:
                _raise_in_thread(entry[1], None)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                wait = None
                for entry in self._due.values():
                    if entry[0] <= now:
                        _raise_in_thread(entry[1], ExtractionTimeout)
                        entry[0], entry[2] = now + _REFIRE_S, True
                    wait = entry[0] - now if wait is None else min(wait, entry[0] - now)
                self._cond.wait(wait)


_WATCHDOG = _Watchdog()


class _WatchdogBound:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.token: int | None = None

    def __enter__(self):
        self.token = _WATCHDOG.arm(self.seconds)
        return self

    def __exit__(self, exc_type, exc, tb):
        return _disarm(lambda: _WATCHDOG.disarm(self.token), exc_type)


def alarm_usable() -> bool:
    """SIGALRM can bound this thread's work: the main thread, and no one else's timer running."""
    return threading.current_thread() is threading.main_thread() and signal.getitimer(signal.ITIMER_REAL)[0] == 0


def time_bound(seconds: float):
    """Context manager raising ExtractionTimeout in the block after ``seconds``.

    Pure-Python work is interrupted at the next bytecode; a single long C call (libxml2 parsing
    a page, bounded by ``max_html_bytes``) finishes first.
    """
    # the caller's frame: SIGALRM interrupts it (and what it calls), nothing after it returns
    return _AlarmBound(seconds, sys._getframe(1)) if alarm_usable() else _WatchdogBound(seconds)


# --- protecting code and math --------------------------------------------------------------

# Unicode noncharacters: never in interchanged text, kept by lxml and trafilatura as ordinary
# characters, and no whitespace, so a marked span survives trafilatura's whitespace trimming.
_CODE_OPEN, _CODE_MID, _CODE_CLOSE, _MATH_OPEN, _MATH_CLOSE = "\ufdd0", "\ufdd1", "\ufdd2", "\ufdd3", "\ufdd4"
_MARKERS = (_CODE_OPEN, _CODE_MID, _CODE_CLOSE, _MATH_OPEN, _MATH_CLOSE)
_NONCHARS = re.compile("[\ufdd0-\ufdef]")
_CODE_SPAN = re.compile("\ufdd0(\\d+)\ufdd1[^\ufdd0\ufdd2]*\ufdd2")
_MATH_SPAN = re.compile("\ufdd3([^\ufdd3\ufdd4]*)\ufdd4")
_TEX_LIKE = re.compile(r"\\[A-Za-z]+|[\^_{}]")
_MATH_CONTAINER_CLASSES = {"katex", "mwe-math-element", "MathJax", "MathJax_Display", "MathJax_SVG", "MathJax_CHTML"}
# class tokens of formula images: "tex", "latex", "mwe-math-fallback-image-inline", "math-img", ...
# (whole tokens, so Bootstrap's "text-center" is no formula)
_MATH_IMG_CLASS = re.compile(r"^(?:tex|math)(?:$|[-_])|[-_](?:tex|math)$|latex|mwe-math|formula|equation", re.I)
_MATH_IMG_SRC = re.compile(r"latex|codecogs|mimetex|mathtex|tex2img|/media/math/", re.I)
# MathJax 2's renderings beside its <script type="math/tex"> (whole class tokens)
_MATHJAX_RENDERINGS = " or ".join(
    f"contains(concat(' ', normalize-space(@class), ' '), ' {c} ')"
    for c in ("MathJax", "MathJax_Display", "MathJax_Preview", "MathJax_SVG", "MathJax_SVG_Display", "MathJax_CHTML", "MathJax_MathML")
)
_MATHJAX_XPATH = lxml.etree.XPath(f"//*[{_MATHJAX_RENDERINGS}][not(self::mjx-container)][not(.//script)]")
_TEX_COMMAND = re.compile(r"\\(?:frac|sqrt|sum|int|alpha|beta|gamma|delta|theta|lambda|sigma|pi|displaystyle|mathbf|mathrm|left|right|cdot|le|ge|infty|partial)\b")


@dataclass
class Protected:
    code: list[str]
    math: int


def _text_with_breaks(node, parts: list[str]) -> None:
    parts.append("\n" if node.tag == "br" else node.text or "")
    for child in node:
        _text_with_breaks(child, parts)
        parts.append(child.tail or "")


def _code_text(node) -> str:
    """The block's text as displayed: ``<br>`` as newlines, surrounding blank lines dropped."""
    if node.find(".//br") is None:
        text = "".join(node.itertext())
    else:
        parts: list[str] = []
        _text_with_breaks(node, parts)
        text = "".join(parts)
    text = text.replace("\r\n", "\n").replace("\r", "\n").rstrip()
    return text.lstrip("\n")


def _is_line_numbers(text: str) -> bool:
    """The gutter of a line-numbered listing: 1 2 3 ... alone in its own block."""
    numbers = text.split()
    if len(numbers) < 2 or not all(n.isdigit() for n in numbers):
        return False
    first = int(numbers[0])
    return all(int(n) == first + i for i, n in enumerate(numbers))


def _attached(node, root) -> bool:
    """Whether ``node`` is still in the document (not inside a subtree replaced earlier)."""
    top = node
    for top in node.iterancestors():
        pass
    return top is root


def _replace_with_text(node, text: str) -> None:
    """Put ``text`` (inline) where ``node`` was, keeping the node's tail."""
    span = lxml.html.Element("span")
    span.text = text
    span.tail = node.tail
    parent = node.getparent()
    if parent is not None:
        parent.replace(node, span)


def _remove_keep_tail(node) -> None:
    parent = node.getparent()
    if parent is None:
        return
    if node.tail:
        previous = node.getprevious()
        if previous is None:
            parent.text = (parent.text or "") + node.tail
        else:
            previous.tail = (previous.tail or "") + node.tail
    parent.remove(node)


def _math_delimited(tex: str, display: bool) -> str:
    return f"$${tex}$$" if display else f"${tex}$"


def _mathml_to_tex(node) -> str:
    """A TeX-like linearisation of presentation MathML, for formulas without a TeX source."""
    tag = node.tag.rsplit(":", 1)[-1] if isinstance(node.tag, str) else ""
    kids = [c for c in node if isinstance(c.tag, str) and c.tag.rsplit(":", 1)[-1] not in ("annotation", "annotation-xml")]
    if tag in ("mi", "mn", "mo", "mtext", "ms", "mglyph"):
        return (node.text_content() or "").strip()
    parts = [_mathml_to_tex(k) for k in kids]
    if tag == "msup" and len(parts) == 2:
        return f"{parts[0]}^{{{parts[1]}}}"
    if tag == "msub" and len(parts) == 2:
        return f"{parts[0]}_{{{parts[1]}}}"
    if tag == "msubsup" and len(parts) == 3:
        return f"{parts[0]}_{{{parts[1]}}}^{{{parts[2]}}}"
    if tag == "mfrac" and len(parts) == 2:
        return f"\\frac{{{parts[0]}}}{{{parts[1]}}}"
    if tag == "msqrt":
        return f"\\sqrt{{{' '.join(parts)}}}"
    if tag == "mroot" and len(parts) == 2:
        return f"\\sqrt[{parts[1]}]{{{parts[0]}}}"
    if tag in ("munder", "mover") and len(parts) == 2:
        return f"{parts[0]}{'_' if tag == 'munder' else '^'}{{{parts[1]}}}"
    if tag == "munderover" and len(parts) == 3:
        return f"{parts[0]}_{{{parts[1]}}}^{{{parts[2]}}}"
    if tag == "mtable":
        return " \\\\ ".join(parts)
    if tag == "mtr":
        return " & ".join(parts)
    return " ".join(p for p in parts if p)


def _mathml_source(node) -> str:
    for child in node.iter():
        if isinstance(child.tag, str) and child.tag.endswith("annotation") and "tex" in (child.get("encoding") or "").lower():
            if (child.text or "").strip():
                return child.text.strip()
    if (node.get("alttext") or "").strip():
        return node.get("alttext").strip()
    return _mathml_to_tex(node)


def _math_container(node):
    """The rendering that wraps a <math> (KaTeX, MathJax 3, Wikipedia), replaced as a whole."""
    for ancestor in itertools.islice(node.iterancestors(), 4):
        if ancestor.tag == "mjx-container" or _MATH_CONTAINER_CLASSES.intersection((ancestor.get("class") or "").split()):
            return ancestor
    return node


# substrings every match of the patterns above contains, tested first on the lower-cased value:
# most pages carry dozens of images with alt text, and substring tests rule nearly all of them
# out. None holds an "i" or "s", which re.IGNORECASE also matches as "ı" and "ſ" (lower() keeps those).
_MATH_IMG_CLASS_HINTS = ("tex", "math", "formula", "equat")
_MATH_IMG_SRC_HINTS = ("tex", "codecog", "math")


def _is_formula_image(node) -> bool:
    alt = (node.get("alt") or "").strip()
    if not alt:
        return False
    classes = (node.get("class") or "").lower()
    if any(hint in classes for hint in _MATH_IMG_CLASS_HINTS) and any(
            _MATH_IMG_CLASS.search(token) for token in (node.get("class") or "").split()):
        return True
    src = (node.get("src") or "").lower()
    if any(hint in src for hint in _MATH_IMG_SRC_HINTS) and _MATH_IMG_SRC.search(node.get("src") or ""):
        return True
    return "\\" in alt and _TEX_COMMAND.search(alt) is not None


def protect(tree, keep_code: bool = True, keep_math: bool = True) -> Protected:
    """Set code blocks aside and turn formulas into TeX text, in place (see the module docstring).

    Also drops what no extractor reads (styles, inline SVG, scripts other than JSON-LD, which
    trafilatura consults), so trafilatura copies and walks a smaller tree: same output, ~5 % faster.
    """
    code: list[str] = []
    math = 0
    root = tree.getroottree().getroot()
    pres, codes, maths, scripts, images, unread = [], [], [], [], [], []
    for node in tree.iter("pre", "code", "math", "script", "img", "style", "svg"):
        tag = node.tag
        if tag == "style" or tag == "svg":
            unread.append(node)
        elif tag == "pre":
            pres.append(node)
        elif tag == "code":
            codes.append(node)
        elif tag == "math":
            maths.append(node)
        elif tag == "script":
            kind = node.get("type") or ""
            if "math/tex" in kind:
                scripts.append(node)
            elif "ld+json" not in kind:
                unread.append(node)
        elif node.get("alt"):
            images.append(node)
    for node in unread:
        if next(node.iterancestors("svg"), None) is None:
            _remove_keep_tail(node)

    if keep_code:
        blocks = [n for n in pres if next(n.iterancestors("pre"), None) is None]
        blocks += [n for n in codes if next(n.iterancestors("pre", "code"), None) is None and "\n" in n.text_content().strip()]
        for node in blocks:
            text = _code_text(node)
            if not text.strip():
                continue
            if _is_line_numbers(text):
                _remove_keep_tail(node)
                continue
            for child in list(node):
                node.remove(child)
            node.text = f"{_CODE_OPEN}{len(code)}{_CODE_MID}{' '.join(text.split())}{_CODE_CLOSE}"
            code.append(text)

    if keep_math:
        if scripts:
            # MathJax 2 keeps the TeX in the script and renders beside it: drop the rendering.
            for node in _MATHJAX_XPATH(tree):
                _remove_keep_tail(node)
            for node in scripts:
                tex = (node.text or "").strip()
                if tex and _attached(node, root):
                    _replace_with_text(node, _MATH_OPEN + _math_delimited(tex, "display" in node.get("type", "")) + _MATH_CLOSE)
                    math += 1
        for node in maths:
            if next(node.iterancestors("pre", "code", "math"), None) is not None or not _attached(node, root):
                continue
            tex = " ".join(_mathml_source(node).split())
            target = _math_container(node)
            if tex:
                display = node.get("display") == "block" or target.get("display") == "true"
                _replace_with_text(target, _MATH_OPEN + _math_delimited(tex, display) + _MATH_CLOSE)
                math += 1
        for node in images:
            if not _is_formula_image(node) or next(node.iterancestors("pre", "code"), None) is not None:
                continue
            if not _attached(node, root):  # e.g. Wikipedia's fallback image, inside a replaced formula
                continue
            alt = " ".join(node.get("alt").split())
            _replace_with_text(node, _MATH_OPEN + (_math_delimited(alt, False) if _TEX_LIKE.search(alt) else alt) + _MATH_CLOSE)
            math += 1
    return Protected(code, math)


# --- plain text from trafilatura's XML body ------------------------------------------------

_PARAGRAPH_TAGS = {"p", "head", "quote", "list", "table", "code", "div", "section", "article", "blockquote",
                   "pre", "ul", "ol", "dl", "figure", "h1", "h2", "h3", "h4", "h5", "h6"}
_LINE_TAGS = {"item", "row", "li", "tr", "dt", "dd"}
_CELL_TAGS = {"cell", "td", "th"}
_BREAK_TAGS = {"lb", "br"}
_SKIP_TAGS = {"graphic", "img"}
# trafilatura keeps inline <code> as a child of the paragraph; a code element elsewhere is a block
_INLINE_PARENTS = {"p", "head", "hi", "ref", "del", "span", "a", "b", "i", "em", "strong"}
_SPACES = re.compile(r"[^\S\n\t]+")
_LINE_ENDS = re.compile(r"[ \t]*\n[ \t]*")
_BLANK_LINES = re.compile(r"\n{3,}")
# whitespace _SPACES would rewrite although it stands alone: anything but " ", "\n" and "\t"
_ODD_SPACE = re.compile(r"[^\S \n\t]")


class _Writer:
    def __init__(self):
        self.parts: list[str] = []
        self.pending = 0  # newlines owed before the next text

    def newlines(self, n: int) -> None:
        self.pending = max(self.pending, n)

    def text(self, s: str | None) -> None:
        if not s:
            return
        if self.pending:
            if self.parts:
                self.parts.append("\n" * self.pending)
            self.pending = 0
        self.parts.append(s)

    def walk(self, node, context: str = "") -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in _SKIP_TAGS:
            return
        if tag in _BREAK_TAGS:
            self.text(" " if context == "cell" else "\n")
            return
        block = tag in _PARAGRAPH_TAGS and not (tag == "code" and node.getparent() is not None and node.getparent().tag in _INLINE_PARENTS)
        if tag in _CELL_TAGS:
            if node.getprevious() is not None:
                self.text("\t")
            context = "cell"
        elif context == "cell":
            if block or tag in _LINE_TAGS:
                self.text(" ")  # everything inside a cell stays on the row's line
        elif block:
            self.newlines(1 if context == "item" else 2)
        elif tag in _LINE_TAGS:
            self.newlines(1)
            if tag in ("item", "li", "dt", "dd"):
                context = "item"
        self.text(node.text)
        for child in node:
            self.walk(child, context)
            self.text(child.tail)
        if context == "cell":
            if block or tag in _LINE_TAGS:
                self.text(" ")
        else:
            if block:
                self.newlines(1 if context == "item" else 2)
            elif tag in _LINE_TAGS:
                self.newlines(1)


def body_text(body) -> str:
    """Plain text of trafilatura's output tree (see the module docstring for the layout)."""
    writer = _Writer()
    writer.text(body.text)
    for child in body:
        writer.walk(child)
        writer.text(child.tail)
    text = "".join(writer.parts)
    # every line with its runs of spaces collapsed and its ends trimmed (after the collapse, a
    # line's only whitespace is " " and "\t"), blank-line runs cut to one, in three passes; each
    # pass only where a fast scan finds something to change (trafilatura's text is mostly trimmed)
    if "  " in text or _ODD_SPACE.search(text):
        text = _SPACES.sub(" ", text)
    if " \n" in text or "\n " in text or "\t\n" in text or "\n\t" in text:
        text = _LINE_ENDS.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def restore(text: str, protected: Protected) -> tuple[str, int, int]:
    """Put code back verbatim and unmark formulas; (text, code blocks kept, formulas kept)."""
    kept_code = kept_math = 0

    def code_back(match: re.Match) -> str:
        nonlocal kept_code
        index = int(match.group(1))
        if index >= len(protected.code):
            return ""
        kept_code += 1
        block = protected.code[index]
        if "\n" not in block:
            return block
        before = "" if match.start() == 0 or text[match.start() - 1] == "\n" else "\n"
        after = "" if match.end() == len(text) or text[match.end()] == "\n" else "\n"
        return f"{before}{block}{after}"

    def math_back(match: re.Match) -> str:
        nonlocal kept_math
        kept_math += 1
        return match.group(1)

    if _CODE_OPEN in text:
        text = _CODE_SPAN.sub(code_back, text)
    if _MATH_OPEN in text:
        text = _MATH_SPAN.sub(math_back, text)
    if any(marker in text for marker in _MARKERS):  # a marker whose span trafilatura cut
        text = _NONCHARS.sub("", text)
    return text, kept_code, kept_math


# --- the stage -----------------------------------------------------------------------------


_XML_INVALID_BYTES = bytes(b for b in range(32) if b not in (9, 10, 13))
_NONCHAR_BYTES = re.compile(b"\xef\xb7[\x90-\xaf]")  # U+FDD0-U+FDEF in UTF-8
_DOCTYPE = re.compile(rb"^\s*<!\s*DOCTYPE[^>]*>", re.I)
_PARSER = lxml.html.HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True)
# lxml.html picks each element's Python class in a Python callback (form, input, label, ...
# classes), paid every time an element is touched from Python: ~10 % of extraction time.
# trafilatura uses none of those classes' extras, so every element is a plain HtmlElement,
# chosen in C. (The outputs are identical on every page in ../shared; tests/stages/test_extract_fast.py.)
_PARSER.set_element_class_lookup(lxml.etree.ElementDefaultClassLookup(
    element=lxml.html.HtmlElement, comment=lxml.html.HtmlComment, pi=lxml.html.HtmlProcessingInstruction,
    entity=lxml.html.HtmlEntity))


def parse_html(data: bytes):
    """The page's lxml tree from UTF-8 bytes (None when there is none).

    The parser's encoding is fixed, so a stale <meta charset> cannot re-decode the page. Control
    characters XML cannot hold are dropped (trafilatura writes text back into the tree), as are
    the noncharacters we use as markers.
    """
    data = data.translate(None, _XML_INVALID_BYTES)
    if b"\xef" in data:  # one memchr pass; most pages have no U+F000-U+FFFF character at all
        if b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data:  # U+FFFE, U+FFFF
            data = data.replace(b"\xef\xbf\xbe", b"").replace(b"\xef\xbf\xbf", b"")
        if b"\xef\xb7" in data:
            data = _NONCHAR_BYTES.sub(b"", data)
    # libxml2 mis-parses some pages whose doctype carries a system id; the doctype changes nothing here
    doctype = _DOCTYPE.match(data, 0, 1024)
    if doctype:
        data = data[doctype.end():]
    if not data or data.isspace():
        return None
    try:
        tree = lxml.html.fromstring(data, parser=_PARSER)
    except lxml.etree.ParserError:  # "Document is empty": only comments, doctype, whitespace
        return None
    return tree if tree is not None and len(tree) else None


def _collapse(text: str | None) -> str | None:
    return " ".join(text.split()) or None if text else None


def page_title(tree) -> str | None:
    """The page's headline: og:title / twitter:title, else its only <h1>, else <title>.

    Measured on trafilatura-eval's gold titles: equal (whitespace and case aside) for 238 of 423
    pages, against 56 for <title> alone (site names) and 245 for trafilatura's metadata pass,
    which costs about a third of the extraction time.
    """
    head = tree.find("head")
    scope = head if head is not None else tree
    for meta in scope.iter("meta"):
        if meta.get("property") == "og:title" or meta.get("name") in ("og:title", "twitter:title"):
            title = _collapse(meta.get("content"))
            if title:
                return title
    h1 = tree.findall(".//h1")
    if len(h1) == 1:
        title = _collapse(h1[0].text_content())
        if title:
            return title
    return _collapse(scope.findtext(".//title"))


def _is_forum_thread(tree) -> bool:
    """trafilatura's own test for a thread-forum page (schema.org DiscussionForumPosting in JSON-LD),
    on which it keeps comment containers; False where this trafilatura has no such test."""
    from trafilatura import core

    test = getattr(core, "_forum_thread_page", None)
    return bool(test(tree)) if test is not None else False


@dataclass
class Extraction:
    """What one document became: text (kept) or a reject reason."""

    text: str | None = None
    title: str | None = None
    charset: str | None = None
    method: str | None = None
    reason: str | None = None
    detail: str | None = None
    code_blocks: int = 0
    math: int = 0


class HtmlExtractor(Stage):
    name = "extract_html"
    version = "3"  # 3: the main-container path
    Params = HtmlExtractorParams
    writes = {"title": pa.string(), "extraction": pa.string()}
    drops = ("html",)

    def setup(self) -> None:
        # trafilatura logs a warning for every page it finds empty; the reject rows say it already.
        logging.getLogger("trafilatura").setLevel(logging.ERROR)
        self._comparisons = [0, 0]  # whole-page passes with / without trafilatura's comparison (counters)

    def _options(self, favor: str, fast: bool):
        """trafilatura's settings object for one mode, built once per stage (building it per page,
        as ``bare_extraction`` does when given keywords, reads its config file's values each time)."""
        key = (favor, fast)
        extractors = self.__dict__.setdefault("_extractors", {})
        options = extractors.get(key)
        if options is None:
            from trafilatura.settings import Extractor as TrafilaturaSettings

            p: HtmlExtractorParams = self.params
            options = extractors[key] = TrafilaturaSettings(
                output_format="txt",  # the Document keeps its XML body; we write the text ourselves
                fast=fast,
                precision=favor == "precision",
                recall=favor == "recall",
                comments=False,
                tables=p.include_tables,
                formatting=False,
                links=False,
                images=False,
                with_metadata=False,
            )
        return options

    def _trafilatura(self, tree, favor: str, fast: bool):
        return trafilatura.bare_extraction(tree, options=self._options(favor, fast))

    def _body_text(self, tree, favor: str, fast: bool, forum: bool | None = None, keep_tree: bool = True) -> str:
        """``forum``: whether the page is a thread forum, when the caller knows already;
        ``keep_tree`` False: the tree may be changed (the caller reads it no more)."""
        options = self._options(favor, fast)
        if whole_page_replica_usable(options) and not (_is_forum_thread(tree) if forum is None else forum):
            body, compared = whole_page_body(tree, options, self.params.compare_below_chars, keep_page=keep_tree)
            # the card's counters: how often the main pass was sure enough to skip the comparison
            self._comparisons[0 if compared else 1] += 1
            return body_text(body) if body is not None else ""
        document = self._trafilatura(tree, favor, fast)
        return body_text(document.body) if document is not None and document.body is not None else ""

    def _container_text(self, tree, forum: bool | None = None) -> str:
        """trafilatura (fast mode) on a page holding only the main container, or '' when unsure.

        The page is ``<html><body>`` around a copy of the container, so the whole page is still
        intact when the text is too short and the page goes the full way. With a trafilatura
        release whose sequence ``fast_container_body`` replicates, that copy is the only one made
        before trafilatura's main extractor (``bare_extraction`` would make three more).
        """
        p: HtmlExtractorParams = self.params
        if _is_forum_thread(tree) if forum is None else forum:
            return ""  # trafilatura keeps a forum's comment containers (they are its posts): whole page
        options = self._options(p.favor, True)
        replica = sequence_replica_usable(options)
        for container in main_container_candidates(tree):
            if len(container.text_content()) < p.container_min_chars:
                continue  # its text cannot reach the floor: save trafilatura the work
            page = _PARSER.makeelement("html")
            body = lxml.etree.SubElement(page, "body")
            twin = copy.deepcopy(container)
            twin.tail = None
            body.append(twin)
            if replica:
                result = fast_container_body(page, options)
                text = body_text(result) if result is not None else ""
            else:
                text = self._body_text(page, p.favor, fast=True)
            if len(text) >= p.container_min_chars:
                return text
        return ""

    def _extract(self, payload: bytes, declared_charset: str | None) -> Extraction:
        p: HtmlExtractorParams = self.params
        decoded = detect_charset(payload, declared_charset)
        if decoded is None:
            return Extraction(reason="undecodable_html", detail=None)
        html, codec = decoded
        charset = _charset_name(codec)
        utf8 = payload if codec == "utf-8" else html.encode("utf-8")
        tree = parse_html(utf8)
        if tree is None:
            return Extraction(charset=charset, reason="no_main_text", detail="no_html_tree")
        title = page_title(tree)
        protected = protect(tree, p.keep_code, p.keep_math)
        forum = _is_forum_thread(tree)  # read once: both paths ask
        method, text = CONTAINER, self._container_text(tree, forum) if p.strategy == "container" else ""
        retry_wanted = p.favor != "balanced"
        if not text:
            # the whole-page pass may prune the page in place: only the rare balanced retry reads
            # it again, and parsing it anew then costs less than copying every page beforehand
            method, text = EXTRACTED, self._body_text(tree, p.favor, p.fast, forum, keep_tree=False)
            if len(text) < p.fallback_below_chars and retry_wanted:
                tree = parse_html(utf8)
                protect(tree, p.keep_code, p.keep_math)  # the same markers: the same page, protected alike
        if len(text) < p.fallback_below_chars and retry_wanted:
            # fast: readability and jusText add nothing here (same scores on both gold sets, measured)
            retry = self._body_text(tree, "balanced", True)  # bare_extraction copies the tree it is given
            if len(retry) > len(text):
                method, text = FALLBACK, retry
        text, code_blocks, math = restore(unicodedata.normalize("NFC", text), protected)
        text = text.strip()
        if len(text) < p.min_chars:
            return Extraction(title=title, charset=charset, reason="no_main_text", detail=f"chars={len(text)}")
        return Extraction(text, title, charset, method, code_blocks=code_blocks, math=math)

    def extract(self, payload: bytes, declared_charset: str | None = None) -> Extraction:
        """One page, never raising: the Extraction carries either text or a reject reason."""
        p: HtmlExtractorParams = self.params
        if len(payload) > p.max_html_bytes:
            return Extraction(reason="html_too_large", detail=f"bytes={len(payload)}")
        try:
            # the XPath swap stays outside the time bound, so a timeout never lands inside it
            with compiled_xpaths() if p.compiled_xpaths else contextlib.nullcontext(), time_bound(p.timeout_s):
                return self._extract(payload, declared_charset)
        except ExtractionTimeout:
            return Extraction(reason="extraction_timeout", detail=f"timeout_s={p.timeout_s:g}")
        except Exception as error:  # hostile markup: lxml/trafilatura/codec errors, RecursionError
            return Extraction(reason="extraction_error", detail=type(error).__name__)

    def process(self, batch: pa.Table) -> StageOutput:
        self.ensure_setup()
        htmls = batch.column("html").to_pylist()
        texts = batch.column("text").to_pylist()
        charsets = batch.column("charset").to_pylist()
        counters = dict.fromkeys(
            ("html_bytes_in", "text_chars_out", "extraction_timeouts", "code_blocks_kept", "math_kept",
             "documents_container", "documents_extracted", "documents_fallback", "documents_passthrough",
             "documents_bound_by_watchdog", "whole_page_comparisons", "whole_page_comparisons_skipped"), 0.0)
        self._comparisons = [0, 0]
        # Ray runs tasks and actors on the worker's main thread (SIGALRM); say so when it did not.
        watchdog = not alarm_usable()
        out_text, out_title, out_charset, out_method = [], [], [], []
        keep, reasons, details = [], [], []
        # the XPath swap once per batch (extract() nests inside it for free), outside any time bound
        with compiled_xpaths() if self.params.compiled_xpaths else contextlib.nullcontext():
            for html, text, charset in zip(htmls, texts, charsets, strict=True):
                if html is None:
                    result = Extraction(text=text, charset=charset, method=PASSTHROUGH) if text else Extraction(
                        charset=charset, reason="no_main_text", detail="no_html_no_text")
                else:
                    counters["html_bytes_in"] += len(html)
                    counters["documents_bound_by_watchdog"] += watchdog
                    result = self.extract(html, charset)
                    if result.charset is None:
                        result.charset = charset
                if result.reason is None:
                    counters["text_chars_out"] += len(result.text)
                    counters["code_blocks_kept"] += result.code_blocks
                    counters["math_kept"] += result.math
                    counters[{CONTAINER: "documents_container", EXTRACTED: "documents_extracted", FALLBACK: "documents_fallback"}.get(
                        result.method, "documents_passthrough")] += 1
                elif result.reason == "extraction_timeout":
                    counters["extraction_timeouts"] += 1
                keep.append(result.reason is None)
                reasons.append(result.reason)
                details.append(result.detail)
                out_text.append(result.text)
                out_title.append(result.title)
                out_charset.append(result.charset)
                out_method.append(result.method)
        batch = batch.set_column(batch.schema.get_field_index("text"), "text", pa.array(out_text, type=pa.string()))
        batch = batch.set_column(batch.schema.get_field_index("charset"), "charset", pa.array(out_charset, type=pa.string()))
        batch = batch.drop_columns(["html"])
        batch = batch.append_column("title", pa.array(out_title, type=pa.string()))
        batch = batch.append_column("extraction", pa.array(out_method, type=pa.string()))
        kept, rejected = self.split(batch, keep, reasons, details)
        counters["whole_page_comparisons"], counters["whole_page_comparisons_skipped"] = self._comparisons
        return StageOutput(kept=kept, rejected=rejected, counters=counters)
