import pyarrow as pa
import pytest
from pydantic import ValidationError

from curate.filters.c4 import C4Rules, c4_clean, count_sentences
from curate.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA, conform
from curate.stages.c4_quality import COLUMNS, RULES, C4Quality, C4QualityParams

S1 = "The river runs through the old town."
S2 = "Many visitors walk along its banks every day."
S3 = "A small museum tells the story of the bridge."
GOOD = [S1, S2, S3]


def _batch(texts, langs=None):
    table = conform(pa.table({"id": [str(i) for i in range(len(texts))], "url": [f"http://e.com/{i}" for i in range(len(texts))],
                              "text": texts}), DOCUMENT_SCHEMA)
    if langs is not None:
        table = table.append_column("lang", pa.array(langs, pa.string()))
    return table


def _page(*extra, at=None):
    lines = list(GOOD)
    for line in extra:
        lines.insert(len(lines) if at is None else at, line)
    return "\n".join(lines)


def _run(texts, langs=None, **params):
    return C4Quality(C4QualityParams(**params)).process(_batch(texts, langs))


def _text(out, doc_id="0"):
    return dict(zip(out.kept.column("id").to_pylist(), out.kept.column("text").to_pylist(), strict=True))[doc_id]


def _col(out, column):
    return out.kept.column(column).to_pylist()


def test_tfds_defaults_and_validation():
    p = C4QualityParams()
    assert (p.min_words_per_line, p.min_sentences, p.max_word_length) == (5, 3, 1000)
    assert p.edit_lines and p.reject_lorem_ipsum and p.reject_curly_brace and p.document_rules_scope == "page"
    assert p.policy_phrases == ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
    assert p.terminal_punctuation[:4] == (".", "!", "?", '"')
    with pytest.raises(ValidationError):
        C4QualityParams(min_sentences=-1)
    with pytest.raises(ValidationError):
        C4QualityParams(document_rules_scope="lines")
    with pytest.raises(ValidationError):
        C4QualityParams(edit_line=False)


def test_lines_without_terminal_punctuation_are_removed():
    page = _page("Home News Sport Weather Contact Us Today", "It just goes on and on and on...", "It trails off like this …", at=1)
    out = _run([page])
    assert _text(out) == "\n".join(GOOD)
    assert _col(out, "c4_lines_removed") == [3]
    assert _col(out, "c4_no_terminal_punct_frac")[0] == pytest.approx(3 / 6)
    assert out.counters["c4_lines_removed_no_terminal_punct"] == 3
    kept = _run([page], require_terminal_punct=False)
    assert _text(kept) == page and _col(kept, "c4_lines_removed") == [0]
    assert _col(kept, "c4_no_terminal_punct_frac")[0] == pytest.approx(3 / 6)


def test_unicode_terminal_marks_count():
    endings = ['He said "we will be back soon"', "Sie sagte: »Wir kommen morgen wieder«  und ging »", "Она сказала, что вернется завтра!",
               "He asked whether it was true?", "This line ends with a curly quote\u201d", "Fullwidth marks are fine too\uff01", "यह एक बहुत अच्छा वाक्य है।"]
    out = _run([_page(*endings)])
    assert _col(out, "c4_lines_removed") == [0]
    assert _text(out) == _page(*endings)


def test_min_words_per_line_boundary():
    four, five = "Four words are here.", "Five words are here now."
    out = _run([_page(four, five)])
    assert _text(out) == _page(five)
    assert out.counters["c4_lines_removed_too_few_words"] == 1
    assert _text(_run([_page(four)], min_words_per_line=0)) == _page(four)
    assert _text(_run([_page(four)], min_words_per_line=4)) == _page(four)


def test_max_word_length_boundary():
    ok, too_long = "x" * 1000 + " is a very long word.", "x" * 1001 + " is a very long word."
    out = _run([_page(ok, too_long)])
    assert _text(out) == _page(ok)
    assert out.counters["c4_lines_removed_long_word"] == 1
    assert _text(_run([_page(too_long)], max_word_length=None)) == _page(too_long)


def test_javascript_and_policy_lines():
    js = "Please enable JavaScript to view the comments powered by Disqus."
    terms = "By using this site you agree to our Terms of Use."
    cookies = "This website uses cookies to improve your experience."
    out = _run([_page(js, terms, cookies)])
    assert _text(out) == "\n".join(GOOD)
    assert (_col(out, "c4_javascript_lines"), _col(out, "c4_policy_lines"), _col(out, "c4_lines_removed")) == ([1], [2], [3])
    off = _run([_page(js, terms, cookies)], remove_javascript_lines=False, remove_policy_lines=False)
    assert _text(off) == _page(js, terms, cookies)
    assert (_col(off, "c4_javascript_lines"), _col(off, "c4_policy_lines"), _col(off, "c4_lines_removed")) == ([1], [2], [0])


def test_citation_markers():
    page = _page("The bridge was built in 1850.[1]", "It was rebuilt twice since then. [citation needed]", "See the history section below.[edit]")
    out = _run([page])
    assert _text(out) == _page("The bridge was built in 1850.", "It was rebuilt twice since then.", "See the history section below.")
    assert out.counters["c4_citations_removed"] == 3
    raw = _run([page], remove_citations=False)
    assert _text(raw) == "\n".join(GOOD)  # the marker hides the full stop: the lines go


def test_lorem_ipsum_rule():
    out = _run([_page("Lorem Ipsum dolor sit amet, consectetur adipiscing elit."), _page()])
    assert out.kept.column("id").to_pylist() == ["1"]
    assert out.rejected.schema == REJECT_SCHEMA
    assert out.rejected.column("reason").to_pylist() == ["c4_lorem_ipsum"]
    assert out.rejected.column("detail").to_pylist() == ['contains "lorem ipsum"']
    assert _run([_page("Lorem ipsum dolor sit amet, consectetur.")], reject_lorem_ipsum=False).rejected.num_rows == 0
    # The page scope (the paper) sees it on a line the line rules remove; the TFDS scope does not.
    hidden = _page("lorem ipsum dolor")
    assert _run([hidden]).rejected.column("reason").to_pylist() == ["c4_lorem_ipsum"]
    assert _run([hidden], document_rules_scope="kept_lines").rejected.num_rows == 0


def _latin_documents(sentences_per_document: int) -> list[str]:
    from tests.conftest import shared_path

    path = shared_path("data", "langid", "lingua", "sentences", "la.txt")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [" ".join(lines[i:i + sentences_per_document]) for i in range(0, len(lines), sentences_per_document)]


def test_placeholder_text_without_the_phrase_is_lorem_ipsum():
    """Generated placeholder paragraphs (Faker's Latin, the classic passage cut after its first two
    words) on otherwise good pages: every page rejected, in any language label."""
    from faker import Faker

    fake = Faker("la")
    fake.seed_instance(11)
    pages = [_page(fake.paragraph(nb_sentences=5)) for _ in range(200)]
    pages.append(_page("Dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua."))
    for langs in (None, ["la"] * len(pages), ["en"] * len(pages), ["ja"] * len(pages)):
        out = _run(pages, langs, edit_lines=False)
        assert out.kept.num_rows == 0
        assert set(out.rejected.column("reason").to_pylist()) == {"c4_lorem_ipsum"}
    detail = out.rejected.column("detail").to_pylist()[-1]
    assert detail == "placeholder line: 1.00 of 17 words lorem-ipsum vocabulary", detail
    # C4's own rule (the phrase only) keeps them
    assert _run(pages, lorem_vocabulary_frac=None).rejected.filter(
        pa.compute.equal(pa.compute.field("reason"), "c4_lorem_ipsum")).num_rows == 0


def test_real_latin_is_not_placeholder_text():
    """lingua's Latin sentences (one per line and six per line) and the Latin UDHR: no line is
    taken for placeholder text (their lorem-ipsum vocabulary share is at most 0.46 on a line of 8+ words)."""
    from tests.conftest import shared_path

    udhr = shared_path("data", "langid", "udhr", "udhr2", "lat.txt").read_text(encoding="utf-8")
    for text in ("\n".join(_latin_documents(1)), "\n".join(_latin_documents(6)), udhr):
        r = c4_clean(text, C4Rules())
        assert r.lorem_line is None and not r.lorem_ipsum


def test_curly_brace_rule():
    code = _page("function show() {", "  return 1;", "}")
    out = _run([code])
    assert out.rejected.column("reason").to_pylist() == ["c4_curly_brace"]
    assert out.rejected.column("detail").to_pylist() == ['contains "{"']
    assert _run([code], reject_curly_brace=False).rejected.num_rows == 0
    assert _run([code], document_rules_scope="kept_lines").rejected.num_rows == 0
    in_prose = _page("The set {1, 2, 3} has three small elements.")
    assert _run([in_prose], document_rules_scope="kept_lines").rejected.column("reason").to_pylist() == ["c4_curly_brace"]


def test_sentence_minimum_boundary():
    two, three = "\n".join(GOOD[:2]), "\n".join(GOOD)
    one_line_three = "The river runs here. Visitors walk by! Is the museum open?"
    out = _run([two, three, one_line_three])
    assert out.kept.column("id").to_pylist() == ["1", "2"]
    assert _col(out, "c4_sentences") == [3, 3]
    assert out.rejected.column("reason").to_pylist() == ["c4_too_few_sentences"]
    assert out.rejected.column("detail").to_pylist() == ["value=2<3"]
    assert _run([two], min_sentences=2).rejected.num_rows == 0
    assert _run([two], min_sentences=0).rejected.num_rows == 0


def test_count_sentences():
    assert count_sentences("One. Two! Three? Four") == 3
    assert count_sentences('He said "stop." Then left.') == 2
    assert count_sentences("Version 3.5 is out") == 1  # no sentence end, still one sentence
    assert count_sentences("第一句。第二句！第三句？") == 3
    assert count_sentences("   ") == 0


def test_emptied_pages():
    nav = "Home\nNews\nContact"
    out = _run([nav, ""])
    assert out.rejected.column("reason").to_pylist() == ["c4_emptied", "c4_emptied"]
    assert out.rejected.column("detail").to_pylist() == ["lines_removed=3 of 3", "lines_removed=0 of 0"]
    assert out.counters["would_reject_c4_too_few_sentences"] == 2
    assert _run([nav], reject_emptied=False).rejected.column("reason").to_pylist() == ["c4_too_few_sentences"]


def test_first_rule_is_the_reason_and_every_rule_is_counted():
    bad = "Lorem ipsum dolor sit amet.\nvar x = {a: 1}"
    out = _run([bad, _page()])
    assert out.rejected.column("reason").to_pylist() == ["c4_lorem_ipsum"]
    assert set(k for k in out.counters if k.startswith("would_reject_")) == {f"would_reject_{r}" for r in RULES}
    assert out.counters["would_reject_c4_lorem_ipsum"] == 1
    assert out.counters["would_reject_c4_curly_brace"] == 1
    assert out.counters["would_reject_c4_too_few_sentences"] == 1
    assert out.counters["would_reject_c4_emptied"] == 0
    off = _run([bad], reject_lorem_ipsum=False, reject_curly_brace=False, reject_emptied=False, min_sentences=0)
    assert off.rejected.num_rows == 0 and not any(k.startswith("would_reject_") for k in off.counters)


def test_edit_lines_off_keeps_text_and_decisions():
    pages = [_page("Home News Sport Weather", "Please enable JavaScript to continue reading."), "Home\nNews", _page()]
    edited, unedited = _run(pages), _run(pages, edit_lines=False)
    assert edited.kept.column("id").to_pylist() == unedited.kept.column("id").to_pylist() == ["0", "2"]
    assert _text(edited) == "\n".join(GOOD)
    assert _text(unedited) == pages[0]
    for column in COLUMNS:
        assert _col(edited, column) == _col(unedited, column)
    assert _col(unedited, "c4_lines_removed") == [2, 0]
    assert edited.rejected.to_pylist() == unedited.rejected.to_pylist()


def test_untouched_text_is_the_same_string_and_paragraphs_survive():
    text = "\n\n".join(GOOD) + "\n"
    result = c4_clean(text)
    assert result.text is text and result.lines_removed == 0
    edited = c4_clean(S1 + "\n\nMenu\n\n\n" + S2 + "\nShare this\n" + S3)
    assert edited.text == S1 + "\n\n" + S2 + "\n" + S3


def test_scores_are_columns_for_kept_and_rejected_and_histograms_count_all():
    texts = [_page("Menu"), "Home", "", None]
    stage = C4Quality()
    scored, hits, _ = stage.score(_batch(texts))
    assert [bool(h) for h in hits] == [False, True, True, True]
    for column, kind in COLUMNS.items():
        assert scored.schema.field(column).type == kind
        assert None not in scored.column(column).to_pylist()
    assert scored.column("c4_lines_removed").to_pylist() == [1, 1, 0, 0]
    assert scored.column("text").to_pylist()[3] is None
    out = stage.process(_batch(texts))
    assert set(out.kept.column_names) >= set(COLUMNS)
    assert out.kept.num_rows + out.rejected.num_rows == 4
    assert set(out.histograms) == set(C4Quality.score_histograms(stage.params))
    assert all(sum(counts) == 4 for counts in out.histograms.values())
    assert C4Quality.score_histograms(stage.params)["c4_sentences"].thresholds == (3,)
    assert out.counters["c4_documents_edited"] == 1


ZH = ["市政府今天宣布了新的旅游战略。", "当地居民表示支持这项计划。", "专家认为这项计划对大家很有帮助。"]


@pytest.mark.parametrize("langs, kept", [(None, False), (["en"], False), (["zh"], True), (["zh-Hant"], True)],
                         ids=["no-lang-column", "en", "zh", "zh-Hant"])
def test_chinese_lines_are_counted_in_characters(langs, kept):
    page = "\n".join(ZH + ["银行发布报告。"])  # 7 characters ~ 3.5 words: under 5
    out = _run([page], langs)
    if kept:
        assert _text(out) == "\n".join(ZH)
        assert _col(out, "c4_sentences") == [3]
        assert _col(out, "c4_short_lines") == [1]
    else:  # as a spaced language every Chinese line is one word
        assert out.rejected.column("reason").to_pylist() == ["c4_emptied"]


def test_chinese_long_lines_are_not_long_words():
    line = "这是一个很长的句子" * 120 + "。"  # 1081 characters, no space
    assert c4_clean(line, C4Rules(), unspaced=True).lines_removed == 0
    assert c4_clean(line, C4Rules(), unspaced=False).removed_by["long_word"] == 1
