"""ScoreHistogram: the bins the card draws a score's distribution with."""
import math

import pyarrow as pa

from curate.contract import ScoreHistogram, StageParams
from curate.stages.base import Stage


def test_counts_clip_to_the_edge_bins_and_skip_missing_values():
    spec = ScoreHistogram(0.0, 1.0, bins=4, thresholds=(0.5,))
    assert spec.counts([0.1, 0.3, 0.3, 0.6, 0.99, 1.0, -2.0, 7.0, None, math.nan, math.inf]) == [2, 2, 1, 3]
    assert spec.counts([]) == [0, 0, 0, 0]


def test_histogram_counts_uses_the_declared_columns_only():
    class Scored(Stage):
        name = "scored"

        @classmethod
        def score_histograms(cls, params: StageParams):
            return {"score": ScoreHistogram(0, 10, bins=2), "absent": ScoreHistogram(0, 1, bins=2)}

    batch = pa.table({"score": [1.0, 2.0, 9.0], "other": [0.0, 0.0, 0.0]})
    assert Scored().histogram_counts(batch) == {"score": [2, 1]}
