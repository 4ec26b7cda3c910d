import pyarrow as pa
import pytest
from pydantic import ValidationError

from curate.filters.gopher import quality_scores, stop_word_pattern
from curate.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA, conform
from curate.stages.gopher_quality import COLUMNS, RULES, GopherQuality, GopherQualityParams

THRESHOLD_FIELDS = [n for n in GopherQualityParams.model_fields if n.startswith(("min_", "max_"))]
ALL_OFF = {name: None for name in THRESHOLD_FIELDS}


def _batch(texts, langs=None):
    table = conform(pa.table({"id": [str(i) for i in range(len(texts))], "url": [f"http://e.com/{i}" for i in range(len(texts))],
                              "text": texts}), DOCUMENT_SCHEMA)
    if langs is not None:
        table = table.append_column("lang", pa.array(langs, pa.string()))
    return table


def _only(*fields, **extra):
    """Params with every rule off except ``fields`` (at the paper's defaults)."""
    return GopherQualityParams(**{name: None for name in THRESHOLD_FIELDS if name not in fields}, **extra)


def _run(params, texts, langs=None):
    return GopherQuality(params).process(_batch(texts, langs))


def _prose(n_words, word="abcde"):
    return " ".join([word] * n_words)


# (rule fields, text at the threshold -> kept, text just past it -> rejected, reason, detail, lang)
BOUNDARIES = [
    (("min_words",), _prose(50), _prose(49), "gopher_quality_word_count", "value=49<50"),
    (("max_words",), _prose(100_000, "ab"), _prose(100_001, "ab"), "gopher_quality_word_count", "value=100001>100000"),
    (("min_mean_word_length",), _prose(50, "abc"), _prose(49, "abc") + " ab", "gopher_quality_mean_word_length", "value=2.980<3"),
    (("max_mean_word_length",), _prose(50, "abcdefghij"), _prose(49, "abcdefghij") + " abcdefghijk", "gopher_quality_mean_word_length", "value=10.020>10"),
    (("max_hash_word_ratio",), _prose(45) + " #tag" * 5, _prose(44) + " #tag" * 6, "gopher_quality_hash_ratio", "value=0.120>0.100"),
    (("max_ellipsis_word_ratio",), _prose(45) + " more..." * 5, _prose(44) + " more…" * 6, "gopher_quality_ellipsis_ratio", "value=0.120>0.100"),
    (("max_bullet_lines_frac",), "\n".join(["• item here"] * 9 + ["plain line"]), "\n".join(["- item here"] * 19 + ["plain line"]),
     "gopher_quality_bullet_lines", "value=0.950>0.900"),
    (("max_ellipsis_lines_frac",), "\n".join(["it goes on..."] * 3 + ["a full stop."] * 7), "\n".join(["it goes on…"] * 4 + ["a full stop."] * 6),
     "gopher_quality_ellipsis_lines", "value=0.400>0.300"),
    (("min_alpha_words_frac",), _prose(40) + " 123" * 10, _prose(39) + " 1.5" * 11, "gopher_quality_alpha_words", "value=0.780<0.800"),
    (("min_stop_words",), _prose(48) + " the of", _prose(49) + " and", "gopher_quality_stop_words", "value=1<2"),
]


@pytest.mark.parametrize("fields, at, past, reason, detail", BOUNDARIES, ids=[f"{b[0][0]}" for b in BOUNDARIES])
def test_each_rule_at_and_just_past_its_threshold(fields, at, past, reason, detail):
    out = _run(_only(*fields), [at, past])
    assert out.kept.column("id").to_pylist() == ["0"]
    assert out.rejected.column("reason").to_pylist() == [reason]
    assert out.rejected.column("detail").to_pylist() == [detail]
    assert out.counters == {f"would_reject_{reason}": 1.0}
    off = _run(GopherQualityParams(**ALL_OFF), [past])
    assert off.rejected.num_rows == 0 and off.counters == {}


def test_alpha_chars_rule_for_languages_without_spaces():
    han = "市政府今天宣布了新的旅游战略当地居民表示支持专家认为这项计划很重要银行也发布了报告"
    at = (han * 3)[:70] + "1234567890" * 3  # 70 letters of 100 characters
    past = (han * 3)[:69] + "1234567890" * 3 + "1"
    out = _run(_only("min_alpha_chars_frac"), [at, past, past], ["zh", "zh", "en"])
    assert out.kept.column("id").to_pylist() == ["0", "2"]  # English: the rule does not apply
    assert out.rejected.column("reason").to_pylist() == ["gopher_quality_alpha_chars"]
    assert out.rejected.column("detail").to_pylist() == ["value=0.690<0.700"]
    assert out.kept.column("gopher_alpha_chars_frac").to_pylist()[0] == pytest.approx(0.7)


def test_paper_defaults_and_validation():
    p = GopherQualityParams()
    assert (p.min_words, p.max_words, p.min_mean_word_length, p.max_mean_word_length) == (50, 100_000, 3.0, 10.0)
    assert (p.max_hash_word_ratio, p.max_ellipsis_word_ratio, p.max_bullet_lines_frac, p.max_ellipsis_lines_frac) == (0.1, 0.1, 0.9, 0.3)
    assert (p.min_alpha_words_frac, p.min_stop_words) == (0.8, 2)
    assert p.stop_words == {"en": ("the", "be", "to", "of", "and", "that", "have", "with")}
    with pytest.raises(ValidationError):
        GopherQualityParams(min_words=100, max_words=10)
    with pytest.raises(ValidationError):
        GopherQualityParams(min_alpha_words_frac=1.2)
    with pytest.raises(ValidationError):
        GopherQualityParams(stopwords={"de": ["der"]})


def test_first_rule_is_the_reason_and_every_rule_is_counted():
    junk = "## ### #### 1 2 3 4"  # too few words, no letters, hashes, no stop words
    good = "The cat sat on the mat and looked at the birds that flew over the garden with great interest. " * 5
    out = _run(GopherQualityParams(), [junk, good])
    assert out.kept.column("id").to_pylist() == ["1"]
    assert out.rejected.schema == REJECT_SCHEMA
    assert out.rejected.column("reason").to_pylist() == ["gopher_quality_word_count"]
    assert out.rejected.column("detail").to_pylist() == ["value=7<50"]
    assert set(out.counters) == {f"would_reject_{r}" for r in RULES}
    fired = {k[len("would_reject_"):] for k, v in out.counters.items() if v}
    assert fired == {"gopher_quality_word_count", "gopher_quality_mean_word_length", "gopher_quality_hash_ratio",
                     "gopher_quality_alpha_words", "gopher_quality_stop_words"}


def test_scores_are_columns_for_kept_and_rejected_and_histograms_count_all():
    texts = ["The cat and the dog. " * 20, "#", "", None]
    stage = GopherQuality()
    scored, hits = stage.score(_batch(texts))
    assert [bool(h) for h in hits] == [False, True, True, True]
    for column, kind in COLUMNS.items():
        assert scored.schema.field(column).type == kind
    assert scored.column("gopher_word_count").to_pylist() == [100, 1, 0, 0]
    assert scored.column("gopher_stop_words").to_pylist() == [60, 0, 0, 0]
    out = stage.process(_batch(texts))
    assert set(out.kept.column_names) >= set(COLUMNS)
    assert out.kept.num_rows + out.rejected.num_rows == 4
    assert set(out.histograms) == set(GopherQuality.score_histograms(stage.params)) == set(COLUMNS)
    assert all(sum(counts) == 4 for counts in out.histograms.values())
    specs = GopherQuality.score_histograms(stage.params)
    assert specs["gopher_word_count"].thresholds == (50,)  # 100,000 is off the drawn range
    assert specs["gopher_mean_word_length"].thresholds == (3.0, 10.0)


def test_symbol_counting_details():
    assert quality_scores("a … b").ellipsis_word_ratio == pytest.approx(1 / 3)
    assert quality_scores("a …… b").ellipsis_word_ratio == pytest.approx(1 / 3)  # the Chinese ellipsis counts once
    assert quality_scores("a ... b ...").ellipsis_word_ratio == pytest.approx(0.5)
    assert quality_scores("#a #b c d").hash_word_ratio == pytest.approx(0.5)
    assert quality_scores("x1 2 ab? -- é").alpha_words_frac == pytest.approx(0.6)
    pattern = stop_word_pattern(["the", "of"])
    assert quality_scores("The end of theory, the.", stop_words=pattern).stop_words == 3
    assert quality_scores("the the the", stop_words=pattern, distinct_stop_words=True).stop_words == 1


ENGLISH = "The committee met on Tuesday to discuss the budget and the new plan that they have worked on with care. " * 5
GERMAN = "Der Ausschuss hat am Dienstag über den Haushalt beraten und einen neuen Plan vorgestellt, sagte die Sprecherin. " * 5
CHINESE = "本报讯：市政府今天宣布了新的旅游战略，当地居民表示支持。专家认为，这项计划对大家很有帮助，银行也发布了相关报告。"


def test_language_column_absent_means_the_default_english():
    out = _run(GopherQualityParams(), [ENGLISH, GERMAN])
    assert out.kept.column("id").to_pylist() == ["0"]
    assert out.rejected.column("reason").to_pylist() == ["gopher_quality_stop_words"]
    # No default language: the stop-word rule applies nowhere.
    unknown = _run(GopherQualityParams(default_language=None), [ENGLISH, GERMAN])
    assert unknown.rejected.num_rows == 0
    assert unknown.kept.column("gopher_stop_words").to_pylist() == [None, None]


def test_stop_words_apply_only_where_the_language_has_a_list():
    out = _run(GopherQualityParams(), [ENGLISH, GERMAN, GERMAN], ["en", "de", "en"])
    assert out.kept.column("id").to_pylist() == ["0", "1"]
    assert out.kept.column("gopher_stop_words").to_pylist() == [40, None]
    assert out.rejected.column("reason").to_pylist() == ["gopher_quality_stop_words"]
    # Lists in params are added to English; "de-AT" is German.
    params = GopherQualityParams(stop_words={"de": ["der", "die", "und", "den"]})
    assert set(params.stop_words) == {"de", "en"}
    out = _run(params, [GERMAN, "Ein Haus. " * 30, ENGLISH], ["de-AT", "de", "en"])
    assert out.kept.column("id").to_pylist() == ["0", "2"]
    assert out.kept.column("gopher_stop_words").to_pylist() == [20, 40]
    assert out.rejected.column("detail").to_pylist() == ["value=0<2"]
    # An empty list switches a language off, English included.
    assert _run(GopherQualityParams(stop_words={"en": []}), [GERMAN], ["en"]).rejected.num_rows == 0


def test_chinese_uses_character_estimates():
    at = (CHINESE * 3)[:100]  # 100 characters ~ 50 words
    short = (CHINESE * 3)[:98]  # ~ 49 words
    out = _run(GopherQualityParams(), [at, short, at], ["zh", "zh-Hans", None])
    assert out.kept.column("id").to_pylist() == ["0"]
    assert out.kept.column("gopher_word_count").to_pylist() == [50]
    assert out.kept.column("gopher_mean_word_length").to_pylist() == [None]
    assert out.kept.column("gopher_alpha_words_frac").to_pylist() == [None]
    assert out.kept.column("gopher_stop_words").to_pylist() == [None]
    assert out.kept.column("gopher_alpha_chars_frac").to_pylist()[0] > 0.85
    reasons = dict(zip(out.rejected.column("id").to_pylist(), out.rejected.column("reason").to_pylist(), strict=True))
    # As English (no language), the Chinese text is one long "word" per clause.
    assert reasons == {"1": "gopher_quality_word_count", "2": "gopher_quality_word_count"}
    assert out.rejected.column("detail").to_pylist()[0] == "value=49<50"
    # A stop-word list for Chinese is matched as substrings.
    zh = _run(GopherQualityParams(stop_words={"zh": ["的", "了"]}), [at, "市政府今天宣布新旅游战略" * 10], ["zh", "zh"])
    assert zh.kept.column("id").to_pylist() == ["0"]
    assert zh.rejected.column("reason").to_pylist() == ["gopher_quality_stop_words"]


def test_defect_report_and_bench_on_handmade_rows():
    from evals.heuristics import bench_heuristics, defect_report, format_defect_report

    clean = "\n".join([
        "The committee met on Tuesday to discuss the budget for the coming year.",
        "Several members said that the new plan would have to be revised with care.",
        "A spokesperson explained how the savings of the last decade were spent on schools.",
        "Local residents and business owners will be invited to comment before the final vote.",
        "The mayor promised that every proposal would be published online in full.",
    ])
    rows = [
        {"id": "a", "main_text": clean, "defects": [], "language": "en", "category": "general"},
        {"id": "b", "main_text": "Too short.", "defects": ["short"], "language": "en", "category": "short"},
        {"id": "c", "main_text": "Lorem ipsum dolor sit amet. " * 20, "defects": ["lorem_ipsum"], "language": "en", "category": "general"},
        {"id": "d", "main_text": None, "defects": [], "language": None, "category": "non_html"},
    ]
    report = defect_report(rows)
    assert report["documents"] == 3
    assert report["groups"] == {"lorem_ipsum": 1, "short": 1, "clean": 1}
    assert report["rules"]["gopher_quality_word_count"]["rejects"] == {"lorem_ipsum": 0, "short": 1, "clean": 0}
    assert report["rules"]["c4_lorem_ipsum"]["rejects"]["lorem_ipsum"] == 1
    assert report["any_stage"] == {"lorem_ipsum": 1, "short": 1, "clean": 0}
    assert "| gopher_quality_word_count |" in format_defect_report(report)
    bench = bench_heuristics([r["main_text"] for r in rows], repeats=1)
    assert bench["documents"] == 3
    assert set(bench["stages"]) == {"gopher_quality", "gopher_repetition", "c4_quality"}
    assert bench["all_three"]["docs_per_s"] > 0
