"""Command line: `curate run`, `curate audit`, `curate clean`, `curate sample`.

Exit codes: 0 success; 1 the run failed (its committed work is kept: rerun to resume) or the
audit found a mismatch; 2 the command cannot start (a bad pipeline, an unusable OUT, a resume
refused).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

DEFAULT_PIPELINE = "pipelines/llama3.yaml"


def _cmd_run(args: argparse.Namespace) -> int:
    from curate.config import ConfigError, load_pipeline
    from curate.readers.listing import CorpusError
    from curate.run import OutError, ResumeRefused, RunError, run_pipeline

    try:
        config = load_pipeline(args.pipeline)
    except ConfigError as e:
        print(f"curate run: {e}", file=sys.stderr)
        return 2
    corpus = args.corpus
    if not corpus:
        from curate.sample import generate_sample_corpus

        sample_dir = Path(args.sample_dir)
        print(f"curate run: no --corpus given; generating the default sample corpus in {sample_dir}")
        generate_sample_corpus(sample_dir, seed=args.seed, pages=args.sample_pages)
        corpus = str(sample_dir / "warc")
    address = args.ray_address or os.environ.get("RAY_ADDRESS") or None
    try:
        result = run_pipeline(config, corpus, args.out, cards_dir=args.cards_dir, ray_address=address, run_id=args.run_id,
                              work_dir=args.work, fresh=args.fresh, force=args.force)
    except (OutError, ResumeRefused, CorpusError) as e:
        print(f"curate run: {e}", file=sys.stderr)
        return 2
    except (RunError, ValueError, FileNotFoundError) as e:
        print(f"curate run: {e}", file=sys.stderr)
        return 1
    ledger = result.card["ledger"]
    print(f"run {result.run_id}: {ledger['equation']} (input = kept + rejected) — {'balanced' if ledger['balanced'] else 'NOT balanced'}")
    checkpoints = result.card.get("checkpoints") or {}
    if checkpoints.get("resumed"):
        print(f"  resumed (attempt {checkpoints['attempts']}): {checkpoints['units_reused']} of {checkpoints['units']} units reused from the interrupted run")
    for stage in result.card["stages"]:
        reasons = ", ".join(f"{k}={v}" for k, v in stage["rejected_by_reason"].items()) or "-"
        print(f"  {stage['stage']:<16} in={stage['documents_in']:<7} kept={stage['kept']:<7} rejected: {reasons}")
    print(f"shards: {result.out_dir / 'data'}  ({len(result.card['output']['data'])} files)")
    mix = result.card.get("mix")
    if mix:
        print(f"mix: {result.out_dir / 'mix'}  ({mix['totals']['shards']} shards, {mix['totals']['tokens']:,} tokens; {mix['ledger']['equation']} (kept = mixed + mix_not_selected))")
        for b in mix["buckets"]:
            print(f"  {b['name']:<16} target {b['target_share']:6.1%}  achieved {b['achieved_share']:6.2%}  tokens {b['supply_tokens']:,} -> {b['tokens']:,}")
        for note in mix["notes"]:
            print(f"  note: {note}")
    print(f"rejects: {result.out_dir / 'rejects'}")
    print(f"card: {result.out_dir / 'README.md'} and {result.card_dir}")
    print(f"verify: curate audit {result.out_dir}")
    if ledger["input_documents"] == 0:
        files = result.card["input"]["file_count"]
        print(f"curate run: nothing was read: the corpus's {files} input file(s) hold no document, so OUT has a card "
              "and no data (exit status 3)", file=sys.stderr)
        return 3
    if ledger["kept"] == 0:
        print(f"curate run: warning: every one of the {ledger['input_documents']} documents was rejected; "
              "OUT has a card and rejects, and no data", file=sys.stderr)
    return 0


def _cmd_mix(args: argparse.Namespace) -> int:
    from curate.config import ConfigError
    from curate.run import OutError
    from curate.run.remix import RemixError, remix
    from curate.run.units import RunError

    address = args.ray_address or os.environ.get("RAY_ADDRESS") or None
    try:
        summary = remix(args.out, args.config, args.name, ray_address=address, force=args.force)
    except (RemixError, ConfigError, OutError) as e:
        print(f"curate mix: {e}", file=sys.stderr)
        return 2
    except RunError as e:
        print(f"curate mix: {e}", file=sys.stderr)
        return 1
    print(f"mix {summary['name']}: {args.out}/mix/{summary['name']} ({len(summary['phases'])} phase(s), {len(summary['blends'])} blend(s)) "
          f"from {summary['documents_in']:,} kept documents")
    for kind, entries in (("phase", summary["phases"]), ("blend", summary["blends"])):
        for phase, m in entries.items():
            print(f"  {kind} {phase:<14} {m['totals']['tokens']:,} tokens in {m['totals']['shards']} shard(s); ledger {m['ledger']['equation']}")
            sources = {p["name"]: p["source"] for p in m.get("parts", [])}
            for b in m["buckets"]:
                source = f"  from {' '.join(f'{k}={v}' for k, v in sources[b['name']].items() if k != 'kind')}" if b["name"] in sources else ""
                print(f"    {b['name']:<16} target {b['target_share']:6.1%}  achieved {b['achieved_share']:6.2%}{source}")
    print(f"verify: curate audit {args.out}")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from curate.audit import AuditError, audit

    try:
        report = audit(args.card_dir, inputs=args.inputs)
    except AuditError as e:
        print(f"curate audit: {e}", file=sys.stderr)
        return 2
    if report.ok:
        print(f"audit passed: {report.checks} checks against {args.card_dir}")
        return 0
    print(f"audit FAILED: {report.mismatches[0]}", file=sys.stderr)
    for extra in report.mismatches[1:]:
        print(f"  also: {extra}", file=sys.stderr)
    return 1


def _cmd_clean(args: argparse.Namespace) -> int:
    from curate.run import OutError
    from curate.run.clean import clean

    try:
        for line in clean(args.out, keep_work=args.keep_work):
            print(line)
    except (OutError, OSError) as e:
        print(f"curate clean: {e}", file=sys.stderr)
        return 2
    return 0


def _cmd_distill(args: argparse.Namespace) -> int:
    from curate.config import ConfigError
    from curate.distill import DistillError, distill

    try:
        result = distill(args.out, args.student, sample=args.sample, seed=args.seed, held_out=args.held_out,
                         teacher_head=args.teacher_head, teacher_model=args.teacher_model, teacher_label=args.teacher_label,
                         device=args.device, min_score=args.min_score, allow_filtered=args.allow_filtered)
    except (DistillError, ConfigError, ValueError, OSError) as e:
        print(f"curate distill: {e}", file=sys.stderr)
        return 2
    r = result.record
    agreement = r["agreement_with_teacher"]
    print(f"student: {r['head']} (sha256 {r['head_sha256'][:16]}…), trained on {r['trained_on']['train']:,} documents of run "
          f"{r['trained_on']['run_id']}")
    print(f"held out {agreement['held_out_documents']:,}: agreement with the teacher {agreement['agreement_at_0.5']:.1%} at 0.5, "
          f"Spearman {agreement['spearman']}")
    print(f"score a crawl with it: curate run --pipeline {r['pipeline']} --corpus <corpus> --out <out>")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from curate.sample import generate_sample_corpus

    corpus = generate_sample_corpus(Path(args.out), seed=args.seed, pages=args.pages)
    print(f"sample corpus written to {args.out}: {corpus}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="curate", description="Pretraining-data curation on Ray with an auditable card per run.")
    from curate import __version__

    parser.add_argument("--version", action="version", version=f"curate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a pipeline over a corpus", description="Run a pipeline over a corpus; writes OUT/data, OUT/rejects and the card.")
    run.add_argument("--corpus", help="file, directory, glob or fsspec URI (WARC/ARC/WET, JSONL, Parquet); default: generate the sample corpus")
    run.add_argument("--pipeline", default=DEFAULT_PIPELINE, help=f"pipeline YAML (default {DEFAULT_PIPELINE})")
    run.add_argument("--out", default="out", help="output directory (default out/)")
    run.add_argument("--cards-dir", default="dataset_cards", help="where a copy of the card goes, under <run-id>/ (default dataset_cards/)")
    run.add_argument("--run-id", help="override the run id (default <pipeline>-<UTC time>-<config hash>; a resumed run keeps its own)")
    run.add_argument("--ray-address", help="Ray cluster address (default $RAY_ADDRESS; unset = embedded Ray on 127.0.0.1)")
    run.add_argument("--seed", type=int, default=0, help="seed of the generated sample corpus")
    run.add_argument("--sample-dir", default=".sample", help="where the generated sample corpus goes")
    run.add_argument("--sample-pages", type=int, default=10000, help="pages in the generated sample corpus")
    run.add_argument("--work", help="where the run's working files go (a folder or an fsspec URI such as s3://bucket/prefix, "
                     "dedicated to this OUT); default OUT/.work/run")
    run.add_argument("--fresh", action="store_true", help="discard an unfinished run's committed work instead of resuming it")
    run.add_argument("--force", action="store_true", help="write into an OUT that holds files curate did not write (they are never deleted)")
    run.set_defaults(func=_cmd_run)

    mx = sub.add_parser("mix", help="new mixes (phases, annealing blends) of a finished run, from its shards",
                        description="Re-mix a finished run without re-running any stage: every phase and blend of MIX.yaml is written to "
                                    "OUT/mix/NAME/<phase or blend>/, added to the card and verified by `curate audit`.")
    mx.add_argument("out", help="a finished run's OUT")
    mx.add_argument("--config", required=True, help="the mix config: phases: {<phase>: <a pipeline's mix: section>}, blends: {<blend>: {parts: [...]}} "
                    "(example: pipelines/mixes/llama3-schedule.yaml)")
    mx.add_argument("--name", required=True, help="the mix's name (OUT/mix/NAME)")
    mx.add_argument("--force", action="store_true", help="replace a mix of that name")
    mx.add_argument("--ray-address", default=None, help="a Ray cluster (default: RAY_ADDRESS, else embedded)")
    mx.set_defaults(func=_cmd_mix)
    aud = sub.add_parser("audit", help="verify a run's card against its files", description="Recompute counts and checksums from the shards and rejects; exit 1 naming the first mismatch.")
    aud.add_argument("card_dir", help="the run's OUT directory (or a dataset_cards/<run-id> copy)")
    aud.add_argument("--inputs", action="store_true", help="also re-hash the input files listed in the card")
    aud.set_defaults(func=_cmd_audit)

    cln = sub.add_parser("clean", help="end a killed run's leftover processes and remove its working files",
                         description="End the processes a killed run of OUT left behind (only those it recorded) and remove "
                                     "OUT/.work; OUT's committed files are never touched.")
    cln.add_argument("out", help="the run's OUT directory")
    cln.add_argument("--keep-work", action="store_true", help="only end leftover processes; keep the work so a rerun resumes")
    cln.set_defaults(func=_cmd_clean)

    dst = sub.add_parser("distill", help="train a quality student on a run's own documents, labelled by the teacher",
                         description="Sample a finished run's documents by id hash, label them with the teacher, train a static-embedding "
                                     "quality head on the labels, and write it with its sample ids, its agreement with the teacher on a "
                                     "held-out part, and a pipeline that scores with it.")
    dst.add_argument("out", help="OUT of a finished run whose quality_static stage only labelled (min_score: 0)")
    dst.add_argument("--student", required=True, help="folder for head.json, sample_ids.txt, distill.json and pipeline.yaml")
    dst.add_argument("--sample", type=int, default=4000, help="documents to label with the teacher (default 4000)")
    dst.add_argument("--seed", type=int, default=0, help="salt of the sample's id hash")
    dst.add_argument("--held-out", type=float, default=0.2, help="hashed fraction of the sample kept to measure agreement (default 0.2)")
    dst.add_argument("--teacher-head", default="builtin:quality_embed", help="the embedding teacher's quality head (default builtin:quality_embed)")
    dst.add_argument("--teacher-model", help="instead: a sequence classifier (folder or cached hub id) run through hf_classifier")
    dst.add_argument("--teacher-label", help="the positive label of --teacher-model")
    dst.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the teacher runs")
    dst.add_argument("--min-score", type=float, help="threshold in the written pipeline (default: the run's, else 0.32)")
    dst.add_argument("--allow-filtered", action="store_true", help="distil from a run that already filtered on quality")
    dst.set_defaults(func=_cmd_distill)

    sample = sub.add_parser("sample", help="generate the default sample corpus", description="Generate the seeded sample corpus (WARC + ground truth).")
    sample.add_argument("--out", default=".sample", help="output directory (default .sample/)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--pages", type=int, default=10000)
    sample.set_defaults(func=_cmd_sample)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Libraries' chatter (matplotlib's unit converters, ...) is not run progress.
    for name in ("matplotlib", "PIL", "urllib3", "filelock"):
        logging.getLogger(name).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
