"""Distil MiniLM into static token embeddings: ``model.safetensors`` + ``tokenizer.json`` + ``config.json`` here.

    .venv/bin/python classifiers/static_minilm/distill.py        # ~10 s on 2 cores

Every token of all-MiniLM-L6-v2's vocabulary goes through MiniLM alone (``[CLS] token [SEP]``,
mean-pooled), the 384-d outputs are reduced to 256 principal components, weighted by a Zipf/SIF
estimate of the token's frequency and stored as int8 with one scale per row
(``curate.models.static_embed``: model2vec's recipe, implemented with transformers and NumPy).
The folder is what ``builtin:static_minilm`` names; heads trained on it (``classifiers/quality_static``)
record its sha256, so a re-distilled matrix is never silently paired with an old head.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

from curate.models.resolve import resolve_model
from curate.models.static_embed import distill_static


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="builtin:all-MiniLM-L6-v2", help="teacher encoder (builtin:, a folder, or a hub id in the local cache)")
    parser.add_argument("--dims", type=int, default=256, help="principal components kept")
    parser.add_argument("--dtype", choices=["int8", "float16", "float32"], default="int8")
    parser.add_argument("--sif", type=float, default=1e-4, help="SIF coefficient of the frequency weighting")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    encoder = resolve_model(args.encoder, expect="any", allow_hub=True)
    config = distill_static(encoder, args.out, dims=args.dims, dtype=args.dtype, sif_coefficient=args.sif, teacher_name=args.encoder)
    print(json.dumps(config, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
