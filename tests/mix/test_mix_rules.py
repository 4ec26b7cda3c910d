"""The `mix:` section: validation errors name the key, rules assign buckets and caps."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from curate.config import ConfigError, parse_pipeline
from curate.mix.rules import NO_STRATUM, MixConfig, assign_strata, strata_of

STAGES = [{"stage": "extract_html"}, {"stage": "length_filter", "params": {"min_words": 3}}, {"stage": "lang_id"}]
TWO = [{"name": "foreign", "weight": 0.3, "where": {"lang": {"ne": "en"}}}, {"name": "rest", "weight": 0.7}]


def _parse(mix, stages=STAGES):
    return parse_pipeline({"name": "t", "stages": stages, "mix": mix}, origin="pipelines/x.yaml")


def _error(mix, stages=STAGES) -> str:
    with pytest.raises(ConfigError) as e:
        _parse(mix, stages)
    return str(e.value)


def test_valid_section_resolves_tokenizer_and_enters_the_hash():
    config = _parse({"buckets": TWO})
    assert config.mix.buckets[0].name == "foreign" and config.mix_tokenizer_path.endswith("tokenizer.json")
    without = parse_pipeline({"name": "t", "stages": STAGES})
    assert "mix" not in without.resolved() and config.resolved()["mix"]["buckets"][0]["where"] == [{"lang": {"ne": "en"}}]
    assert config.config_hash() != without.config_hash()
    assert config.mix_seed == 0 and _parse({"buckets": TWO, "seed": 5}).mix_seed == 5


@pytest.mark.parametrize("mix, expected", [
    ({"buckets": [{"name": "a", "weight": 0.5, "where": {"lang": "en"}}, {"name": "b", "weight": 0.6}]},
     "pipelines/x.yaml: mix: buckets: weights sum to 1.1"),
    ({"buckets": [TWO[0], {**TWO[1], "weight": "lots"}]}, "pipelines/x.yaml: mix.buckets[1].weight: Input should be a valid number"),
    ({"buckets": [{"name": "a", "weight": 1.0, "where": {"lang": {"eqq": "en"}}}]}, "mix.buckets[0].where[0].lang.eqq: unknown key"),
    ({"buckets": TWO, "bucketz": 1}, "pipelines/x.yaml: mix.bucketz: unknown key"),
    ({"buckets": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5, "where": {"lang": "en"}}]},
     "buckets[0] (a): a rule without `where` takes every document"),
    ({"buckets": [{"name": "a", "weight": 0.5, "where": {"lang": "en"}}, {"name": "a", "weight": 0.5}]}, "names must be unique, repeated: a"),
    ({"buckets": [{"name": "a", "weight": 1.0, "where": {"lang": {"matches": "(?P<"}}}]}, "matches: not a valid RE2 regular expression"),
    ({"buckets": TWO, "selection": "weighted"}, "weight_column: required when selection is 'weighted'"),
    ({"buckets": TWO, "max_epochs": 0}, "mix.max_epochs: Input should be greater than or equal to 1"),
    ({"buckets": TWO, "budget": -5}, "a token budget must be positive"),
    ({"buckets": [TWO[0], {**TWO[1], "caps": [{"where": {"lang": "de"}, "max_share": 1.5}]}]}, "mix.buckets[1].caps[0].max_share"),
    ({"buckets": TWO, "tokenizer": "/nonexistent/tokenizer.json"}, "pipelines/x.yaml: mix.tokenizer: model '/nonexistent/tokenizer.json': no such file"),
])
def test_malformed_sections_fail_naming_the_key(mix, expected):
    assert expected in _error(mix)


def test_a_column_no_stage_of_the_pipeline_writes_names_the_stage_that_would():
    without_lang = STAGES[:2]
    message = _error({"buckets": TWO}, without_lang)
    assert "mix.buckets[0].where.lang: column 'lang' is not written by any stage of this pipeline (stage lang_id writes it" in message
    message = _error({"buckets": [{"name": "a", "weight": 1.0, "where": {"nonesuch_score": {"ge": 1}}}]})
    assert "column 'nonesuch_score' is not written by any stage of this pipeline (no known stage writes it)" in message
    # The default buckets read the classifier columns; a pipeline without those stages says so.
    assert "mix.buckets[1].where.domain_code: column 'domain_code'" in _error({})


def test_operators_must_fit_the_column_type():
    assert "column 'lang' is string; gt/ge/lt/le need a numeric column" in _error({"buckets": [{"name": "a", "weight": 1.0, "where": {"lang": {"gt": 1}}}]})
    assert "column 'lang_score' is float; matches/glob need a string column" in _error(
        {"buckets": [{"name": "a", "weight": 1.0, "where": {"lang_score": {"glob": "x*"}}}]})
    assert "a weight column must be numeric" in _error({"buckets": TWO, "selection": "best_first", "weight_column": "lang"})


def _table():
    return pa.table({
        "id": [f"d{i}" for i in range(8)],
        "lang": ["en", "de", "en", "en", None, "fr", "en", "en"],
        "domain_code": pa.array([0.9, 0.9, 0.1, 0.2, 0.1, 0.0, 0.7, 0.0], pa.float32()),
        "topic": ["programming", "sports", "sports", "arts_entertainment", "sports", None, "news_politics", "sports"],
        "source": ["web/a.warc", "web/b.warc", "code/c.jsonl", "web/d.warc", "web/e.warc", "web/f.warc", "web/g.warc", "web/h.warc"],
    })


def test_first_matching_rule_wins_and_caps_split_a_bucket():
    mix = MixConfig.model_validate({"buckets": [
        {"name": "multilingual", "weight": 0.1, "where": {"lang": {"not_in": ["en"]}}},
        {"name": "code", "weight": 0.3, "where": [{"domain_code": {"ge": 0.5}}, {"source": {"glob": "code/*"}}]},
        {"name": "general", "weight": 0.6, "caps": [{"where": {"topic": "sports"}, "max_share": 0.1}, {"name": "arts", "where": {"topic": ["arts_entertainment"]}, "max_share": 0.1}]},
    ]})
    strata = strata_of(mix)
    assert [s.label for s in strata] == ["multilingual", "code", "general/topic=sports", "general/arts", "general"]
    got = [strata[s].label if s != NO_STRATUM else None for s in assign_strata(_table(), mix)]
    # d1 is German code: multilingual comes first. d4 has no language: `not_in` does not hold for null.
    # d2 matches the second alternative of code (source glob) although it is about sports.
    assert got == ["code", "multilingual", "code", "general/arts", "general/topic=sports", "multilingual", "code", "general/topic=sports"]


def test_documents_no_rule_matches_get_no_stratum_and_null_only_matches_is_null():
    mix = MixConfig.model_validate({"buckets": [
        {"name": "unknown_lang", "weight": 0.5, "where": {"lang": {"is_null": True}}},
        {"name": "english_code", "weight": 0.5, "where": {"lang": "en", "domain_code": {"gt": 0.5}}},
    ]})
    assert assign_strata(_table(), mix).tolist() == [1, NO_STRATUM, NO_STRATUM, NO_STRATUM, 0, NO_STRATUM, 1, NO_STRATUM]


def test_regex_and_numeric_bounds():
    mix = MixConfig.model_validate({"buckets": [
        {"name": "web_de", "weight": 0.5, "where": {"source": {"matches": "^web/[a-d]"}, "domain_code": {"ge": 0.1, "lt": 0.9}}},
        {"name": "rest", "weight": 0.5},
    ]})
    assert np.array_equal(assign_strata(_table(), mix), [1, 1, 1, 0, 1, 1, 1, 1])
