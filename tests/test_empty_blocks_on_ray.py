"""Column-less empty blocks must not break a shuffle (runner.guard_shuffle_inputs).

Ray Data emits a 0-row block with no columns for every map task whose input holds no rows (the
UDF is never called for it). Ray 2.60's hash shuffle types a map task's empty shards with its
first input block's schema, so such a block leading a map task made every reduce of that shuffle
fail with "ArrowInvalid: Schema at index 1 was different: ... vs <empty>" (seen in the 1000-page
sample's exact_dedup shuffle). The runner drops row-less blocks before the shuffle's map tasks.
"""
from __future__ import annotations

import pyarrow as pa
import pytest

SCHEMA = pa.schema([("key", pa.string()), ("value", pa.int64())])


def _udfs():
    """(identity, count per group): defined here so Ray ships them by value (workers cannot import tests/)."""

    def identity(batch: pa.Table) -> pa.Table:
        return batch

    def count_group(group: pa.Table) -> pa.Table:
        return pa.table({"key": [group.column("key")[0].as_py()], "rows": [group.num_rows]})

    return identity, count_group


def _blocks(ray, ds) -> list[tuple[int, int]]:
    return [(t.num_rows, t.num_columns) for b in ds.iter_internal_ref_bundles() for t in map(ray.get, b.block_refs)]


@pytest.fixture()
def one_map_task_per_block(ray_session):
    """Every input bundle of a shuffle becomes its own map task (no coalescing), so the column-less
    block leads a map task of its own, deterministically (in a run it gets there by being tiny:
    stored inline, it has no node and is coalesced apart from the located blocks)."""
    ctx = ray_session.data.DataContext.get_current()
    before = ctx.shuffle_input_batch_bytes
    ctx.shuffle_input_batch_bytes = 0
    yield ray_session
    ctx.shuffle_input_batch_bytes = before


def test_runner_installs_the_guard(ray_session):
    from ray.data._internal.execution.operators.shuffle_operators.shuffle_map_operator import ShuffleMapOp

    from curate.runner import guard_shuffle_inputs

    # False would mean Ray moved its shuffle map operator: check whether the bug is still there.
    assert guard_shuffle_inputs() is True
    assert guard_shuffle_inputs() is True  # idempotent
    assert ShuffleMapOp._curate_drops_rowless_blocks


def test_columnless_empty_block_before_a_groupby(one_map_task_per_block):
    ray = one_map_task_per_block
    from curate.runner import guard_shuffle_inputs

    guard_shuffle_inputs()
    identity, count_group = _udfs()
    rows = pa.table({"key": [f"k{i % 5}" for i in range(40)], "value": list(range(40))}, schema=SCHEMA)
    # A trailing 0-row block is bundled alone into the map's last task, which emits a block with
    # no columns, without calling identity: the way a shuffle's empty partitions reach the next one.
    ds = ray.data.from_arrow([rows, SCHEMA.empty_table()]).map_batches(identity, batch_format="pyarrow")
    assert (0, 0) in _blocks(ray, ds), "precondition: Ray no longer emits column-less empty blocks"

    # Many more partitions than keys, as in a run: most partitions get rows from no map task.
    out = ds.groupby("key", num_partitions=16).map_groups(count_group, batch_format="pyarrow").take_all()
    assert sorted((r["key"], r["rows"]) for r in out) == [(f"k{i}", 8) for i in range(5)]


def test_only_empty_blocks_before_a_groupby(one_map_task_per_block):
    ray = one_map_task_per_block
    from curate.runner import guard_shuffle_inputs

    guard_shuffle_inputs()
    identity, count_group = _udfs()
    ds = ray.data.from_arrow([SCHEMA.empty_table(), SCHEMA.empty_table()]).map_batches(identity, batch_format="pyarrow")
    assert ds.groupby("key", num_partitions=4).map_groups(count_group, batch_format="pyarrow").take_all() == []
