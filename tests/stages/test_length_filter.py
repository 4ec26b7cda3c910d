import pyarrow as pa
import pytest
from pydantic import ValidationError

from curate.filters.words import script_word_count
from curate.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA, conform
from curate.stages.length_filter import LengthFilter, LengthFilterParams
from tests.conftest import shared_path


def _batch(texts):
    return conform(pa.table({"id": [str(i) for i in range(len(texts))], "url": [f"http://e.com/{i}" for i in range(len(texts))], "text": texts}), DOCUMENT_SCHEMA)


def test_boundaries_and_reasons():
    stage = LengthFilter(LengthFilterParams(min_words=3, max_words=5, min_chars=0))
    out = stage.process(_batch(["one two", "one two three", "a b c d e", "a b c d e f", None]))
    assert out.kept.column("id").to_pylist() == ["1", "2"]
    assert out.kept.column("word_count").to_pylist() == [3, 5]
    assert out.rejected.schema == REJECT_SCHEMA
    assert dict(zip(out.rejected.column("id").to_pylist(), out.rejected.column("reason").to_pylist(), strict=True)) == {
        "0": "too_few_words", "3": "too_many_words", "4": "too_few_words"}
    assert set(out.rejected.column("stage").to_pylist()) == {"length_filter"}
    assert out.kept.num_rows + out.rejected.num_rows == 5
    assert "text" not in out.rejected.column_names


def test_min_chars_rule_fires_first():
    out = LengthFilter(LengthFilterParams(min_words=0, min_chars=10)).process(_batch(["short", "long enough text"]))
    assert out.rejected.column("reason").to_pylist() == ["too_few_chars"]
    assert out.rejected.column("detail").to_pylist() == ["chars=5<10"]


def test_params_validated():
    with pytest.raises(ValidationError):
        LengthFilterParams(min_words=10, max_words=2)
    with pytest.raises(ValidationError):
        LengthFilterParams(min_wordz=1)


# ----- words by script: the stage runs before language ID -----

def _sentences(lang: str, n: int) -> list[str]:
    path = shared_path("data", "langid", "lingua", "sentences", f"{lang}.txt")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()][:n]


@pytest.mark.parametrize("lang", ["ja", "zh", "th"])
def test_unspaced_scripts_are_counted_by_characters(lang):
    """Six real sentences make a paragraph in any language and are kept, as six English ones are;
    one short sentence is not. By whitespace tokens the CJK paragraphs were a few "words"."""
    sentences = _sentences(lang, 60)
    joiner = " " if lang == "th" else ""  # Thai separates sentences with a space, CJK with none
    paragraphs = [joiner.join(sentences[i:i + 6]) for i in range(0, 60, 6)]
    if lang != "th":
        assert all(len(p.split()) < 50 for p in paragraphs)  # what the whitespace count saw
    out = LengthFilter(LengthFilterParams(min_words=50)).process(_batch(paragraphs))
    assert out.rejected.num_rows == 0, out.rejected.column("detail").to_pylist()
    assert out.kept.column("word_count").to_pylist() == [script_word_count(p) for p in paragraphs]
    short = LengthFilter(LengthFilterParams(min_words=50)).process(_batch([min(sentences, key=len)]))
    assert short.rejected.column("reason").to_pylist() == ["too_few_words"]


def test_spaced_scripts_count_whitespace_tokens_as_before():
    texts = [" ".join(_sentences("en", 6)), " ".join(_sentences("ko", 6)), "one - two,  three\nfour", "", "   ", None]
    out = LengthFilter(LengthFilterParams(min_words=0)).process(_batch(texts))
    assert out.kept.column("word_count").to_pylist() == [len((t or "").split()) for t in texts]


def test_mixed_script_words():
    # 13 Han/kana characters make 6.5 -> 6 words; "2020" and "Tokyo" are words; "。" and "、" are not
    assert script_word_count("東京タワーは2020年に改修された。Tokyo、") == 6 + 2
    assert script_word_count("สวัสดีครับ") == 5
    assert script_word_count("東京", chars_per_word=1.0) == 2


@pytest.mark.parametrize("name", ["jpn", "cmn_hans", "cmn_hant", "tha"])
def test_real_declaration_paragraphs_pass(name):
    """The Universal Declaration in Japanese, Chinese and Thai, cut into passages of 120+
    characters (consecutive lines): each passes the 50-word floor; by whitespace tokens each failed."""
    text = shared_path("data", "langid", "udhr", "udhr2", f"{name}.txt").read_text(encoding="utf-8")
    paragraphs, lines = [], []
    for line in filter(None, map(str.strip, text.splitlines())):
        lines.append(line)
        if sum(map(len, lines)) >= 120:
            paragraphs.append("\n".join(lines))
            lines = []
    assert len(paragraphs) >= 10
    assert all(len(p.split()) < 50 for p in paragraphs)  # what the whitespace count saw
    out = LengthFilter(LengthFilterParams(min_words=50)).process(_batch(paragraphs))
    assert out.rejected.num_rows == 0, out.rejected.column("detail").to_pylist()
