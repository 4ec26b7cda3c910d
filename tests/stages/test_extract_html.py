import time

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curate.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA, conform
from curate.stages.extract_html import HtmlExtractor, HtmlExtractorParams, decode_html

PROSE = " ".join(
    "The river valley was settled early because the soil was rich and the water was clean." for _ in range(6)
)


def page(body: str, title: str = "A page", head: str = '<meta charset="utf-8">') -> str:
    nav = "".join(f'<li><a href="/s{i}">Section {i}</a></li>' for i in range(12))
    return (
        f"<html><head>{head}<title>{title}</title></head><body><header><nav><ul>{nav}</ul></nav></header>"
        f"<main><article><h1>{title}</h1><p>{PROSE}</p>{body}<p>{PROSE}</p></article></main>"
        f"<footer><p>Copyright 2024 Example Corp. All rights reserved. Privacy policy. Terms.</p></footer></body></html>"
    )


def run(*htmls, params=None, charset=None, texts=None):
    n = len(htmls)
    batch = conform(
        pa.table({
            "id": [str(i) for i in range(n)],
            "html": [h.encode("utf-8") if isinstance(h, str) else h for h in htmls],
            "text": texts or [None] * n,
            "charset": [charset] * n,
        }),
        DOCUMENT_SCHEMA,
    )
    return HtmlExtractor(params or HtmlExtractorParams()).process(batch)


def test_main_text_without_boilerplate_or_markdown():
    out = run(page("<ul><li>first point here</li><li>second point here</li></ul><h2>Sub heading</h2><p>Closing words of the article body.</p>"))
    text = out.kept.column("text")[0].as_py()
    assert "river valley" in text and "Closing words" in text
    assert "Section 3" not in text and "Copyright 2024" not in text
    assert not any(line.startswith(("- ", "# ", "## ", "* ", "|")) for line in text.split("\n"))
    assert "**" not in text
    assert out.kept.column("title")[0].as_py() == "A page"
    assert "html" not in out.kept.column_names
    assert out.kept.column("extraction")[0].as_py() == "trafilatura"


def test_code_block_kept_verbatim_with_indentation():
    code = "def area(r):\n    if r < 0:\n        raise ValueError(r)\n    return 3.14159 * r * r\n"
    out = run(page(f"<pre><code>{code.replace('<', '&lt;')}</code></pre>"))
    assert code.strip("\n") in out.kept.column("text")[0].as_py()
    assert out.counters["code_blocks_kept"] == 1


def test_math_kept_from_mathml_tex_and_images():
    mathml = ('<p>Energy is <math alttext="E = mc^2"><semantics><mrow><mi>E</mi></mrow>'
              '<annotation encoding="application/x-tex">E = mc^{2}</annotation></semantics></math> here.</p>')
    img = '<p>Area: <img class="mwe-math-fallback-image-inline" alt="{\\displaystyle \\pi r^{2}}" src="x.svg"> units.</p>'
    tex = '<p>Inline $a^2+b^2=c^2$ stays.</p><script type="math/tex">\\sum_{i=1}^n i</script>'
    text = run(page(mathml + img + tex)).kept.column("text")[0].as_py()
    assert "E = mc^{2}" in text
    assert "\\pi r^{2}" in text
    assert "$a^2+b^2=c^2$" in text
    assert "\\sum_{i=1}^n i" in text


@pytest.mark.parametrize("encoding, sample", [("windows-1251", "Привет, это пример текста на русском языке."), ("shift_jis", "これは日本語の文章の例です。")])
@pytest.mark.parametrize("declared", [True, False])
def test_legacy_charsets_decoded(encoding, sample, declared):
    html = page(f"<p>{sample * 8}</p>", head=f'<meta charset="{encoding}">' if declared else "").encode(encoding)
    out = run(html, charset=None)
    assert out.kept.num_rows == 1, out.rejected.to_pylist()
    assert sample in out.kept.column("text")[0].as_py()


def test_header_charset_wins_when_it_decodes():
    assert decode_html("café".encode("latin-1"), "iso-8859-1") == ("café", "iso-8859-1")


def test_text_rows_pass_through_and_empty_rows_are_rejected():
    out = run(None, None, texts=["already plain text", None])
    assert out.kept.column("text").to_pylist() == ["already plain text"]
    assert out.kept.column("extraction").to_pylist() == ["passthrough"]
    assert out.rejected.column("reason").to_pylist() == ["no_main_text"]


def test_oversized_garbage_and_empty_pages_rejected_not_raised():
    params = HtmlExtractorParams(max_html_bytes=4096)
    out = run("<p>" + "x" * 5000 + "</p>", b"\x00\xff\xfe" * 100, "<html><head><title>t</title></head><body>  </body></html>", params=params)
    reasons = dict(zip(out.rejected.column("id").to_pylist(), out.rejected.column("reason").to_pylist()))
    assert reasons["0"] == "html_too_large"
    assert reasons["2"] == "no_main_text"
    assert out.kept.num_rows + out.rejected.num_rows == 3
    assert out.rejected.schema == REJECT_SCHEMA


def test_time_bound_rejects_a_slow_page():
    # A page big enough that extraction takes far longer than the bound.
    huge = page("".join(f"<div><p>{PROSE} {i}</p><table><tr><td>{i}</td></tr></table></div>" for i in range(6000)))
    params = HtmlExtractorParams(timeout_s=0.05, max_html_bytes=100 * 2**20)
    started = time.perf_counter()
    out = run(huge, page("<p>short and fine</p>"), params=params)
    assert time.perf_counter() - started < 5
    assert out.rejected.column("reason").to_pylist() == ["extraction_timeout"]
    assert out.counters["extraction_timeouts"] == 1
    assert out.kept.num_rows == 1  # the next document is unaffected


def test_params_validated():
    with pytest.raises(ValidationError):
        HtmlExtractorParams(timeout_s=0)
    with pytest.raises(ValidationError):
        HtmlExtractorParams(timeoutt=3)
    with pytest.raises(ValidationError):
        HtmlExtractorParams(favor="speed")
