"""url_filter: UT1's adult domains (the real list datatrove ships), categories from a UT1 folder,
the run's allow and deny lists, FineWeb's banned URL words; no real page of ../shared is dropped."""
from __future__ import annotations

import json
import random

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curate.config import ConfigError, load_pipeline, parse_pipeline
from curate.filters.url_blocklist import find_source
from curate.readers import InputFile, read_file
from curate.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA, conform
from curate.stages.url_filter import UrlFilter, UrlFilterParams
from tests.conftest import REPO, shared_path


def run(urls, **params):
    stage = UrlFilter(UrlFilterParams(**params))
    batch = conform(pa.table({"id": [str(i) for i in range(len(urls))], "url": urls}), DOCUMENT_SCHEMA)
    out = stage.process(batch)
    assert out.kept.num_rows + out.rejected.num_rows == len(urls)
    assert out.rejected.schema == REJECT_SCHEMA
    return out, {int(r["id"]): (r["reason"], r["detail"]) for r in out.rejected.to_pylist()}


@pytest.fixture(scope="module")
def adult_domains() -> list[str]:
    return find_source("adult", None).read("domains")


def test_listed_domains_and_their_subdomains_are_dropped(adult_domains):
    assert len(adult_domains) > 4_000_000
    rng = random.Random(7)
    sample = rng.sample(adult_domains, 3000)
    urls = [f"https://{d}/" for d in sample[:1000]] + [f"http://www.{d}/page?x=1" for d in sample[1000:2000]]
    urls += [f"https://a.b.{d.upper()}:8080/path" for d in sample[2000:]]
    out, rejected = run(urls, banned_words=False)
    assert len(rejected) == len(urls)  # recall 1.0 on listed domains, any subdomain, any case or port
    assert {detail for _, detail in rejected.values()} == {"category=adult"}
    assert out.counters["rejected_adult"] == len(urls)
    # a listed name inside another host is not that domain
    lookalikes = [f"https://{d}.invalid/" for d in sample[:300]] + [f"https://x{d}.invalid/" for d in sample[300:600]]
    _, rejected = run(lookalikes, banned_words=False)
    assert rejected == {}


def test_listed_urls_are_dropped_without_their_domain():
    source = find_source("adult", None)
    listed = source.read("urls")[:200]
    _, rejected = run([f"https://{u}" for u in listed], banned_words=False)
    assert len(rejected) == len(listed)


def test_no_real_page_in_shared_is_dropped():
    """Every URL of the real WARC records and the Scrapinghub articles in ../shared: none is adult."""
    urls = []
    for path in sorted(shared_path("data", "warc").rglob("*")):
        if path.is_file() and path.suffix != ".md":
            for out in read_file(InputFile(uri=str(path), source=path.name, size=path.stat().st_size, format="warc")):
                urls += [u for u in out.kept.column("url").to_pylist() if u]
    gold = json.loads(shared_path("data", "extraction", "scrapinghub-aeb", "ground-truth.json").read_text(encoding="utf-8"))
    urls += [page["url"] for page in gold.values()]
    assert len(set(urls)) >= 200
    _, rejected = run(urls)
    assert rejected == {}, [(urls[i], why) for i, why in rejected.items()]


def test_banned_words_soft_words_and_subwords():
    urls = [
        "https://example.com/watch/bukkake-party",  # a banned word
        "https://example.com/babes/bitch",  # two soft words
        "https://example.com/babes-gallery",  # one soft word: kept
        "https://example.com/2-girls-1-cup",  # a banned subword, across separators
        "https://en.wikipedia.org/wiki/Essex",  # "sex" inside a word is no word
        "https://example.org/news/assassination",
    ]
    _, rejected = run(urls)
    assert rejected == {0: ("url_banned_word", "word=bukkake"), 1: ("url_banned_word", "soft_words=babes,bitch"),
                        3: ("url_banned_word", "subword=2girls1cup")}
    _, rejected = run(urls, soft_word_threshold=1, extra_banned_words=["Gallery"])
    assert rejected[2][0] == "url_banned_word"
    assert run(urls, banned_words=False)[1] == {}


def test_categories_from_a_ut1_folder_allow_and_deny(tmp_path, adult_domains):
    for category, domains, urls in (("gambling", ["casino.example", "bets.example"], ["poker.example/play"]),
                                    ("phishing", ["login-bank.example", "casino.example"], [])):
        folder = tmp_path / "blacklists" / category
        folder.mkdir(parents=True)
        (folder / "domains").write_text("# UT1\n" + "\n".join(domains) + "\n")
        (folder / "urls").write_text("\n".join(urls) + "\n")
    adult = adult_domains[0]
    urls = ["https://www.casino.example/", "https://login-bank.example/x", "https://poker.example/play/",
            "https://poker.example/other", f"https://{adult}/", "https://shop.trusted.example/", "https://spam.example/"]
    lists = str(tmp_path / "blacklists")
    out, rejected = run(urls, categories=["gambling", "phishing", "adult"], lists_dir=lists,
                        allow_domains=["casino.example"], deny_domains=["spam.example"])
    # the allow list wins over every category; the first selected category that lists a domain names it
    assert rejected == {1: ("url_blocklist", "category=phishing"), 2: ("url_blocklist", "category=gambling"),
                        4: ("url_blocklist", "category=adult"), 6: ("url_blocklist", "category=deny")}
    assert (out.counters["rejected_phishing"], out.counters["rejected_deny"]) == (1, 1)
    _, rejected = run(urls, categories=["phishing", "gambling"], lists_dir=lists, banned_words=False)
    assert rejected[0] == ("url_blocklist", "category=phishing")
    # a category with no list fails when the params are validated (the pipeline is parsed), naming it
    with pytest.raises(ValidationError, match="no list for category 'malware'"):
        UrlFilterParams(categories=["malware"], lists_dir=lists)
    with pytest.raises(ConfigError, match=r"stages\[0\] \(url_filter\).*no list for category 'gambling'"):
        parse_pipeline({"name": "t", "stages": [{"stage": "url_filter", "params": {"categories": ["gambling"]}}]})


def test_pages_without_url_pass_and_params_are_checked():
    out, rejected = run([None, ""])
    assert rejected == {} and out.counters["documents_without_url"] == 2
    for bad in ({"categories": ["Adult!"]}, {"categories": ["deny"]}, {"soft_word_threshold": 0}, {"categoriez": ["adult"]}):
        with pytest.raises(ValidationError):
            UrlFilterParams(**bad)


def test_llama3_pipeline_filters_urls_before_extraction():
    pipeline = load_pipeline(REPO / "pipelines" / "llama3.yaml")
    names = [step.cls.name for step in pipeline.stages]
    assert names.index("url_filter") < names.index("extract_html")
