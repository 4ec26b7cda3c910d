"""dirty_words: the shipped LDNOOBW lists, matching (word boundaries, phrases, CJK substrings), the
fraction / count rules at their thresholds, languages, columns and histograms."""
import re
import tomllib
import unicodedata
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curate.filters import dirty_words as dw
from curate.sample import generate_sample_corpus, read_ground_truth
from curate.stages.dirty_words import DirtyWords, DirtyWordsParams

REPO = Path(__file__).resolve().parents[2]
FILLER = "the river runs past old stone houses near town".split()  # no listed word in any list used here


def prose(words: int, listed: str = "porn", hits: int = 0) -> str:
    """``words`` whitespace words, ``hits`` of them the listed word, spread evenly."""
    out = [FILLER[i % len(FILLER)] for i in range(words)]
    for k in range(hits):
        out[(k * words) // max(hits, 1)] = listed
    return " ".join(out)


def batch(texts, langs=None, ids=None) -> pa.Table:
    columns = {"id": ids or [f"d{i}" for i in range(len(texts))], "url": [None] * len(texts),
               "source": ["s"] * len(texts), "text": list(texts)}
    if langs is not None:
        columns["lang"] = list(langs)
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


def run(texts, langs=None, **params):
    return DirtyWords(DirtyWordsParams(**params)).process(batch(texts, langs))


def en():
    return dw.matcher(("en",))


# --- shipped data -------------------------------------------------------------------------------


def test_shipped_lists_sources_and_licence():
    shipped = dw.shipped_lists()
    assert {"en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "ja", "zh", "ko", "th"} <= set(shipped)
    assert len(shipped) == 28  # naughty-words 1.2.0: 27 languages + the Québécois French list
    for name, path in shipped.items():
        raw = path.read_bytes().decode("utf-8")  # UTF-8, one entry per line
        entries = dw.read_word_list(path)
        assert entries and raw.endswith("\n"), name
    assert len(dw.read_word_list(shipped["en"])) == 403
    assert "2 girls 1 cup" in dw.read_word_list(shipped["en"])  # phrases are kept
    folder = dw.LISTS_DIR
    assert (folder / "LICENSE").read_text(encoding="utf-8").startswith("Attribution 4.0 International")
    source = (folder / "SOURCE.md").read_text(encoding="utf-8")
    for fact in ("naughty-words", "1.2.0", "CC BY 4.0", "LDNOOBW", "npm pack"):
        assert fact in source


def test_package_data_ships_the_lists():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "data/dirty_words/*" in config["tool"]["setuptools"]["package-data"]["curate"]


# --- matching -----------------------------------------------------------------------------------


def test_word_boundaries_no_scunthorpe_problem():
    m = en()
    assert m.matches("class assistant Scunthorpe cocktail analysis Essex bass sussex") == []
    assert m.matches("You ass! what an ass, (ass) ass.") == ["ass"] * 4
    assert m.matches("asshole's") == ["asshole"]  # the longest entry wins, an apostrophe is a boundary
    assert m.matches("pornstar") == []  # a listed word inside a longer word does not match


def test_multiword_phrases_across_whitespace_and_longest_match():
    m = en()
    assert m.matches("2 girls\n1 cup and 2  girls 1 cups") == ["2 girls\n1 cup"]
    hits = m.hits("watch 2 girls 1 cup now")
    assert (hits.count, hits.units, hits.total_units) == (1, 4, 6)
    assert m.matches("a ball gag") == ["ball gag"]
    assert m.matches("big tits") == ["big tits"]  # one match, not "big tits" + "tits"


def test_case_folding_and_nfkc():
    assert en().matches("PORN Porn ＰＯＲＮ") == ["porn"] * 3
    german = dw.matcher(("de",))
    assert german.matches("Scheiße SCHEISSE") == ["scheisse", "scheisse"]


def test_cjk_and_thai_lists_match_substrings():
    zh = dw.matcher(("zh",))
    assert zh.matches("你他妈的说什么") == ["他妈的"]  # longest of 他妈 / 他妈的, inside a run of characters
    hits = zh.hits("你他妈的说什么")
    assert (hits.count, hits.units, hits.total_units) == (1, 3, 7)  # units are characters
    ja = dw.matcher(("ja",))
    assert ja.matches("エッチな本") == ["エッチ"]
    # A Latin entry of the Japanese list still needs word boundaries.
    assert ja.matches("smartphone") == [] and ja.matches("sm プレイ") == ["sm"]
    thai = dw.matcher(("th",))
    composed = "น้ำแตก"  # SARA AM as one character; the list spells it decomposed
    assert unicodedata.normalize("NFKC", composed) != composed
    assert thai.matches(composed) == [dw.normalize(composed)]


def test_hangul_entries_match_at_word_start():
    ko = dw.matcher(("ko",))
    assert ko.matches("섹스를 했다") == ["섹스"]  # a particle attached after the word
    assert ko.matches("무섹스") == []


def test_units_are_whitespace_words_or_spaceless_characters():
    assert dw.count_units("one two, three") == len("one two, three".split())
    assert dw.count_units("日本語 and English") == 5  # 3 characters + 2 words
    assert en().hits("🖕 hello").units == 1  # a match covers at least one unit


def test_trie_pattern_matches_exactly_the_entries():
    entries = ["ab", "abc", "abd", "b c", "x"]
    pattern = re.compile(f"(?:{dw.trie_pattern(entries)})$")
    for entry in entries:
        assert pattern.match(entry.replace(" ", "  ")), entry
    for other in ["a", "abcd", "bc", "ac", "y"]:
        assert not pattern.match(other), other


# --- the rules ------------------------------------------------------------------------------------


def test_frac_threshold_just_below_and_above():
    at = prose(200, hits=4)  # 4/200 = 0.020: not above 0.020
    above = prose(200, hits=5)  # 0.025
    out = run([at, above])
    assert out.kept.column("id").to_pylist() == ["d0"]
    assert out.rejected.column("reason").to_pylist() == ["dirty_words"]
    assert out.rejected.column("detail").to_pylist() == ["frac=0.025>0.020 count=5"]
    assert out.counters["would_reject_dirty_words_frac"] == 1


def test_min_count_guards_short_pages():
    two = prose(20, hits=2)  # frac 0.1, but only two matches
    three = prose(30, hits=3)
    out = run([two, three])
    assert out.kept.column("id").to_pylist() == ["d0"]
    assert out.rejected.column("id").to_pylist() == ["d1"]
    assert run([two], min_count=1).rejected.num_rows == 1


def test_max_count_is_c4s_rule_when_zero():
    one = prose(500, hits=1)
    assert run([one]).rejected.num_rows == 0
    out = run([one, prose(50)], max_count=0)
    assert out.rejected.column("detail").to_pylist() == ["count=1>0 frac=0.002"]
    assert out.counters["would_reject_dirty_words_count"] == 1
    assert run([prose(100, hits=50)], max_frac=None, max_count=None).rejected.num_rows == 0  # both off


def test_scores_written_for_kept_and_rejected_before_the_split():
    texts = [prose(100), prose(100, hits=30), prose(100, hits=1)]
    stage = DirtyWords()
    out = stage.process(batch(texts))
    assert out.kept.schema.field("dirty_word_count").type == pa.int32()
    assert out.kept.schema.field("dirty_word_frac").type == pa.float32()
    assert out.kept.column("dirty_word_count").to_pylist() == [0, 1]
    assert out.rejected.column("id").to_pylist() == ["d1"]
    # Histograms count every scored document, the rejected one included.
    assert sum(out.histograms["dirty_word_frac"]) == 3 and sum(out.histograms["dirty_word_count"]) == 3
    spec = DirtyWords.score_histograms(stage.params)
    assert spec["dirty_word_frac"].thresholds == (0.02,)
    assert spec["dirty_word_frac"].counts([0.3])[-1] == 1  # clipped into the edge bin
    assert DirtyWords.score_histograms(DirtyWordsParams(max_count=5))["dirty_word_count"].thresholds == (5,)


def test_rerun_replaces_its_columns():
    stage = DirtyWords()
    first = stage.process(batch([prose(100, hits=1)])).kept
    again = stage.process(first).kept
    assert again.column_names.count("dirty_word_count") == 1
    assert again.column("dirty_word_count").to_pylist() == [1]


# --- languages ----------------------------------------------------------------------------------


def test_language_column_absent_null_or_und_falls_back_to_default():
    spam = prose(100, hits=20)
    out = run([spam])  # no lang column: English
    assert out.rejected.num_rows == 1 and out.counters["default_language_used"] == 1
    out = run([spam, spam, spam], ["und", None, ""])
    assert out.rejected.num_rows == 3 and out.counters["scored_en"] == 3
    out = run([spam], default_language=None)
    assert out.rejected.num_rows == 0 and out.counters["unscored_language"] == 1
    assert out.kept.column("dirty_word_frac").to_pylist() == [None]


def test_each_document_uses_its_languages_list():
    german = prose(100, listed="arschloch", hits=20)
    assert run([german], ["en"]).rejected.num_rows == 0
    assert run([german], ["de"]).rejected.num_rows == 1
    assert run([german], ["de_AT"]).rejected.num_rows == 1  # region suffix dropped
    norwegian = prose(100, listed=dw.read_word_list(dw.shipped_lists()["no"])[0], hits=20)
    assert run([norwegian], ["nb"]).rejected.num_rows == 1  # lid.176 / ISO alias -> the "no" list
    out = run([german], ["sw"])  # no Swahili list: unscored, never rejected
    assert out.rejected.num_rows == 0 and out.counters["unscored_language"] == 1
    assert out.kept.column("dirty_word_count").to_pylist() == [None]


def test_languages_also_match_and_extra_lists(tmp_path):
    german = prose(100, listed="arschloch", hits=20)
    out = run([german], ["de"], languages=["en"])
    assert out.rejected.num_rows == 0 and out.counters["unscored_language"] == 1
    english_spam_on_german_page = prose(100, listed="porn", hits=20)
    assert run([english_spam_on_german_page], ["de"]).rejected.num_rows == 0
    assert run([english_spam_on_german_page], ["de"], also_match=["en"]).rejected.num_rows == 1
    extra = tmp_path / "extra.txt"
    extra.write_text("# site-specific terms\n\nfoobarword\nmulti word thing\n", encoding="utf-8")
    spam = " ".join(["foobarword multi word thing"] * 10 + FILLER * 5)
    assert run([spam], ["en"]).rejected.num_rows == 0
    out = run([spam], ["en"], extra_word_lists={"en": [str(extra)]})
    assert out.rejected.num_rows == 1
    assert out.rejected.column("detail").to_pylist()[0].endswith("count=20")
    assert run([spam], ["sw"], extra_word_lists={"*": [str(extra)]}).rejected.num_rows == 1  # '*': every language


def test_params_are_validated(tmp_path):
    with pytest.raises(ValidationError):
        DirtyWordsParams(max_frac=1.5)
    with pytest.raises(ValidationError):
        DirtyWordsParams(languages=["xx"])
    with pytest.raises(ValidationError):
        DirtyWordsParams(extra_word_lists={"en": [str(tmp_path / "missing.txt")]})
    with pytest.raises(ValidationError):
        DirtyWordsParams(unknown=1)
    with pytest.raises(ValidationError):
        DirtyWordsParams(default_language="und")


# --- the sample corpus ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    generate_sample_corpus(root, seed=3, pages=400, pages_per_warc=400)
    return [r for r in read_ground_truth(root) if r.get("main_text")]


def test_sample_corpus_adult_spam_rejected_clean_pages_kept(sample_rows):
    out = DirtyWords().process(batch([r["main_text"] for r in sample_rows], [r["language"] for r in sample_rows],
                                     [r["id"] for r in sample_rows]))
    rejected = set(out.rejected.column("id").to_pylist())
    dirty = {r["id"] for r in sample_rows if "dirty_words" in r["defects"]}
    clean = {r["id"] for r in sample_rows if not r["defects"]}
    assert dirty and dirty <= rejected
    assert not rejected & clean


# --- real pages (../shared) ----------------------------------------------------------------------


def test_real_news_articles_are_kept_though_some_contain_listed_words():
    import json

    from tests.conftest import shared_path

    gold = json.loads(shared_path("data", "extraction", "scrapinghub-aeb", "ground-truth.json").read_text(encoding="utf-8"))
    articles = [page["articleBody"] for page in gold.values()]
    out = run(articles)
    assert out.counters["documents_with_dirty_words"] >= 5  # news mentions "sex", "rape"...: C4's rule would drop them
    assert out.rejected.num_rows <= 1
    assert run(articles, max_count=0).rejected.num_rows == out.counters["documents_with_dirty_words"]
