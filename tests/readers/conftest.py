"""Fixtures for the reader tests: the shared real WARC files and a read-everything helper."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pytest

from curate.readers import InputFile, read_file
from curate.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA

REPO = Path(__file__).resolve().parents[2]
WARC_DIR = (REPO / ".." / "shared" / "data" / "warc").resolve()


@pytest.fixture(scope="session")
def warc_dir() -> Path:
    if not (WARC_DIR / "SOURCE.md").exists():
        pytest.skip(f"real WARC fixtures not found at {WARC_DIR} (../shared is not beside the repository)")
    return WARC_DIR


@dataclass
class ReadResult:
    """Everything read_file yielded for one file, checked against the reader contract."""

    kept: pa.Table
    rejected: pa.Table
    counters: Counter = field(default_factory=Counter)
    batches: int = 0

    def reasons(self) -> Counter:
        return Counter(self.rejected.column("reason").to_pylist())

    @property
    def records_seen(self) -> int:
        """Documents + reject rows that stand for one input item (not a whole-file error)."""
        return self.kept.num_rows + self.rejected.num_rows - int(self.counters.get("file_errors", 0))


def read_all(f: InputFile, batch_size: int = 256, **kwargs) -> ReadResult:
    kept, rejected, counters, batches = [], [], Counter(), 0
    for out in read_file(f, batch_size=batch_size, **kwargs):
        batches += 1
        assert out.kept.schema == DOCUMENT_SCHEMA
        assert out.rejected.schema == REJECT_SCHEMA
        assert out.kept.num_rows + out.rejected.num_rows <= batch_size
        assert set(out.rejected.column("stage").to_pylist()) <= {"read"}
        assert set(out.kept.column("source").to_pylist()) <= {f.source}
        assert set(out.rejected.column("source").to_pylist()) <= {f.source}
        kept.append(out.kept)
        rejected.append(out.rejected)
        counters.update(out.counters)
    result = ReadResult(pa.concat_tables(kept), pa.concat_tables(rejected), counters, batches)
    ids = result.kept.column("id").to_pylist() + result.rejected.column("id").to_pylist()
    assert len(ids) == len(set(ids)), "ids must be unique within a file"
    assert result.counters["documents_read"] == result.kept.num_rows
    for detail in result.rejected.column("detail").to_pylist():
        # Details say why, never what: short and free of document text.
        assert detail is None or (len(detail) < 120 and "\n" not in detail)
    return result


@pytest.fixture
def read() -> Callable[..., ReadResult]:
    return read_all
