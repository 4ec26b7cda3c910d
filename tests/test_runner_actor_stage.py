"""Model stages run on an actor pool with the model loaded once per actor; the ledger still balances."""
import json

import pyarrow as pa
import pytest

from curate.config import OutputConfig, PipelineConfig, RayConfig, ReadConfig, ResolvedStage
from curate.contract import StageOutput, StageParams
from curate.run import run_pipeline
from curate.stages.base import Stage

pytestmark = pytest.mark.slow


def _corpus(tmp_path, n=120):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text("".join(json.dumps({"id": f"d{i:03d}", "text": f"document number {i}"}) + "\n" for i in range(n)))
    return corpus


def _config(stage_cls, params=None):
    return PipelineConfig(
        name="actor-test", description="", seed=0, read=ReadConfig(batch_size=16),
        stages=(ResolvedStage(stage_cls, params or stage_cls.Params()),),
        output=OutputConfig(shard_input_mib=0.001), ray=RayConfig(batch_size=8, max_actors=2),
    )


def test_model_stage_loads_once_per_actor(ray_session, tmp_path):
    # Defined here so Ray ships the class by value to its workers.
    class FakeModelParams(StageParams):
        threshold: int = 100

    class FakeModel(Stage):
        name = "fake_model"
        Params = FakeModelParams
        uses_model = True
        writes = {"model_pid": pa.int64(), "model_loads": pa.int64()}
        loads = 0

        def setup(self):
            import os

            type(self).loads += 1  # counts loads in this worker process
            self.pid = os.getpid()

        def process(self, batch):
            n = batch.num_rows
            numbers = [int(t.split()[-1]) for t in batch.column("text").to_pylist()]
            batch = batch.append_column("model_pid", pa.array([self.pid] * n, pa.int64()))
            batch = batch.append_column("model_loads", pa.array([type(self).loads] * n, pa.int64()))
            kept, rejected = self.split(batch, [x < self.params.threshold for x in numbers], [None if x < self.params.threshold else "above_threshold" for x in numbers])
            return StageOutput(kept, rejected, {"scored": float(n)})

    result = run_pipeline(_config(FakeModel), str(_corpus(tmp_path)), tmp_path / "out", cards_dir=None, run_id="actors")
    ledger = result.card["ledger"]
    assert ledger["balanced"] and ledger["equation"] == "120 = 100 + 20"
    assert ledger["rejected_by_stage_reason"] == {"fake_model/above_threshold": 20}
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "out" / "data")
    assert set(table.column("model_loads").to_pylist()) == {1}  # one load per actor, never per batch
    assert 1 <= len(set(table.column("model_pid").to_pylist())) <= 2
    assert result.card["stages"][1]["counters"]["scored"] == 120


def test_a_stage_that_loses_documents_fails_the_run(ray_session, tmp_path):
    class Leaky(Stage):
        name = "leaky"

        def process(self, batch):
            return StageOutput(batch.slice(1))  # drops a row without a reject: forbidden

    with pytest.raises(Exception) as err:
        run_pipeline(_config(Leaky), str(_corpus(tmp_path, 20)), tmp_path / "out", cards_dir=None, run_id="leaky")
    assert "must account for every document" in str(err.value)
