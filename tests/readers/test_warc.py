"""WARC/ARC/WET reader: the real files in ../shared/data/warc and small synthetic archives."""
from __future__ import annotations

import datetime as dt
import gzip
import inspect
import io
import re
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from curate.readers import InputFile, list_inputs, read_file
from curate.schema import document_id

# ----------------------------------------------------------------------------- helpers


def shared_file(warc_dir: Path, name: str) -> InputFile:
    path = warc_dir / name
    return InputFile(uri=str(path), source=name, size=path.stat().st_size, format="warc")


def parse_record_table(source_md: Path) -> dict[str, dict]:
    """SOURCE.md's "Record counts" table: file -> records, by type, HTML responses, note."""
    rows, in_table = {}, False
    for line in source_md.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            in_table = line.startswith("## Record counts")
            continue
        if not in_table or not line.startswith("| ") or line.startswith(("| file", "|---")):
            continue
        name, _bytes, records, by_type, html, _origin, note = [c.strip() for c in line.strip().strip("|").split("|")]
        if records:  # the LZ4 copies have no count: warcio cannot read them
            types = {t: int(n) for t, n in re.findall(r"([a-z_]+):(\d+)", by_type)}
            rows[name] = {"records": int(records), "by_type": types, "html": int(html), "note": note}
    return rows


def type_counter(record_type: str) -> str:
    if record_type in ("response", "resource", "conversion"):
        return f"warc_records_{record_type}"
    if record_type in ("request", "metadata", "warcinfo", "revisit", "continuation"):
        return f"warc_records_skipped_{record_type}"
    return "warc_records_skipped_other"


@pytest.fixture(scope="module")
def table(warc_dir):
    rows = parse_record_table(warc_dir / "SOURCE.md")
    present = {name: row for name, row in rows.items() if (warc_dir / name).exists()}
    assert len(present) >= 40, "SOURCE.md's table no longer matches the files beside it"
    return present


# Where documents from responses differ from SOURCE.md's "HTML responses" (responses whose
# HTTP Content-Type is text/html or application/xhtml+xml), and why.
HTML_RESPONSES_NOT_DOCUMENTS = {
    "ia-web-commons/IAH-urls-wget.warc": {"empty_payload": 2},  # two 301 redirects, empty body
    "ia-web-commons/IAH-urls-wget.warc.gz": {"empty_payload": 2},
    "resiliparse/clipped.warc.gz": {"truncated_record": 1},  # gzip stream cut mid-record
    # The record's block runs on into the next gzip member: its length is wrong, one row.
    "warcio/example-wrong-chunks.warc.gz": {"corrupt_record": 1},
}

# --------------------------------------------------------------------- the real files


def test_record_counts_match_source_md(warc_dir, table, read):
    """Every file warcio reads to the end gives SOURCE.md's counts, by type and HTML responses."""
    checked = 0
    for name, row in table.items():
        if "ArchiveLoadFailed" in row["note"]:
            continue
        result = read(shared_file(warc_dir, name))
        c = result.counters
        assert c["warc_records_total"] == row["records"], name
        for record_type, n in row["by_type"].items():
            assert c[type_counter(record_type)] == n, (name, record_type)
        assert c["warc_responses_html_declared"] == row["html"], name
        not_documents = HTML_RESPONSES_NOT_DOCUMENTS.get(name, {})
        assert c["warc_documents_response"] == row["html"] - sum(not_documents.values()), name
        assert c.get("file_errors", 0) == 0, name
        checked += 1
    assert checked >= 35


def test_every_candidate_record_becomes_one_row(warc_dir, table, read):
    """response + resource + conversion records == documents + their reject rows, in every file."""
    for name in table:
        c = (result := read(shared_file(warc_dir, name))).counters
        candidates = c["warc_records_response"] + c["warc_records_resource"] + c["warc_records_conversion"]
        assert result.records_seen == candidates, name
        reasons = result.reasons()
        expected = HTML_RESPONSES_NOT_DOCUMENTS.get(name, {})
        for reason, n in expected.items():
            assert reasons[reason] == n, (name, reason)


def test_ids_are_source_and_record_offset(warc_dir, read):
    f = shared_file(warc_dir, "resiliparse/warcfile.warc.gz")
    offsets = []
    with open(f.uri, "rb") as fh:
        archive = ArchiveIterator(fh, arc2warc=True)
        for record in archive:
            if record.rec_type == "response":
                offsets.append(archive.get_record_offset())
    result = read(f)
    assert result.kept.column("id").to_pylist() == [document_id(f.source, o) for o in offsets]


def test_common_crawl_warcfile(warc_dir, read):
    result = read(shared_file(warc_dir, "resiliparse/warcfile.warc.gz"), batch_size=5)
    docs = result.kept.to_pylist()
    assert len(docs) == 16 and result.rejected.num_rows == 0
    assert result.batches >= 4  # 16 documents in batches of <= 5 (checked by read())
    for doc in docs:
        assert doc["url"].startswith(("http://", "https://"))
        assert doc["fetch_time"].year == 2020 and doc["fetch_time"].utcoffset().total_seconds() == 0
        assert doc["warc_record_id"].startswith("<urn:uuid:")
        assert doc["content_type"] == "text/html"
        assert doc["html"] and b"<" in doc["html"][:2000]
        assert doc["text"] is None
    assert {"utf-8", "windows-1251"} <= {d["charset"] for d in docs}
    # The uncompressed copy holds the same pages; only the offsets (ids) differ.
    plain = read(shared_file(warc_dir, "resiliparse/warcfile.warc")).kept
    assert plain.column("url").to_pylist() == result.kept.column("url").to_pylist()
    assert plain.column("html").to_pylist() == result.kept.column("html").to_pylist()


def test_clueweb_quirk(warc_dir, read):
    result = read(shared_file(warc_dir, "resiliparse/clueweb-quirk.warc.gz"))
    assert result.kept.num_rows == 29 and result.rejected.num_rows == 0
    assert set(result.kept.column("charset").to_pylist()) == {"euc-jp"}
    # ClueWeb09 writes WARC-Date: 2008-10-294T05:21:46-0700 (day of the year): Oct 20th.
    assert set(result.kept.column("fetch_time").to_pylist()) == {dt.datetime(2008, 10, 20, 12, 21, 46, tzinfo=dt.UTC)}
    assert "warc_bad_dates" not in result.counters


def test_wet_gives_one_text_document(warc_dir, read):
    wet = read(shared_file(warc_dir, "whirlwind/whirlwind.warc.wet.gz"))
    [doc] = wet.kept.to_pylist()
    assert doc["html"] is None and doc["text"].startswith("Escopete")
    assert doc["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert wet.counters["warc_documents_conversion"] == 1
    assert read(shared_file(warc_dir, "whirlwind/whirlwind.warc.wet")).kept.column("text").to_pylist() == [doc["text"]]
    # The WARC it was made from gives the HTML of the same capture.
    [page] = read(shared_file(warc_dir, "whirlwind/whirlwind.warc.gz")).kept.to_pylist()
    assert page["url"] == doc["url"] and page["html"] and page["text"] is None


def test_non_html_payloads_are_rejected_with_their_media_type(warc_dir, read):
    result = read(shared_file(warc_dir, "ia-web-commons/IAH-urls-wget.warc"))
    rejected = result.rejected.to_pylist()
    non_html = sorted(r["detail"] for r in rejected if r["reason"] == "non_html_payload")
    # Responses: a robots.txt, three images, an RSS feed; resources: wget's manifest, arguments, log.
    assert non_html == ["image/gif", "image/jpeg", "image/png", "text/plain", "text/plain", "text/plain", "text/plain", "text/xml"]
    assert all(r["url"] for r in rejected)
    assert set(read(shared_file(warc_dir, "warcio/post-test.warc.gz")).rejected.column("detail").to_pylist()) == {"application/json"}


def test_arc_files(warc_dir, read):
    [doc] = read(shared_file(warc_dir, "warcio/example.arc.gz")).kept.to_pylist()
    assert doc["url"] == "http://example.com/" and doc["fetch_time"].year == 2014
    assert doc["warc_record_id"] is None  # ARC has none; warcio's would be random per run
    # Archive-length overstates the last record by 12 bytes, but the HTTP body is whole.
    spaced = read(shared_file(warc_dir, "warcio/example-space-in-url.arc"))
    assert spaced.kept.column("url").to_pylist() == [
        "http://example.com/index.cfm?FuseAction=Email&EmailTitle=Examples%20From%20The%20Live%20Web&IsPopUp=False"]
    assert spaced.counters["warc_records_short_but_complete"] == 1


@pytest.mark.parametrize(
    "name, reasons, documents",
    [
        ("ia-web-commons/IAH-20080430204825-00000-blackbook-truncated.arc", {"corrupt_record": 1}, 0),
        ("resiliparse/clipped.warc.gz", {"truncated_record": 1}, 0),
        ("warcio/example-wrong-chunks.warc.gz", {"corrupt_record": 1}, 0),
        ("warcio/bad.arc", {"empty_payload": 3}, 0),
    ],
)
def test_broken_files_give_reject_rows_and_never_raise(warc_dir, read, name, reasons, documents):
    result = read(shared_file(warc_dir, name))
    assert result.kept.num_rows == documents
    assert dict(result.reasons()) == reasons
    for row in result.rejected.to_pylist():
        if row["reason"] in ("corrupt_record", "corrupt_gzip"):
            offset = re.fullmatch(r"\w+ at byte (\d+)", row["detail"]).group(1)
            assert row["id"] in (document_id(name, f"corrupt@{offset}"), document_id(name, offset))


@pytest.mark.parametrize(
    "name, records, documents",
    [("warcio/example-bad-non-chunked.warc.gz", 6, 1), ("warcio/example-bad.warc.gz.bad", 6, 2)],
)
def test_whole_file_gzip_is_read_through_gunzip(warc_dir, read, name, records, documents):
    """One gzip member holding every record: warcio stops after one record; we resync."""
    result = read(shared_file(warc_dir, name))
    assert result.counters["warc_gzip_resyncs"] == 1
    assert result.counters["warc_records_total"] == records
    assert result.kept.num_rows == documents and result.rejected.num_rows == 0
    assert all(u.startswith("http") for u in result.kept.column("url").to_pylist())


def test_every_shared_file_gives_unique_ids(warc_dir, read):
    """Each document and each reject row has its own id: the ledger counts every record once."""
    files = sorted(p for p in warc_dir.rglob("*") if p.is_file() and p.name not in ("SOURCE.md", "LICENSE"))
    assert len(files) >= 40
    everywhere = []
    for path in files:
        name = str(path.relative_to(warc_dir))
        result = read(shared_file(warc_dir, name))  # read() also checks uniqueness within the file
        ids = result.kept.column("id").to_pylist() + result.rejected.column("id").to_pylist()
        assert len(ids) == len(set(ids)), name
        assert all(result.rejected.column("reason").to_pylist()), name
        everywhere += ids
    assert len(everywhere) == len(set(everywhere))


# ------------------------------------------------------------------ synthetic archives

HTML = b"<!doctype html><html><head><title>t</title></head><body><p>Hello</p></body></html>"


def write_warc(path: Path, records: list[dict], gzip_members: bool = True) -> InputFile:
    """A WARC of response records; each dict: url, body, content_type, and extra HTTP headers."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gzip_members)
        for spec in records:
            headers = [("Content-Type", spec["content_type"])] if spec.get("content_type") else []
            headers += spec.get("headers", [])
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            record = writer.create_warc_record(spec.get("url", "http://example.com/"), "response",
                                               payload=io.BytesIO(spec["body"]), http_headers=http)
            writer.write_record(record)
    return InputFile(uri=str(path), source=path.name, size=path.stat().st_size, format="warc")


def test_sniffing_charset_and_limits(tmp_path, read):
    big = b"<html><body>" + b"x" * 5000 + b"</body></html>"
    f = write_warc(tmp_path / "mixed.warc.gz", [
        {"url": "http://a/1", "body": HTML, "content_type": "text/html; charset=ISO-8859-1"},
        {"url": "http://a/2", "body": b"\n  <HTML><body>no type</body></html>"},
        {"url": "http://a/3", "body": b'<html><head><meta charset="shift_jis">', "content_type": "text/plain"},
        {"url": "http://a/4", "body": b"User-agent: *\nDisallow: /", "content_type": "text/plain"},
        {"url": "http://a/5", "body": b"\xef\xbb\xbf<html>bom</html>", "content_type": "application/xhtml+xml"},
        {"url": "http://a/6", "body": b'<meta http-equiv="Content-Type" content="text/html; charset=bogus-x">',
         "content_type": "text/html"},
        {"url": "http://a/7", "body": b"%PDF-1.4", "content_type": "application/pdf"},
        {"url": "http://a/8", "body": b"", "content_type": "text/html"},
        {"url": "http://a/9", "body": big, "content_type": "text/html"},
        {"url": "http://a/10", "body": b"\x1b\x00compressed", "content_type": "text/html", "headers": [("Content-Encoding", "br")]},
    ])
    result = read(f, batch_size=4, max_payload_bytes=4096)
    kept = {d["url"]: d for d in result.kept.to_pylist()}
    assert set(kept) == {"http://a/1", "http://a/2", "http://a/3", "http://a/5", "http://a/6"}
    assert kept["http://a/1"]["charset"] == "iso-8859-1" and kept["http://a/1"]["html"] == HTML
    assert kept["http://a/2"]["content_type"] is None and kept["http://a/2"]["charset"] is None
    assert kept["http://a/3"]["charset"] == "shift_jis" and kept["http://a/3"]["content_type"] == "text/plain"
    assert kept["http://a/5"]["charset"] == "utf-8"
    assert kept["http://a/6"]["charset"] is None  # unknown label: left to the extraction stage
    rejected = {r["url"]: (r["reason"], r["detail"]) for r in result.rejected.to_pylist()}
    assert rejected == {
        "http://a/4": ("non_html_payload", "text/plain"),
        "http://a/7": ("non_html_payload", "application/pdf"),
        "http://a/8": ("empty_payload", "text/html"),
        "http://a/9": ("payload_too_large", ">4096 bytes"),
        "http://a/10": ("unsupported_content_encoding", "br"),
    }
    assert result.counters["warc_payloads_sniffed_html"] == 2
    assert result.batches == 3  # 10 rows in batches of 4, 4, 2


def test_read_file_streams(tmp_path):
    f = write_warc(tmp_path / "many.warc.gz", [{"url": f"http://a/{i}", "body": HTML, "content_type": "text/html"} for i in range(50)])
    batches = read_file(f, batch_size=8)
    assert inspect.isgenerator(batches)
    first = next(batches)  # available before the rest of the file is read
    assert first.kept.num_rows == 8
    assert sum(b.kept.num_rows for b in batches) == 42


def test_corrupt_gzip_member_keeps_what_came_before(tmp_path, read):
    f = write_warc(tmp_path / "ok.warc.gz", [{"url": f"http://a/{i}", "body": HTML * 20, "content_type": "text/html"} for i in range(6)])
    data = bytearray(Path(f.uri).read_bytes())
    third = [m.start() for m in re.finditer(b"\x1f\x8b\x08", data)][3]
    data[third + 40: third + 80] = b"\xff" * 40  # garbage inside the 4th record's deflate stream
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(bytes(data))
    result = read(InputFile(str(broken), broken.name, len(data), "warc"))
    assert result.kept.column("url").to_pylist()[:3] == ["http://a/0", "http://a/1", "http://a/2"]
    assert result.rejected.num_rows >= 1
    assert set(result.reasons()) <= {"corrupt_gzip", "corrupt_record", "truncated_record", "empty_payload"}


def test_unreadable_and_misnamed_files(tmp_path, read):
    missing = read(InputFile(str(tmp_path / "nope.warc.gz"), "nope.warc.gz", 0, "warc"))
    assert missing.reasons() == {"unreadable_file": 1} and missing.kept.num_rows == 0
    assert missing.rejected.column("detail").to_pylist() == ["FileNotFoundError at open"]
    lz4 = tmp_path / "really-lz4.warc.gz"  # LZ4 magic, then nothing that decompresses
    lz4.write_bytes(b"\x04\x22\x4d\x18" + b"\x00" * 64)
    damaged = read(InputFile(str(lz4), lz4.name, 68, "warc"))
    assert damaged.reasons() == {"unreadable_file": 1} and damaged.kept.num_rows == 0
    text = tmp_path / "notes.warc"
    text.write_bytes(b"just some text\nnot an archive\n")
    assert read(InputFile(str(text), text.name, 30, "warc")).reasons() == {"corrupt_record": 1}


def test_uncompressed_and_whole_file_gzip_give_the_same_documents(tmp_path, read):
    specs = [{"url": f"http://a/{i}", "body": HTML, "content_type": "text/html"} for i in range(3)]
    plain = write_warc(tmp_path / "p.warc", specs, gzip_members=False)
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(Path(plain.uri).read_bytes()))
    a = read(plain).kept
    b = read(InputFile(str(whole), whole.name, whole.stat().st_size, "warc")).kept
    assert a.column("url").to_pylist() == b.column("url").to_pylist() == [s["url"] for s in specs]
    assert a.column("html").to_pylist() == b.column("html").to_pylist()


def test_shared_directory_lists_every_archive(warc_dir):
    files = list_inputs(str(warc_dir))
    assert {f.format for f in files} == {"warc"}
    names = {f.source for f in files}
    assert "resiliparse/warcfile.warc.lz4" in names and "whirlwind/whirlwind.warc.wet.gz" in names
    assert not any(n.endswith((".wat", ".wat.gz", ".bad", "LICENSE", ".md")) for n in names)


# --------------------------------------------------------- records with a wrong Content-Length

PAGE = b"<!doctype html><html><head><title>t</title></head><body>\n" + b"<p>A line of the page.</p>\n" * 40 + b"</body></html>"


def warc_record(url: str) -> bytes:
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=False)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(PAGE), http_headers=http))
    return buffer.getvalue()


def with_content_length(record: bytes, length: int) -> bytes:
    """``record`` with its WARC Content-Length (the first one: WARC headers come first) set to ``length``."""
    found = re.search(rb"Content-Length: (\d+)\r\n", record)
    return record[:found.start(1)] + str(length).encode() + record[found.end(1):]


def block_length(record: bytes) -> int:
    return int(re.search(rb"Content-Length: (\d+)\r\n", record).group(1))


# How wrong the middle record's length is, given the three records.
WRONG_LENGTHS = {
    "too_short": lambda records: block_length(records[1]) - 100,  # its page cut, the rest left over
    # The bug report: cut inside the HTTP headers, so an empty payload and many stray lines.
    "too_short_into_http_headers": lambda records: block_length(records[1]) - len(PAGE) - 20,
    "too_long": lambda records: block_length(records[1]) + 150,  # ends inside the next record's headers
    "too_long_past_the_end": lambda records: block_length(records[1]) + 100_000,
    # Ends 5 bytes short of the last line of the next record: only a few stray bytes follow.
    "too_long_to_near_a_line_end": lambda records: block_length(records[1]) + len(records[2]) - 5,
}


def wrong_length_archive(path: Path, wrong: str, layout: str) -> tuple[InputFile, int]:
    """Three HTML responses, the middle one's Content-Length wrong; also the middle record's offset."""
    records = [warc_record(f"http://a/{i}") for i in range(3)]
    records[1] = with_content_length(records[1], WRONG_LENGTHS[wrong](records))
    if layout == "members":  # one gzip member per record, as WARC writers do
        members = [gzip.compress(r) for r in records]
        data, middle = b"".join(members), len(members[0])
    else:
        data, middle = b"".join(records), len(records[0])
        if layout == "whole_file_gzip":
            data = gzip.compress(data)
    path.write_bytes(data)
    return InputFile(uri=str(path), source=path.name, size=len(data), format="warc"), middle


@pytest.mark.parametrize("layout", ["plain", "members", "whole_file_gzip"])
@pytest.mark.parametrize("wrong", list(WRONG_LENGTHS))
def test_wrong_content_length_costs_only_that_record(tmp_path, read, wrong, layout):
    f, middle = wrong_length_archive(tmp_path / f"{wrong}.{layout}.warc", wrong, layout)
    result = read(f)  # also: ids unique, details short and text-free
    assert result.kept.column("url").to_pylist() == ["http://a/0", "http://a/2"]
    assert result.kept.column("html").to_pylist() == [PAGE, PAGE]
    [row] = result.rejected.to_pylist()
    locator = f"gunzip:{middle}" if layout == "whole_file_gzip" else middle
    assert (row["url"], row["reason"], row["id"]) == ("http://a/1", "corrupt_record", document_id(f.source, locator))
    assert row["detail"] == f"ContentLengthMismatch at byte {locator}"
    assert result.records_seen == 3 and result.counters.get("file_errors", 0) == 0


@pytest.mark.parametrize("gzip_members", [False, True])
def test_damaged_records_in_a_row_are_one_row_each(tmp_path, read, gzip_members):
    records = [warc_record(f"http://a/{i}") for i in range(6)]
    for i in (1, 2, 3):  # the failure repeats record after record; reading must still move on
        records[i] = with_content_length(records[i], block_length(records[i]) - len(PAGE) - 20)
    data = b"".join(gzip.compress(r) if gzip_members else r for r in records)
    path = tmp_path / ("run.warc.gz" if gzip_members else "run.warc")
    path.write_bytes(data)
    result = read(InputFile(str(path), path.name, len(data), "warc"))
    assert result.kept.column("url").to_pylist() == ["http://a/0", "http://a/4", "http://a/5"]
    assert result.rejected.column("url").to_pylist() == ["http://a/1", "http://a/2", "http://a/3"]
    assert set(result.reasons()) == {"corrupt_record"}


def test_a_few_bytes_left_out_of_the_length_are_tolerated(tmp_path, read):
    """As in warcio/example-trunc.warc: the page is whole, only a warning is counted."""
    records = [warc_record(f"http://a/{i}") for i in range(3)]
    # The 10 bytes left over are the end of the last body line: the page loses only its tail.
    records[1] = with_content_length(records[1], block_length(records[1]) - 10)
    path = tmp_path / "slack.warc"
    path.write_bytes(b"".join(records))
    result = read(InputFile(str(path), path.name, path.stat().st_size, "warc"))
    assert result.kept.column("url").to_pylist() == ["http://a/0", "http://a/1", "http://a/2"]
    assert result.counters["warc_length_warnings"] == 1


def test_no_raw_uri_or_arc_header_reaches_a_log(warc_dir, read, capfd, caplog):
    """warcio logs the target URI it repairs and prints the stray ARC header line it skips (a URL,
    an IP address); neither may reach a log. The records are read as before."""
    import logging

    caplog.set_level(logging.DEBUG)
    results = {name: read(shared_file(warc_dir, name)) for name in (
        "warcio/example-space-in-target-uri.warc.gz", "warcio/example-wget-bad-target-uri.warc.gz",
        "ia-web-commons/IAH-20080430204825-00000-blackbook-truncated.arc")}
    captured = capfd.readouterr()
    logged = captured.out + captured.err + caplog.text
    for secret in ("example with spaces", "FuseAction=Email", "68.87.76.178", "dns:www.archive.org"):
        assert secret not in logged, secret
    assert "URI is withheld" in caplog.text  # the warning stays, without the URI
    assert all(r.kept.num_rows + r.rejected.num_rows > 0 for r in results.values())


@pytest.mark.parametrize("compression", ["lz4-file", "lz4", "zstd", "bzip2", "xz"])
def test_lz4_zstd_bzip2_xz_archives_are_read_record_by_record(warc_dir, read, tmp_path, compression):
    """Compressions warcio cannot read are decompressed here: the same documents as the plain file,
    never one reject standing for the records inside."""
    import bz2
    import lzma

    import lz4.frame
    import zstandard

    plain = read(shared_file(warc_dir, "resiliparse/warcfile.warc"))
    raw = (warc_dir / "resiliparse" / "warcfile.warc").read_bytes()
    if compression == "lz4-file":  # resiliparse's own LZ4 copy: one frame per record
        result = read(shared_file(warc_dir, "resiliparse/warcfile.warc.lz4"))
    else:
        data = {"lz4": lz4.frame.compress, "zstd": zstandard.ZstdCompressor().compress,
                "bzip2": bz2.compress, "xz": lzma.compress}[compression](raw)
        path = tmp_path / f"warcfile.warc.{compression}"
        path.write_bytes(data)
        result = read(InputFile(str(path), path.name, len(data), "warc"))
    assert result.rejected.num_rows == 0
    assert result.kept.num_rows == plain.kept.num_rows == 16
    for column in ("url", "html", "fetch_time"):
        assert result.kept.column(column).to_pylist() == plain.kept.column(column).to_pylist()


def test_a_cut_lz4_archive_keeps_the_records_before_the_cut(warc_dir, read, tmp_path):
    data = (warc_dir / "resiliparse" / "warcfile.warc.lz4").read_bytes()
    path = tmp_path / "cut.warc.lz4"
    path.write_bytes(data[: len(data) // 2])
    result = read(InputFile(str(path), path.name, len(data) // 2, "warc"))
    assert 0 < result.kept.num_rows < 16 and result.rejected.num_rows == 1
