import pytest
import yaml

from curate.config import ConfigError, load_pipeline, parse_pipeline
from tests.conftest import REPO

VALID = {
    "name": "t",
    "stages": [{"stage": "extract_html", "params": {"timeout_s": 5}}, {"stage": "length_filter", "params": {"min_words": 3}}],
}


def test_shipped_pipeline_loads_and_hash_is_stable():
    a = load_pipeline(REPO / "pipelines" / "llama3.yaml")
    b = load_pipeline(REPO / "pipelines" / "llama3.yaml")
    assert [s.cls.name for s in a.stages][:3] == ["url_filter", "extract_html", "length_filter"]
    assert a.config_hash() == b.config_hash() and len(a.config_hash()) == 64
    resolved = a.resolved()
    # Defaults are filled in, so the card records every parameter actually used.
    assert "min_chars" in resolved["stages"][1]["params"]


def test_hash_changes_with_params_but_not_with_ray_resources():
    base = parse_pipeline(VALID)
    other = parse_pipeline({**VALID, "stages": [VALID["stages"][0], {"stage": "length_filter", "params": {"min_words": 4}}]})
    resources = parse_pipeline({**VALID, "ray": {"num_cpus": 7}})
    assert base.config_hash() != other.config_hash()
    assert base.config_hash() == resources.config_hash()


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d.update(stagez=[]), "stagez: unknown key"),
        (lambda d: d["stages"][1]["params"].update(min_word=3), "stages[1] (length_filter): params.min_word: unknown key"),
        (lambda d: d["stages"][1]["params"].update(min_words=-1), "stages[1] (length_filter): params.min_words"),
        (lambda d: d["stages"][0]["params"].update(timeout_s="soon"), "stages[0] (extract_html): params.timeout_s"),
        (lambda d: d["stages"].append({"stage": "no_such_stage"}), "stages[2] (no_such_stage): unknown stage"),
        (lambda d: d["stages"][0].update(parms={}), "stages.0.parms: unknown key"),
        (lambda d: d.update(output={"compression": "lz77"}), "output.compression"),
        (lambda d: d.pop("name"), "name: required key is missing"),
        (lambda d: d.update(stages=[]), "at least one stage"),
    ],
)
def test_errors_name_the_bad_key(mutate, expected):
    data = yaml.safe_load(yaml.safe_dump(VALID))
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_pipeline(data, origin="p.yaml")
    assert expected in str(err.value)
    assert str(err.value).startswith("p.yaml: ")


def test_cross_field_validation_names_stage(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**VALID, "stages": [{"stage": "length_filter", "params": {"min_words": 10, "max_words": 5}}]}))
    with pytest.raises(ConfigError, match=r"stages\[0\] \(length_filter\).*max_words"):
        load_pipeline(path)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_pipeline(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pipeline(bad)


def _with(*stages):
    return {"name": "t", "stages": [{"stage": "extract_html"}, *stages]}


def test_a_read_column_nobody_writes_fails_at_parse_time_naming_the_writers():
    # fuzzy_dedup keeping the best-quality copy, before any quality score exists
    with pytest.raises(ConfigError) as error:
        parse_pipeline(_with({"stage": "fuzzy_dedup", "params": {"survivor": "quality"}}), origin="p.yaml")
    message = str(error.value)
    assert "stages[1] (fuzzy_dedup): params.quality_column: column 'quality_static' is not written" in message
    assert "written by: quality_static (put it earlier)" in message
    # after the quality stage it parses
    parse_pipeline(_with({"stage": "quality_static"}, {"stage": "fuzzy_dedup", "params": {"survivor": "quality"}}))
    # the default survivor rule reads nothing
    parse_pipeline(_with({"stage": "fuzzy_dedup"}))


def test_a_mistyped_language_column_fails_at_parse_time():
    with pytest.raises(ConfigError, match=r"stages\[2\] \(gopher_quality\): params.language_column: column 'language' is not written.*did you mean 'lang'\?"):
        parse_pipeline(_with({"stage": "lang_id"}, {"stage": "gopher_quality", "params": {"language_column": "language"}}))
    # the default column is optional: without language ID every document is judged in the default language
    parse_pipeline(_with({"stage": "gopher_quality"}))
    parse_pipeline(_with({"stage": "lang_id"}, {"stage": "dirty_words", "params": {"language_column": "lang"}}))


def test_the_shipped_mix_schedule_parses_against_the_shipped_pipeline(tmp_path):
    """`make mix` uses pipelines/mixes/llama3-schedule.yaml on a run of pipelines/llama3.yaml: its
    phases' rules must read columns that pipeline writes, and its blend must name its phases."""
    from curate.run.remix import RemixError, load_remix_config

    run_config = load_pipeline(REPO / "pipelines" / "llama3.yaml")
    schedule = REPO / "pipelines" / "mixes" / "llama3-schedule.yaml"
    phases, blends = load_remix_config(schedule, run_config)
    assert sorted(phases) == ["anneal", "main"] and sorted(blends) == ["anneal_trial"]
    blend, blend_mix, _ = blends["anneal_trial"]
    assert [(p.name, p.share, p.source) for p in blend.parts] == [("default_mix", 0.7, ("phase", "main")),
                                                                  ("candidate", 0.3, ("phase", "anneal"))]
    assert [b.weight for b in blend_mix.buckets] == [0.7, 0.3]
    # the same schedule on a pipeline without the quality classifier names the missing column
    data = yaml.safe_load((REPO / "pipelines" / "llama3.yaml").read_text())
    data["stages"] = [s for s in data["stages"] if s["stage"] != "quality_static"]
    data.pop("mix", None)
    with pytest.raises(RemixError, match=r"phases\.anneal.*quality_static"):
        load_remix_config(schedule, parse_pipeline(data))
