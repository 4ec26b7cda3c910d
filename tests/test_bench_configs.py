"""The bench builds its own configs from the shipped pipeline: they must stay valid as the pipeline
changes (a stage moved or added broke the dedup-only run once, found only by a full `make bench`)."""
from bench import dedup_only_config


def test_dedup_only_config_is_valid_and_keeps_what_url_dedup_reads():
    config = dedup_only_config("pipelines/llama3.yaml", partition_input_mib=2.0, shard_input_mib=4.0)
    names = [r.cls.name for r in config.stages]
    assert names == ["url_key", "url_dedup", "exact_dedup", "fuzzy_dedup", "line_dedup"]
    assert config.ray.partition_input_mib == 2.0
    assert config.output.shard_input_mib == 4.0
