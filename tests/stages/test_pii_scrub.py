"""The pii_scrub stage on Arrow batches: placeholders, counts column, URL scrubbing, domain
blocklist, parameter validation, placement (tasks vs a NER actor pool)."""
from __future__ import annotations

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curate.config import ConfigError, parse_pipeline
from curate.contract import Resources, reject_rows
from curate.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA, conform
from curate.stages.pii_scrub import PII_COUNTS_TYPE, PiiScrub, PiiScrubParams, blocked_by, load_blocklist, url_region


def _batch(texts, urls=None):
    n = len(texts)
    urls = urls or [f"https://site{i}.example.com/page" for i in range(n)]
    return conform(pa.table({"id": [f"d{i}" for i in range(n)], "url": urls, "source": ["s.warc"] * n, "text": texts}), DOCUMENT_SCHEMA)


def _run(params: PiiScrubParams, batch: pa.Table):
    stage = PiiScrub(params)
    stage.ensure_setup()
    return stage.process(batch)


def test_placeholders_counts_and_counters():
    texts = [
        "Mail jane@corp.io or call +1 (212) 555-0199. Card 4111 1111 1111 1111, SSN 123-45-6789.",
        "Nothing personal here: version 1.2.3.4, build 2024-01-15.",
        "Two keys: AKIAIOSFODNN7EXAMPLE and ghp_" + "a1B2" * 9 + " from 8.8.8.8.",
        None,
    ]
    out = _run(PiiScrubParams(), _batch(texts))
    assert out.kept.num_rows == 4 and out.rejected.num_rows == 0
    kept = out.kept.to_pylist()
    assert kept[0]["text"] == "Mail <EMAIL> or call <PHONE>. Card <CARD>, SSN <SSN>."
    assert kept[1]["text"] == texts[1]
    assert kept[2]["text"] == "Two keys: <SECRET> and <SECRET> from <IP>."
    assert kept[3]["text"] is None
    assert out.kept.schema.field("pii_counts").type == PII_COUNTS_TYPE
    assert kept[0]["pii_counts"] == {"email": 1, "phone": 1, "ip": 0, "card": 1, "iban": 0, "ssn": 1, "secret": 0, "name": 0, "address": 0}
    assert kept[2]["pii_counts"]["secret"] == 2 and kept[2]["pii_counts"]["ip"] == 1
    c = out.counters
    assert c["pii_documents"] == 2
    assert (c["pii_secret"], c["pii_documents_secret"]) == (2, 1)
    assert (c["pii_email"], c["pii_documents_email"]) == (1, 1)
    assert "pii_name" not in c  # no NER model, so names are not claimed to be counted


def test_selected_types_only_and_surrogates():
    text = "jane@corp.io, +44 20 7946 0958, jane@corp.io"
    out = _run(PiiScrubParams(types=["EMAIL"], replacement="surrogate"), _batch([text]))
    assert out.kept.column("text").to_pylist() == ["person1@example.com, +44 20 7946 0958, person1@example.com"]
    assert "pii_phone" not in out.counters


def test_url_is_scrubbed_and_region_hint_comes_from_the_cctld():
    batch = _batch(["Sitz: 30 1234567"], urls=["https://admin:hunter22@www.example.de/kontakt?mail=jane@corp.io"])
    kept = _run(PiiScrubParams(), batch).kept.to_pylist()[0]
    assert kept["url"] == "https://<SECRET>@www.example.de/kontakt?mail=<EMAIL>"
    assert kept["text"] == "Sitz: <PHONE>"
    assert kept["pii_counts"]["secret"] == 1 and kept["pii_counts"]["email"] == 1
    assert url_region("https://shop.example.co.uk/") == "GB" and url_region("https://example.com/") is None
    kept = _run(PiiScrubParams(region_hints=False, scrub_url=False), batch).kept.to_pylist()[0]
    assert kept["text"] == "Sitz: 30 1234567" and kept["url"] == batch.column("url")[0].as_py()


def test_domain_blocklist_rejects_with_reason_and_entry(tmp_path):
    blocklist = tmp_path / "blocked.txt"
    blocklist.write_text("# people-search sites\npeoplefinder.example   # whole domain\nexample.org/profiles/*\n")
    urls = ["https://www.peoplefinder.example/p/1", "https://example.org/profiles/jane", "https://example.org/about", "https://notpeoplefinder.example/"]
    out = _run(PiiScrubParams(domain_blocklist=str(blocklist), blocked_domains=["Leaks.Example"]), _batch(["a", "b", "c", "d"], urls))
    assert out.kept.column("id").to_pylist() == ["d2", "d3"]
    assert out.rejected.schema == REJECT_SCHEMA
    rows = out.rejected.to_pylist()
    assert [(r["id"], r["reason"], r["detail"]) for r in rows] == [
        ("d0", "pii_domain", "blocklist=peoplefinder.example"),
        ("d1", "pii_domain", "blocklist=example.org/profiles/*"),
    ]
    domains, globs = load_blocklist(str(blocklist), ["Leaks.Example"])
    assert blocked_by("http://a.b.leaks.example:8080/x", domains, globs) == "leaks.example"


def test_shipped_blocklist_is_empty():
    assert load_blocklist("builtin", []) == (frozenset(), ())


def test_reject_rows_never_carry_pii_in_urls():
    documents = pa.table({"id": ["a"], "url": ["https://u:Secr3tPass@host.example/?email=jane@corp.io&ip=8.8.8.8"], "source": ["s"]})
    row = reject_rows(documents, stage="any_stage", reasons="why").to_pylist()[0]
    assert row["url"] == "https://<SECRET>@host.example/?email=<EMAIL>&ip=<IP>"


@pytest.mark.parametrize("params, message", [
    ({"types": ["EMAIL", "PASSPORT"]}, "unknown PII type"),
    ({"default_regions": ["USA"]}, "unknown phone region"),
    ({"replacement": "hash"}, "replacement"),
    ({"domain_blocklist": "/no/such/file.txt"}, "is not a file"),
    ({"ner_labels": {"PER": "PERSON"}}, "NER types are NAME and ADDRESS"),
    ({"ner_min_score": 2}, "ner_min_score"),
    ({"ner_max_length": 32}, "ner_stride"),
])
def test_bad_params_fail_clearly(params, message):
    with pytest.raises(ValidationError, match=message):
        PiiScrubParams(**params)


def test_yaml_errors_name_the_stage_and_key():
    data = {"name": "p", "stages": [{"stage": "pii_scrub", "params": {"typez": ["EMAIL"]}}]}
    with pytest.raises(ConfigError, match=r"stages\[0\] \(pii_scrub\): params.typez: unknown key"):
        parse_pipeline(data, origin="p.yaml")


def test_placement_is_tasks_without_a_model_and_actors_with_one():
    assert PiiScrub.placement(PiiScrubParams()) == Resources(False, 1.0, 0.0)
    assert PiiScrub.placement(PiiScrubParams(ner_model="some/model", ner_num_gpus=1)) == Resources(True, 1.0, 1.0)
    assert PiiScrub.models(PiiScrubParams()) == []
    assert PiiScrub.models(PiiScrubParams(ner_model="some/model")) == [{"role": "pii_ner", "model": "some/model"}]
