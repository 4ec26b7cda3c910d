"""The mixer: token-weighted mix shards for a trainer, from the curated corpus.

``rules`` (the `mix:` YAML section: buckets, caps, budget, selection), ``tokens`` (token counts
with a ``tokenizers`` file), ``plan`` (targets, rates and exact hash thresholds from per-stratum
token histograms), ``select`` (per-document annotation, copies, shuffle keys, ledger lines),
``write`` (Parquet shards, Megatron ``.bin``/``.idx`` or ``.npy`` token arrays) and ``manifest``
(``mix.json``, the card's summary and the audit). Plain functions over Arrow tables: the runner
calls them in Ray tasks.
"""
