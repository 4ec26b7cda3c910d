"""Which texts share a forward pass: the rule that makes a model's output a function of each text alone.

The pipeline promises byte-identical shards for the same input, config and seed, but which
documents meet in one model batch changes from run to run (Ray block boundaries move). A batched
transformer forward pass is not row-independent in float32:

* padding changes the reduction lengths (attention over padded keys, matmuls whose inner
  dimension is the padded length), so a text scores differently beside a longer one;
* even with no padding at all — texts of identical token length stacked — CPU matmul (MKL sgemm)
  picks its blocking from the row count, so a row depends on how many rows share its call.

Measured with MiniLM on CPU (torch 2.13, MKL): padded batches moved the teacher's probabilities by
up to 2.3e-6 between batch sizes and orders; equal-length stacks of 2-40 texts, no padding, still
moved hidden states by up to 5e-6 for most lengths tried, so grouping by length is not enough. One
text per forward call, at its own length and never padded, gave bit-identical outputs in any
order and batch size, and costs little: 200 web texts (mean 166 tokens of 256) ran at 26 docs/s
against 23 for padded batches of 32 with one thread (padding waste cancels the per-call
overhead), and 5-20 % slower than padded batches with two threads. That is the CPU rule.

On a GPU one text per call would leave most of the device idle, so texts are still sorted by
length and padded ``batch_size`` at a time there. A text's scores can then differ in the last
float32 bits with the texts that share its batch; for the same blocks, ``batch_size``, GPU model
and driver / CUDA / cuBLAS / torch versions they are expected to repeat exactly (cuBLAS promises
run-to-run identical results for identical shapes on one architecture; not verified here, no GPU
was available). ``batch_size: 1`` gives the CPU rule on a GPU too.

On either device the result also depends on torch's intra-op thread count (one text alone gives
different last bits on one and on two threads) and, through MKL's choice of kernels, on the CPU
model and library versions: bit-identity holds on one machine type. ``embed_classifier`` and ``hf_classifier`` pin it
to their ``torch_threads`` (default ``num_cpus``) in ``setup``; ``NerDetector`` takes
``torch_threads``.
"""
from __future__ import annotations

from collections.abc import Sequence


def alone(device, batch_size: int) -> bool:
    """Whether every text runs in its own forward call (so its output ignores the other texts)."""
    kind = device.type if hasattr(device, "type") else str(device).split(":")[0]
    return kind == "cpu" or batch_size == 1


def forward_groups(lengths: Sequence[int], batch_size: int, device) -> list[list[int]]:
    """Indices into ``lengths`` grouped by forward call: one text per call on CPU (see the module
    docstring), else sorted by length and ``batch_size`` per call (less padding)."""
    if alone(device, batch_size):
        return [[k] for k in range(len(lengths))]
    order = sorted(range(len(lengths)), key=lambda k: lengths[k])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def collate(rows: Sequence[Sequence[int]], pad_id: int):
    """``(input_ids, attention_mask)`` long tensors, right-padded to the longest row (a single row
    is not padded at all)."""
    import torch

    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        input_ids[r, : len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[r, : len(row)] = 1
    return input_ids, mask
