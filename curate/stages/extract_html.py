"""HTML -> main text and title with trafilatura, keeping code and math, as plain text.

The Llama 3 report's parser kept code blocks and math and dropped markdown; trafilatura alone
flattens `<pre>` indentation and drops MathML, so before extraction we replace each code block
and each formula with an inert placeholder token that trafilatura carries through as text, and
restore the originals afterwards.
"""
from __future__ import annotations

import re
import signal
import threading
from contextlib import contextmanager

import charset_normalizer
import lxml.etree
import lxml.html
import pyarrow as pa
import trafilatura
from trafilatura.utils import load_html
from pydantic import Field

from curate.stages.base import Stage, StageOutput, StageParams

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_PLACEHOLDER = "CURATEKEEP{:06d}X"
_PLACEHOLDER_RE = re.compile(r"CURATEKEEP(\d{6})X")
_MATH_IMG_HINT = re.compile(r"tex|latex|math|formula|equation", re.I)
_MARKDOWN_LINE = re.compile(r"^(?:#{1,6}\s+|[-*+]\s+|>\s+|\|)")


def _clean_title(title: str | None) -> str | None:
    if not title:
        return None
    title = " ".join(title.split())
    return title or None


class ExtractionTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """Interrupt the block after ``seconds`` with SIGALRM (Ray runs task code in the main thread).

    trafilatura is pure Python over lxml, so a thread cannot be stopped; an interval timer can.
    Off the main thread (where signals cannot be delivered) the bound is not enforced.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise ExtractionTimeout()

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class HtmlExtractorParams(StageParams):
    timeout_s: float = Field(default=10.0, gt=0, description="per-document extraction time bound")
    max_html_bytes: int = Field(default=10 * 2**20, ge=1024, description="larger payloads -> html_too_large")
    min_chars: int = Field(default=1, ge=1, description="shorter main text -> no_main_text")
    keep_code: bool = True
    keep_math: bool = True
    include_tables: bool = True
    favor: str = Field(default="balanced", pattern="^(balanced|precision|recall)$")


def decode_html(payload: bytes, declared: str | None) -> tuple[str, str] | None:
    """(text, charset) of an HTML payload, or None when no charset decodes it."""
    candidates = []
    if payload.startswith(b"\xef\xbb\xbf"):
        candidates.append("utf-8-sig")
    if declared:
        candidates.append(declared)
    meta = _META_CHARSET.search(payload[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii", "ignore"))
    candidates.append("utf-8")
    for name in candidates:
        try:
            return payload.decode(name), name.lower()
        except (LookupError, UnicodeDecodeError):
            continue
    best = charset_normalizer.from_bytes(payload[: 1 << 20]).best()
    if best is not None:
        try:
            return payload.decode(best.encoding), best.encoding
        except (LookupError, UnicodeDecodeError):
            pass
    return None


def _math_text(node) -> str:
    annotation = node.xpath(".//*[local-name()='annotation'][contains(@encoding,'tex')]")
    if annotation and (annotation[0].text or "").strip():
        return annotation[0].text.strip()
    if node.get("alttext"):
        return node.get("alttext").strip()
    return " ".join(t.strip() for t in node.itertext() if t.strip())


def protect(tree, keep_code: bool, keep_math: bool) -> tuple[list[str], int, int]:
    """Replace code blocks and formulas in ``tree`` by placeholders; return the originals."""
    kept: list[str] = []
    code = math = 0

    def swap(node, text: str, block: bool):
        token = _PLACEHOLDER.format(len(kept))
        kept.append(text)
        replacement = lxml.html.Element("p" if block else "span")
        replacement.text = token
        replacement.tail = node.tail
        parent = node.getparent()
        if parent is not None:
            parent.replace(node, replacement)

    if keep_math:
        for node in tree.xpath("//*[local-name()='math']"):
            text = _math_text(node)
            if text:
                swap(node, text if node.get("display") != "block" else text, block=node.get("display") == "block")
                math += 1
        for node in tree.xpath("//script[contains(@type,'math/tex')]"):
            if node.text and node.text.strip():
                swap(node, "$" + node.text.strip() + "$", block="display" in node.get("type", ""))
                math += 1
        for node in tree.xpath("//img[@alt]"):
            hint = " ".join(filter(None, [node.get("class"), node.get("src"), node.get("alt")[:0]]))
            if _MATH_IMG_HINT.search(hint or ""):
                swap(node, node.get("alt").strip(), block=False)
                math += 1
    if keep_code:
        for node in tree.xpath("//pre"):
            if node.getparent() is None:
                continue
            text = node.text_content()
            if text.strip():
                swap(node, text.strip("\n"), block=True)
                code += 1
    return kept, code, math


def restore(text: str, kept: list[str]) -> str:
    return _PLACEHOLDER_RE.sub(lambda m: kept[int(m.group(1))] if int(m.group(1)) < len(kept) else "", text)


def strip_markdown(text: str) -> str:
    """trafilatura's txt output marks list items with '- ' and tables with '|': drop the markers."""
    lines = []
    for line in text.split("\n"):
        if line.startswith("- ") or line.startswith("* "):
            line = line[2:]
        elif line.startswith("|") and line.endswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(set(c) <= set("-: ") for c in cells):
                continue
            line = "\t".join(cells)
        lines.append(line)
    return "\n".join(lines)


class HtmlExtractor(Stage):
    name = "extract_html"
    version = "1"
    Params = HtmlExtractorParams
    writes = {"title": pa.string(), "extraction": pa.string()}
    drops = ("html",)

    def extract_one(self, payload: bytes, declared_charset: str | None, url: str | None):
        """(text, title, charset, counters) or raises _Reject(reason, detail)."""
        p: HtmlExtractorParams = self.params
        if len(payload) > p.max_html_bytes:
            raise _Reject("html_too_large", f"bytes={len(payload)}>{p.max_html_bytes}")
        decoded = decode_html(payload, declared_charset)
        if decoded is None:
            raise _Reject("undecodable_html", None)
        html, charset = decoded
        try:
            with time_limit(p.timeout_s):
                tree = load_html(html)
                if tree is None:
                    raise _Reject("no_main_text", "unparseable")
                # <title> directly: trafilatura's metadata pass (dates, authors) costs ~30 % of
                # extraction time and the pipeline only needs the title.
                title = _clean_title(tree.findtext(".//title"))
                kept, code, math = protect(tree, p.keep_code, p.keep_math)
                doc = trafilatura.bare_extraction(
                    tree,
                    url=url,
                    include_comments=False,
                    include_tables=p.include_tables,
                    favor_precision=p.favor == "precision",
                    favor_recall=p.favor == "recall",
                    with_metadata=False,
                )
        except ExtractionTimeout:
            raise _Reject("extraction_timeout", f"timeout_s={p.timeout_s}") from None
        except _Reject:
            raise
        except Exception as e:  # lxml/trafilatura failures on hostile markup
            raise _Reject("extraction_error", type(e).__name__) from None
        text = (doc.text if doc is not None else None) or ""
        text = restore(strip_markdown(text), kept).strip()
        if len(text) < p.min_chars:
            raise _Reject("no_main_text", None)
        return text, title, charset, {"code_blocks_kept": code, "math_kept": math}

    def process(self, batch: pa.Table) -> StageOutput:
        ids = batch.column("id").to_pylist()
        htmls = batch.column("html").to_pylist()
        texts = batch.column("text").to_pylist()
        charsets = batch.column("charset").to_pylist()
        urls = batch.column("url").to_pylist()
        out_text, out_title, out_charset, out_method = [], [], [], []
        keep, reasons, details = [], [], []
        counters = {"html_bytes_in": 0.0, "text_chars_out": 0.0, "extraction_timeouts": 0.0, "code_blocks_kept": 0.0, "math_kept": 0.0, "passthrough": 0.0}
        if threading.current_thread() is not threading.main_thread():
            # SIGALRM cannot reach this thread: say so in the card rather than pretend a bound.
            counters["documents_without_time_bound"] = float(batch.num_rows)
        for i in range(len(ids)):
            text = title = None
            charset, method, reason, detail = charsets[i], None, None, None
            if htmls[i] is None:
                if texts[i]:
                    text, method = texts[i], "passthrough"
                    counters["passthrough"] += 1
                else:
                    reason = "no_main_text"
            else:
                counters["html_bytes_in"] += len(htmls[i])
                try:
                    text, title, charset, found = self.extract_one(htmls[i], charsets[i], urls[i])
                    method = "trafilatura"
                    for k, v in found.items():
                        counters[k] += v
                except _Reject as r:
                    reason, detail = r.reason, r.detail
                    if reason == "extraction_timeout":
                        counters["extraction_timeouts"] += 1
            if text is not None:
                counters["text_chars_out"] += len(text)
            keep.append(reason is None)
            reasons.append(reason)
            details.append(detail)
            out_text.append(text)
            out_title.append(title)
            out_charset.append(charset)
            out_method.append(method)
        batch = batch.set_column(batch.schema.get_field_index("text"), "text", pa.array(out_text, type=pa.string()))
        batch = batch.set_column(batch.schema.get_field_index("charset"), "charset", pa.array(out_charset, type=pa.string()))
        batch = batch.drop_columns(["html"])
        batch = batch.append_column("title", pa.array(out_title, type=pa.string()))
        batch = batch.append_column("extraction", pa.array(out_method, type=pa.string()))
        kept, rejected = self.split(batch, keep, reasons, details)
        return StageOutput(kept=kept, rejected=rejected, counters=counters)


class _Reject(Exception):
    def __init__(self, reason: str, detail: str | None):
        super().__init__(reason)
        self.reason, self.detail = reason, detail
