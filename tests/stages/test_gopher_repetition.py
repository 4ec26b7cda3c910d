import itertools
import string
import time

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curate.filters.gopher import ngram_char_fractions, repetition_scores
from curate.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA, conform
from curate.stages.gopher_repetition import COLUMNS, RULES, GopherRepetition, GopherRepetitionParams

THRESHOLD_FIELDS = [name for name in GopherRepetitionParams.model_fields if name.startswith("max_")]


def _batch(texts, langs=None):
    table = conform(pa.table({"id": [str(i) for i in range(len(texts))], "url": [f"http://e.com/{i}" for i in range(len(texts))],
                              "text": texts}), DOCUMENT_SCHEMA)
    if langs is not None:
        table = table.append_column("lang", pa.array(langs, pa.string()))
    return table


def _words(n, offset=0):
    """n distinct 4-letter words."""
    return ["".join(p) for p in itertools.islice(itertools.product(string.ascii_lowercase, repeat=4), offset, offset + n)]


def _only(field, **extra):
    """Params with every rule off except ``field`` (at its Table A1 default)."""
    return GopherRepetitionParams(**{name: None for name in THRESHOLD_FIELDS if name != field}, **extra)


def _lines_text(n_lines, n_dup, sep="\n"):
    """n_lines lines of equal length; n_dup of them are one line repeated (all occurrences count)."""
    unique = [f"line {w} of text" for w in _words(n_lines - n_dup + 1)]
    return sep.join([unique[0]] * n_dup + unique[1:])


def _top_ngram_text(n, repeats, total=100):
    """``total`` words where one n-gram occurs ``repeats`` times (separated by unique words)."""
    gram = _words(n, offset=5000)
    filler = iter(_words(total))
    out = []
    for _ in range(repeats):
        out += gram + [next(filler)]
    while len(out) < total:
        out.append(next(filler))
    assert len(out) == total
    return " ".join(out)


def _dup_span_text(m, total=200):
    """``total`` words in which one span of ``m`` words appears twice."""
    span = _words(m, offset=5000)
    filler = _words(total - 2 * m)
    half = len(filler) // 2
    return " ".join(span + filler[:half] + span + filler[half:])


def _run(params, texts, langs=None):
    return GopherRepetition(params).process(_batch(texts, langs))


# (threshold field, text at the threshold -> kept, text just above -> rejected, score at/above)
BOUNDARIES = [
    ("max_dup_line_frac", _lines_text(20, 6), _lines_text(20, 7), (0.30, 0.35)),
    ("max_dup_line_char_frac", _lines_text(20, 4), _lines_text(20, 5), (0.20, 0.25)),
    ("max_dup_para_frac", _lines_text(20, 6, "\n\n"), _lines_text(20, 7, "\n\n"), (0.30, 0.35)),
    ("max_dup_para_char_frac", _lines_text(20, 4, "\n\n"), _lines_text(20, 5, "\n\n"), (0.20, 0.25)),
    ("max_top_2gram_char_frac", _top_ngram_text(2, 10), _top_ngram_text(2, 11), (0.20, 0.22)),
    ("max_top_3gram_char_frac", _top_ngram_text(3, 6), _top_ngram_text(3, 7), (0.18, 0.21)),
    ("max_top_4gram_char_frac", _top_ngram_text(4, 4), _top_ngram_text(4, 5), (0.16, 0.20)),
    *[(f"max_dup_{n}gram_char_frac", _dup_span_text(m), _dup_span_text(m + 1), (m / 100, (m + 1) / 100))
      for n, m in zip(range(5, 11), (15, 14, 13, 12, 11, 10), strict=True)],
]


@pytest.mark.parametrize("field, at, above, scores", BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
def test_each_rule_at_and_just_above_its_threshold(field, at, above, scores):
    score = field[len("max_"):]
    column, reason = COLUMNS[score], f"gopher_rep_{score}"
    assert repetition_scores(at)[score] == pytest.approx(scores[0])
    assert repetition_scores(above)[score] == pytest.approx(scores[1])
    out = _run(_only(field), [at, above])
    assert out.kept.column("id").to_pylist() == ["0"]
    assert out.kept.column(column).to_pylist()[0] == pytest.approx(scores[0])
    assert out.rejected.column("reason").to_pylist() == [reason]
    threshold = getattr(GopherRepetitionParams(), field)
    assert out.rejected.column("detail").to_pylist() == [f"value={scores[1]:.3f}>{threshold:.3f}"]
    assert out.counters == {f"would_reject_{reason}": 1.0}
    # Switched off, the same document is kept, and its score is still written.
    off = _run(GopherRepetitionParams(**{name: None for name in THRESHOLD_FIELDS}), [above])
    assert off.rejected.num_rows == 0
    assert off.kept.column(column).to_pylist()[0] == pytest.approx(scores[1])
    assert off.counters == {}


def test_table_a1_defaults():
    p = GopherRepetitionParams()
    assert (p.max_dup_line_frac, p.max_dup_para_frac, p.max_dup_line_char_frac, p.max_dup_para_char_frac) == (0.30, 0.30, 0.20, 0.20)
    assert (p.max_top_2gram_char_frac, p.max_top_3gram_char_frac, p.max_top_4gram_char_frac) == (0.20, 0.18, 0.16)
    assert [getattr(p, f"max_dup_{n}gram_char_frac") for n in range(5, 11)] == [0.15, 0.14, 0.13, 0.12, 0.11, 0.10]
    with pytest.raises(ValidationError):
        GopherRepetitionParams(max_dup_line_frac=1.5)
    with pytest.raises(ValidationError):
        GopherRepetitionParams(max_dup_lines_frac=0.3)


def test_first_rule_is_the_reason_and_every_rule_is_counted():
    log = "\n".join(["ERROR connection refused by upstream server at port 8080"] * 8 + [" ".join(_words(12))])
    clean = " ".join(_words(300))
    out = _run(GopherRepetitionParams(), [log, clean])
    assert out.kept.column("id").to_pylist() == ["1"]
    assert out.rejected.schema == REJECT_SCHEMA
    assert out.rejected.column("reason").to_pylist() == ["gopher_rep_dup_line_frac"]
    assert out.rejected.column("detail").to_pylist()[0].startswith("value=0.889>0.300")
    assert set(out.counters) == {f"would_reject_{r}" for r in RULES}
    fired = {k for k, v in out.counters.items() if v}
    assert {"would_reject_gopher_rep_dup_line_frac", "would_reject_gopher_rep_dup_line_char_frac",
            "would_reject_gopher_rep_dup_10gram_char_frac"} <= fired
    assert all(v <= 1 for v in out.counters.values())


def test_scores_are_columns_for_kept_and_rejected_and_histograms_count_all():
    texts = [_lines_text(20, 7), " ".join(_words(200)), "", None]
    stage = GopherRepetition()
    scored, hits = stage.score(_batch(texts))
    for column in COLUMNS.values():
        assert scored.schema.field(column).type == pa.float32()
        assert None not in scored.column(column).to_pylist()
    assert [bool(h) for h in hits] == [True, False, False, False]
    out = stage.process(_batch(texts))
    assert set(out.kept.column_names) >= set(COLUMNS.values())
    assert out.kept.num_rows + out.rejected.num_rows == 4
    specs = GopherRepetition.score_histograms(stage.params)
    assert set(specs) == set(out.histograms) == set(COLUMNS.values())
    assert all(sum(counts) == 4 for counts in out.histograms.values())
    assert specs["rep_dup_line_frac"].thresholds == (0.30,)
    assert GopherRepetition.score_histograms(_only("max_dup_line_frac"))["rep_dup_5gram_char_frac"].thresholds == ()


def test_count_first_occurrence_false_counts_only_the_repeats():
    text = _dup_span_text(15)
    assert repetition_scores(text)["dup_5gram_char_frac"] == pytest.approx(0.15)
    assert repetition_scores(text, count_first_occurrence=False)["dup_5gram_char_frac"] == pytest.approx(0.075)
    lines = _lines_text(20, 7)
    assert repetition_scores(lines, count_first_occurrence=False)["dup_line_frac"] == pytest.approx(0.30)
    # Top n-grams always count every occurrence.
    assert repetition_scores(_top_ngram_text(2, 11), count_first_occurrence=False)["top_2gram_char_frac"] == pytest.approx(0.22)


def test_ngram_edge_cases():
    top, dup = ngram_char_fractions("x x x y".split())
    assert top[2] == pytest.approx(0.75)  # overlapping occurrences of "x x" count each word once
    assert dup == {n: 0.0 for n in range(5, 11)}
    top, dup = ngram_char_fractions(_words(50))  # nothing repeats: n-grams seen once score 0
    assert set(top.values()) == {0.0} and set(dup.values()) == {0.0}
    assert repetition_scores("") == repetition_scores(None) == {k: 0.0 for k in repetition_scores("")}
    # Blank lines are not lines; lines are compared stripped.
    assert repetition_scores("a line\n\n  a line  \nanother one\nyet another")["dup_line_frac"] == pytest.approx(0.5)


def test_linear_time_on_a_long_repetitive_page():
    text = " ".join("abcdefghij"[i % 10] for i in range(50_000))
    started = time.perf_counter()
    scores = repetition_scores(text)
    assert time.perf_counter() - started < 3.0
    assert scores["dup_10gram_char_frac"] == 1.0
    assert scores["top_2gram_char_frac"] == pytest.approx(0.2)


@pytest.mark.parametrize("langs", [None, ["en", "en"], ["zh", "zh"]], ids=["no-lang-column", "en", "zh"])
def test_language_does_not_change_the_scores(langs):
    repeated = "\n".join(["本报讯：市政府今天宣布了新的旅游战略。"] * 4 + ["当地居民表示支持。", "专家认为这项计划很重要。", "银行也发布了报告。"])
    clean = "\n".join(["本报讯：市政府今天宣布了新的旅游战略。", "当地居民表示支持。", "专家认为这项计划很重要。", "银行也发布了报告。"])
    out = _run(GopherRepetitionParams(), [repeated, clean], langs)
    assert out.kept.column("id").to_pylist() == ["1"]
    assert out.rejected.column("reason").to_pylist() == ["gopher_rep_dup_line_frac"]
    assert out.rejected.column("detail").to_pylist() == ["value=0.571>0.300"]
