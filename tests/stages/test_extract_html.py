"""extract_html on crafted pages: main text without boilerplate or markdown, code and math kept,
charsets, pass-through, time bound, rejects instead of exceptions, parameters, output schema."""
import random
import signal
import threading
import time

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curate.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA, conform
from curate.stages import registry
from curate.stages.extract_html import ExtractionTimeout, HtmlExtractor, HtmlExtractorParams, decode_html

PROSE = " ".join("The river valley was settled early because the soil was rich and the water was clean." for _ in range(4))
CLOSING = "Closing words of the article body, long enough to count as a paragraph of real prose."


def page(body: str, title: str = "A page", head: str = '<meta charset="utf-8">') -> str:
    nav = "".join(f'<li><a href="/s{i}">Section {i}</a></li>' for i in range(12))
    return (
        f"<html><head>{head}<title>{title} | Example Site</title></head><body>"
        f"<header><nav><ul>{nav}</ul></nav></header>"
        f"<main><article><h1>{title}</h1><p>{PROSE}</p>{body}<p>{CLOSING}</p></article></main>"
        f"<aside><h3>Related</h3><ul><li><a href='/r1'>Other story one</a></li><li><a href='/r2'>Other story two</a></li></ul></aside>"
        f"<footer><p>Copyright 2024 Example Corp. All rights reserved. Privacy policy. Terms of use.</p></footer></body></html>"
    )


def batch_of(htmls, texts=None, charsets=None) -> pa.Table:
    n = len(htmls)
    return conform(
        pa.table({
            "id": [str(i) for i in range(n)],
            "url": [f"https://example.com/{i}" for i in range(n)],
            "html": pa.array([h.encode("utf-8") if isinstance(h, str) else h for h in htmls], type=pa.binary()),
            "text": pa.array(texts or [None] * n, type=pa.string()),
            "charset": pa.array(charsets or [None] * n, type=pa.string()),
        }),
        DOCUMENT_SCHEMA,
    )


def run(*htmls, params=None, texts=None, charsets=None):
    stage = HtmlExtractor(params or HtmlExtractorParams())
    stage.ensure_setup()
    return stage.process(batch_of(list(htmls), texts, charsets))


def only_text(out) -> str:
    assert out.kept.num_rows == 1, out.rejected.to_pylist()
    return out.kept.column("text")[0].as_py()


# --- main text, layout, schema ---------------------------------------------------------------


def test_main_text_without_boilerplate_or_markdown():
    body = (
        "<h2>Sub heading</h2><p>Some <b>bold</b> and <em>emphasis</em> and <code>inline_code()</code> here.</p>"
        "<ul><li>first point here</li><li>second point here</li></ul>"
        "<ol><li>step one</li><li>step two</li></ol>"
        "<blockquote>Quoted words by someone famous.</blockquote>"
        "<table><tr><th>Name</th><th>Value</th></tr><tr><td>alpha</td><td>1</td></tr><tr><td>beta</td><td>2</td></tr></table>"
        "<p>Line one<br>line two</p>"
    )
    text = only_text(run(page(body)))
    assert "river valley" in text and CLOSING in text
    for boilerplate in ("Section 3", "Copyright 2024", "Other story one"):
        assert boilerplate not in text
    lines = text.split("\n")
    # No markdown: headings, bullets, numbering, emphasis, table pipes or rules.
    assert not any(line.startswith(("#", "- ", "* ", "+ ", "1. ", "> ", "|")) for line in lines), text
    assert "**" not in text and "`" not in text and "---" not in text
    assert "Some bold and emphasis and inline_code() here." in text
    # Layout: blocks separated by a blank line, items and rows by a newline, cells by a tab.
    assert "\n\nSub heading\n\n" in text
    assert "first point here\nsecond point here" in text and "step one\nstep two" in text
    assert "Name\tValue\nalpha\t1\nbeta\t2" in text
    assert "Line one\nline two" in text


def test_output_schema_title_and_extraction_columns():
    out = run(page("<p>More text in the middle of the article, as articles have.</p>", title="Valley history"))
    assert "html" not in out.kept.column_names
    assert out.kept.schema.field("title").type == pa.string() and out.kept.schema.field("extraction").type == pa.string()
    row = out.kept.to_pylist()[0]
    assert row["title"] == "Valley history"  # the only <h1>, without the <title>'s site name
    assert row["extraction"] == "trafilatura"
    assert row["charset"] == "utf-8"
    expected = [f.name for f in DOCUMENT_SCHEMA if f.name != "html"] + list(HtmlExtractor.writes)
    assert out.kept.column_names == expected
    assert HtmlExtractor.drops == ("html",) and set(HtmlExtractor.writes) == {"title", "extraction"}
    assert registry()["extract_html"] is HtmlExtractor


def test_og_title_preferred():
    head = '<meta charset="utf-8"><meta property="og:title" content="The  real headline">'
    out = run(page("", title="Ignored", head=head))
    assert out.kept.column("title")[0].as_py() == "The real headline"


# --- code --------------------------------------------------------------------------------------


def test_code_block_kept_verbatim_with_indentation_and_blank_lines():
    code = 'def area(r):\n    if r < 0:\n        raise ValueError("negative radius")\n\n\treturn 3.14159 * r * r'
    escaped = code.replace("&", "&amp;").replace("<", "&lt;")
    out = run(page(f'<p>The function:</p><pre><code class="language-python">{escaped}\n</code></pre><p>It is short.</p>'))
    text = only_text(out)
    assert code in text
    assert f"\n\n{code}\n\n" in text  # on lines of its own
    assert out.counters["code_blocks_kept"] == 1


def test_highlighted_code_with_spans_and_br_and_line_number_gutter():
    highlighted = (
        '<div class="highlight"><pre><span class="k">for</span> <span class="n">i</span> <span class="ow">in</span> '
        '<span class="nb">range</span>(3):\n    <span class="k">print</span>(i)</pre></div>'
    )
    with_br = "<pre>SELECT *<br>FROM t<br>  WHERE x = 1</pre>"
    gutter = '<table class="highlighttable"><tr><td class="linenos"><pre>1\n2</pre></td><td class="code"><pre>x = 1\n  y = 2</pre></td></tr></table>'
    out = run(page(f"<p>Loop:</p>{highlighted}<p>Query:</p>{with_br}<p>Listing:</p>{gutter}"))
    text = only_text(out)
    assert "for i in range(3):\n    print(i)" in text
    assert "SELECT *\nFROM t\n  WHERE x = 1" in text
    assert "x = 1\n  y = 2" in text
    assert "1\n2" not in text  # the line-number gutter is not code
    assert out.counters["code_blocks_kept"] == 3


def test_code_can_be_left_to_trafilatura():
    code = "def f():\n    return 1\n\n\ndef g():\n    return 2"
    out = run(page(f"<pre>{code}</pre>"), params=HtmlExtractorParams(keep_code=False))
    assert out.counters["code_blocks_kept"] == 0
    assert "def f():" in only_text(out)


# --- math --------------------------------------------------------------------------------------


def test_mathml_tex_annotation_alttext_and_linearised():
    annotated = (
        '<p>Energy is <math alttext="E=mc^2"><semantics><mrow><mi>E</mi><mo>=</mo><mi>m</mi><msup><mi>c</mi><mn>2</mn></msup></mrow>'
        '<annotation encoding="application/x-tex">E = mc^{2}</annotation></semantics></math> famously.</p>'
    )
    alttext_only = '<p>Area is <math alttext="\\pi r^2"><mi>π</mi><msup><mi>r</mi><mn>2</mn></msup></math> exactly.</p>'
    bare = '<p>Plain <math display="block"><mfrac><mn>1</mn><msqrt><mi>x</mi></msqrt></mfrac></math> too.</p>'
    out = run(page(annotated + alttext_only + bare))
    text = only_text(out)
    assert "Energy is $E = mc^{2}$ famously." in text  # the TeX annotation wins over alttext
    assert "Area is $\\pi r^2$ exactly." in text
    assert "$$\\frac{1}{\\sqrt{x}}$$" in text
    assert out.counters["math_kept"] == 3


def test_math_renderings_not_doubled():
    wikipedia = (
        '<p>Wiki <span class="mwe-math-element"><span class="mwe-math-mathml-inline" style="display: none;">'
        '<math alttext="{\\displaystyle a^{2}+b^{2}}"><mi>a</mi></math></span>'
        '<img src="https://wikimedia.org/api/rest_v1/media/math/render/svg/abc" class="mwe-math-fallback-image-inline" '
        'alt="{\\displaystyle a^{2}+b^{2}}"></span> sum.</p>'
    )
    katex = (
        '<p>KaTeX <span class="katex"><span class="katex-mathml"><math><semantics><mrow><mi>y</mi></mrow>'
        '<annotation encoding="application/x-tex">y^3</annotation></semantics></math></span>'
        '<span class="katex-html" aria-hidden="true"><span class="mord">y</span><span class="msupsub">3</span></span></span> cube.</p>'
    )
    mathjax2 = (
        '<p>MathJax <span class="MathJax_Preview">q^2</span><span class="MathJax" id="MathJax-Element-1-Frame"><nobr>q2</nobr></span>'
        '<script type="math/tex" id="MathJax-Element-1">q^2</script> square, and <script type="math/tex; mode=display">\\int_0^1 q\\,dq</script></p>'
    )
    text = only_text(run(page(wikipedia + katex + mathjax2)))
    assert "Wiki ${\\displaystyle a^{2}+b^{2}}$ sum." in text
    assert text.count("a^{2}+b^{2}") == 1
    assert "KaTeX $y^3$ cube." in text and "y3" not in text
    assert "MathJax $q^2$ square" in text and "q2" not in text
    assert "$$\\int_0^1 q\\,dq$$" in text


def test_formula_images_and_tex_in_text():
    body = (
        '<p>Area: <img class="mwe-math-fallback-image-inline" alt="{\\displaystyle \\pi r^{2}}" src="x.svg"> units.</p>'
        '<p>Blog formula <img class="latex" src="https://s0.wp.com/latex.php?latex=x%5E2" alt="x^2"> here.</p>'
        '<p>A photo <img class="img-responsive text-center" src="cat.jpg" alt="A sleeping cat"> is no formula.</p>'
        "<p>Inline $a^2+b^2=c^2$ and \\(e^{i\\pi}+1=0\\) stay as written.</p>"
    )
    out = run(page(body))
    text = only_text(out)
    assert "Area: ${\\displaystyle \\pi r^{2}}$ units." in text
    assert "Blog formula $x^2$ here." in text
    assert "sleeping cat" not in text
    assert "$a^2+b^2=c^2$" in text and "\\(e^{i\\pi}+1=0\\)" in text
    assert out.counters["math_kept"] == 2


# --- charsets ----------------------------------------------------------------------------------

SAMPLES = {
    "windows-1251": "Привет, это пример текста на русском языке. Москва является столицей России.",
    "shift_jis": "これは日本語の文章の例です。東京は日本の首都であり、多くの人が住んでいます。",
}


@pytest.mark.parametrize("encoding", sorted(SAMPLES))
@pytest.mark.parametrize("declared_in", ["meta", "header", "nowhere"])
def test_legacy_charsets_decoded(encoding, declared_in):
    sample = SAMPLES[encoding]
    head = f'<meta http-equiv="Content-Type" content="text/html; charset={encoding}">' if declared_in == "meta" else ""
    html = page(f"<p>{sample * 4}</p>", head=head).encode(encoding)
    out = run(html, charsets=[encoding if declared_in == "header" else None])
    assert sample in only_text(out)
    assert out.kept.column("charset")[0].as_py() == encoding


def test_charset_label_precedence():
    assert decode_html("café".encode("latin-1"), "iso-8859-1") == ("café", "windows-1252")
    # A single-byte label on valid non-ASCII UTF-8 is the usual wrong HTTP default.
    assert decode_html("café €".encode(), "iso-8859-1") == ("café €", "utf-8")
    # The header wins over <meta> when it decodes cleanly.
    both = '<meta charset="windows-1251"><p>é</p>'.encode("latin-1")
    assert decode_html(both, "iso-8859-1")[1] == "windows-1252"
    assert decode_html(both, None)[1] == "windows-1251"
    # Byte-order marks, and UTF-16 without one.
    assert decode_html("\ufeff<p>ok ü</p>".encode("utf-8"), "windows-1252") == ("<p>ok ü</p>", "utf-8")
    assert decode_html("<html><p>ok</p></html>".encode("utf-16"), None)[0] == "<html><p>ok</p></html>"
    assert decode_html("<html><p>ok</p></html>".encode("utf-16-le"), None)[0] == "<html><p>ok</p></html>"
    # An unknown label is ignored.
    assert decode_html(b"<p>plain</p>", "x-no-such-charset") == ("<p>plain</p>", "utf-8")


# --- pass-through and rejects ---------------------------------------------------------------


def test_text_rows_pass_through_unchanged():
    out = run(None, None, texts=["already plain text\n\nfrom a WET record", None], charsets=["utf-8", None])
    assert out.kept.column("text").to_pylist() == ["already plain text\n\nfrom a WET record"]
    assert out.kept.column("extraction").to_pylist() == ["passthrough"]
    assert out.kept.column("charset").to_pylist() == ["utf-8"]
    assert out.kept.column("title").to_pylist() == [None]
    assert out.rejected.column("reason").to_pylist() == ["no_main_text"]
    assert out.counters["documents_passthrough"] == 1


def test_bad_inputs_rejected_never_raised():
    garbage = random.Random(0).randbytes(2048) + bytes(range(32)) * 32
    out = run(
        "<p>" + "x" * 5000 + "</p>",  # too large for the bound below
        garbage,
        "<html><head><title>t</title></head><body>  </body></html>",
        b"",
        b"<!-- only a comment -->",
        "<html><body><div><p>unclosed <b>tags <i>everywhere</div></p> but text enough</body>",
        params=HtmlExtractorParams(max_html_bytes=4096),
    )
    reasons = dict(zip(out.rejected.column("id").to_pylist(), out.rejected.column("reason").to_pylist(), strict=True))
    assert reasons == {"0": "html_too_large", "1": "undecodable_html", "2": "no_main_text", "3": "no_main_text", "4": "no_main_text"}
    assert out.kept.column("id").to_pylist() == ["5"]
    assert out.rejected.schema == REJECT_SCHEMA
    assert "x" * 100 not in str(out.rejected.to_pylist())  # reject rows carry no text


def test_library_errors_become_extraction_error(monkeypatch):
    import trafilatura

    def broken(*args, **kwargs):
        raise RuntimeError("secret page text must not leak")

    # whichever path reaches trafilatura: bare_extraction, or its main extractor (the replicas)
    monkeypatch.setattr(trafilatura, "bare_extraction", broken)
    monkeypatch.setattr(trafilatura.main_extractor, "extract_content", broken)
    out = run(page("<p>Anything.</p>"))
    assert out.rejected.to_pylist()[0]["reason"] == "extraction_error"
    assert out.rejected.to_pylist()[0]["detail"] == "RuntimeError"


def test_min_chars_and_fallback(monkeypatch):
    assert run(page(""), params=HtmlExtractorParams(min_chars=100_000)).rejected.column("reason").to_pylist() == ["no_main_text"]
    # A first pass that finds (almost) nothing is retried in trafilatura's balanced mode.
    original = HtmlExtractor._body_text
    monkeypatch.setattr(HtmlExtractor, "_body_text", lambda self, tree, favor, fast, *rest, **options: "" if favor == "precision" else original(self, tree, favor, fast, *rest, **options))
    out = run(page(""))
    assert out.kept.column("extraction").to_pylist() == ["fallback"]
    assert out.counters["documents_fallback"] == 1
    out = run(page(""), params=HtmlExtractorParams(fallback_below_chars=0))
    assert out.rejected.column("reason").to_pylist() == ["no_main_text"]


# --- time bound ----------------------------------------------------------------------------


def slow_page(repeats: int = 1500) -> bytes:
    """Deeply nested link-bearing blocks: a few seconds of trafilatura for ~1 MB of HTML."""
    block = "<div>" * 40 + f"<p>{PROSE}</p><a href='/x'>link</a>" + "</div>" * 40
    return ("<html><body>" + block * repeats + "</body></html>").encode()


def check_time_bound(watchdog: bool) -> None:
    params = HtmlExtractorParams(timeout_s=0.2, max_html_bytes=100 * 2**20)
    started = time.perf_counter()
    out = run(slow_page(), page("<p>short and fine</p>"), slow_page(), params=params)
    elapsed = time.perf_counter() - started
    assert out.counters["documents_bound_by_watchdog"] == (3 if watchdog else 0)
    assert out.rejected.column("reason").to_pylist() == ["extraction_timeout"] * 2
    assert out.rejected.column("detail").to_pylist() == ["timeout_s=0.2"] * 2
    assert out.counters["extraction_timeouts"] == 2
    assert out.kept.column("id").to_pylist() == ["1"]  # the next document is unaffected
    assert elapsed < 3.0, elapsed
    # Nothing is left armed: a busy second afterwards is not interrupted.
    until = time.perf_counter() + 0.3
    while time.perf_counter() < until:
        pass


def test_time_bound_on_the_main_thread_uses_sigalrm_and_cleans_up():
    before = signal.getsignal(signal.SIGALRM)
    check_time_bound(watchdog=False)
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_bound_left_without_its_exit_never_interrupts_later_code():
    """The timer firing at the entry of ``__exit__`` makes the exit raise before it disarms (a CI
    run met this under load: later tests were interrupted every 50 ms). Simulated: a function enters
    a bound and returns without leaving it. Code running afterwards is not interrupted, and the
    timer and handler are gone after the first refire."""
    from curate.stages.extract_html import time_bound

    before = signal.getsignal(signal.SIGALRM)

    def leaky():
        bound = time_bound(0.05)
        bound.__enter__()
        return bound

    bound = leaky()
    until = time.perf_counter() + 0.4
    while time.perf_counter() < until:  # well past the deadline and several refires
        pass
    assert not bound.armed
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is before

    # inside the owner's work (and what it calls) the bound still interrupts
    def owner():
        with time_bound(0.05):
            while True:
                sum(range(100))

    with pytest.raises(ExtractionTimeout):
        owner()
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_time_bound_off_the_main_thread_uses_the_watchdog():
    errors = []

    def worker():
        try:
            check_time_bound(watchdog=True)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and not errors, errors


# --- parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [{"timeoutt": 3}, {"timeout_s": 0}, {"timeout_s": "soon"}, {"max_html_bytes": 0}, {"min_chars": 0},
     {"favor": "speed"}, {"fallback_below_chars": -1}, {"keep_code": "maybe"}],
)
def test_params_validated(bad):
    with pytest.raises(ValidationError):
        HtmlExtractorParams(**bad)


def test_params_defaults_recorded_in_provenance():
    provenance = HtmlExtractor.provenance(HtmlExtractorParams())
    assert provenance["stage"] == "extract_html"
    assert provenance["params"]["timeout_s"] == 10.0 and provenance["params"]["max_html_bytes"] == 10 * 2**20
    assert provenance["params"]["favor"] == "precision"
