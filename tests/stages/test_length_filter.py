import pyarrow as pa
import pytest
from pydantic import ValidationError

from curate.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA, conform
from curate.stages.length_filter import LengthFilter, LengthFilterParams


def _batch(texts):
    return conform(pa.table({"id": [str(i) for i in range(len(texts))], "url": [f"http://e.com/{i}" for i in range(len(texts))], "text": texts}), DOCUMENT_SCHEMA)


def test_boundaries_and_reasons():
    stage = LengthFilter(LengthFilterParams(min_words=3, max_words=5, min_chars=0))
    out = stage.process(_batch(["one two", "one two three", "a b c d e", "a b c d e f", None]))
    assert out.kept.column("id").to_pylist() == ["1", "2"]
    assert out.kept.column("word_count").to_pylist() == [3, 5]
    assert out.rejected.schema == REJECT_SCHEMA
    assert dict(zip(out.rejected.column("id").to_pylist(), out.rejected.column("reason").to_pylist())) == {
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
