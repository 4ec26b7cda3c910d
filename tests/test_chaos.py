"""Runs that survive: kill -9 of workers and of the driver, OUT that never loses a good run.

Every run here is a real `curate run` process on its own embedded Ray, over a small sample corpus
(4 WARC files) and the shipped pipeline without its two slowest models (the MiniLM teacher and
token_distribution's references, covered elsewhere), with a mix of several shards. Faults:

* the driver SIGKILLs itself once n units of a pass are committed (``CURATE_FAULT_KILL_DRIVER``),
  at four points in one run — mid documents, mid fuzzy dedup, mid shard writing, mid mix — each
  followed by a plain rerun that must resume from what was committed;
* a worker SIGKILLs itself half-way through a unit (``CURATE_FAULT_KILL_WORKER``), and the test
  kills a worker process from outside with kill -9.

Each ends with exit 0, `curate audit` passing, and data, rejects and mix byte-identical to an
undisturbed run of the same corpus.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from curate.sample import generate_sample_corpus
from tests.conftest import REPO

pytestmark = pytest.mark.slow

RUN_ID = "chaos"
# The mix's files; mix.json is compared too (it has no timings and sorted keys).
COMPARED = ("data", "rejects", "mix")


def _pipeline(tmp: Path, *, stages_until: str | None = None, mix: bool = True, shard_mib: float = 0.25) -> Path:
    data = yaml.safe_load((REPO / "pipelines" / "llama3.yaml").read_text())
    data["stages"] = [s for s in data["stages"] if s["stage"] not in ("embed_classifier", "token_distribution")]
    if stages_until:
        names = [s["stage"] for s in data["stages"]]
        data["stages"] = data["stages"][: names.index(stages_until) + 1]
    data["output"]["shard_input_mib"] = shard_mib
    if mix:
        data["mix"]["shard_tokens"] = 30_000
    else:
        data.pop("mix", None)
    path = tmp / f"pipeline-{stages_until or 'full'}-{int(mix)}-{shard_mib}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _curate(*args: str, fault_driver: str | None = None, fault_worker: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", CURATE_PROGRESS_INTERVAL="1000")
    env.pop("CURATE_FAULT_KILL_DRIVER", None)
    env.pop("CURATE_FAULT_KILL_WORKER", None)
    if fault_driver:
        env["CURATE_FAULT_KILL_DRIVER"] = fault_driver
    if fault_worker:
        env["CURATE_FAULT_KILL_WORKER"] = fault_worker
    return subprocess.run([sys.executable, "-m", "curate.cli", *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)


def _run(corpus: Path, out: Path, pipeline: Path, *extra: str, **faults) -> subprocess.CompletedProcess:
    return _curate("run", "--corpus", str(corpus), "--out", str(out), "--pipeline", str(pipeline), "--run-id", RUN_ID,
                   "--cards-dir", str(out.parent / "cards"), *extra, **faults)


def _tree(root: Path, only: tuple[str, ...] | None = None) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative paths), outside curate's .work."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and rel.parts[0] != ".work" and (only is None or rel.parts[0] in only):
            out[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _dead_run_processes(out: Path) -> list[dict]:
    data = json.loads((out / ".work" / "processes.json").read_text())
    return data["processes"]


def _alive(entries: list[dict]) -> list[str]:
    alive = []
    for e in entries:
        try:
            p = psutil.Process(e["pid"])
            # A zombie has exited; only its parent (or init) has yet to reap it.
            if abs(p.create_time() - e["create_time"]) < 0.01 and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{e['pid']} {e['name']}")
        except psutil.NoSuchProcess:
            pass
    return alive


def _audit(out: Path) -> None:
    proc = _curate("audit", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("chaos_corpus")
    generate_sample_corpus(root, seed=5, pages=300, pages_per_warc=75)
    return root / "warc"


@pytest.fixture(scope="module")
def undisturbed(corpus, tmp_path_factory) -> dict:
    """The reference run — into an OUT that holds a user's file, which must survive it."""
    tmp = tmp_path_factory.mktemp("chaos_base")
    out = tmp / "out"
    (out / "data").mkdir(parents=True)
    (out / "data" / "notes.txt").write_text("my notes")
    (out / "README.md").write_text("my own readme")
    refused = _run(corpus, out, _pipeline(tmp))
    assert refused.returncode == 2, refused.stderr
    assert "holds files curate did not write (README.md, data/notes.txt)" in refused.stderr and "--force" in refused.stderr
    assert _tree(out) == {"README.md": hashlib.sha256(b"my own readme").hexdigest(), "data/notes.txt": hashlib.sha256(b"my notes").hexdigest()}
    (out / "README.md").unlink()  # a curate run writes README.md: only data/notes.txt stays foreign
    proc = _run(corpus, out, _pipeline(tmp), "--force")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "data" / "notes.txt").read_text() == "my notes"
    _audit(out)
    card = json.loads((out / "card.json").read_text())
    files = {k: v for k, v in _tree(out, COMPARED).items() if k != "data/notes.txt"}
    return {"out": out, "files": files, "card": card, "stdout": proc.stdout}


def test_the_reference_run_is_complete(undisturbed):
    card = undisturbed["card"]
    assert card["ledger"]["balanced"] and card["ledger"]["ids"]["match"]
    assert card["output"]["num_shards_planned"] >= 3 and card["mix"]["totals"]["shards"] >= 2
    assert card["checkpoints"]["resumed"] is False and card["checkpoints"]["units_reused"] == 0
    assert not (undisturbed["out"] / ".work").exists()  # the work folder goes when the run succeeds
    assert "data/notes.txt" not in undisturbed["files"]


def test_driver_killed_at_four_points_resumes_to_identical_bytes(corpus, undisturbed, tmp_path):
    out = tmp_path / "out"
    # A previous good run in OUT (another pipeline, other shard files): it must survive every
    # failed attempt untouched, and be replaced only by the run that succeeds.
    previous = _run(corpus, out, _pipeline(tmp_path, stages_until="length_filter", mix=False, shard_mib=0.5))
    assert previous.returncode == 0, previous.stderr
    previous_files = _tree(out)
    dead_processes = []
    full = _pipeline(tmp_path)
    for number, point in enumerate(["documents:2", "fuzzy_dedup/edges:2", "shards:2", "mix/write:1"], start=1):
        killed = _run(corpus, out, full, fault_driver=point)
        assert killed.returncode == -signal.SIGKILL, f"{point}: {killed.returncode}\n{killed.stderr[-2000:]}"
        assert _tree(out) == previous_files, f"OUT changed after the driver was killed at {point}"
        state = json.loads((out / ".work" / "run" / "run.json").read_text())
        assert len(state["attempts"]) == number
        dead_processes += _dead_run_processes(out)
        if number == 1:
            # A changed pipeline is refused (before Ray starts), naming the change; OUT untouched.
            changed = _pipeline(tmp_path, shard_mib=0.125)
            refused = _run(corpus, out, changed)
            assert refused.returncode == 2
            assert "the pipeline changed: output.shard_input_mib: 0.25 → 0.125" in refused.stderr and "--fresh" in refused.stderr
            assert _tree(out) == previous_files
    final = _run(corpus, out, full)
    assert final.returncode == 0, final.stdout + final.stderr
    assert "resumed (attempt 5)" in final.stdout
    assert "ended " in final.stderr  # the last killed run's leftover Ray processes
    assert not _alive(dead_processes), "processes of the killed runs are still running"
    assert _tree(out, COMPARED) == undisturbed["files"]
    # The previous run's shards that the new run does not replace are gone, its other files too.
    assert set(_tree(out)) == set(_tree(undisturbed["out"])) - {"data/notes.txt"}
    card = json.loads((out / "card.json").read_text())
    assert card["ledger"] == undisturbed["card"]["ledger"]
    assert card["checkpoints"]["resumed"] and card["checkpoints"]["attempts"] == 5 and card["checkpoints"]["units_reused"] > 0
    _audit(out)


def test_killed_workers_are_replaced_and_counted_once(corpus, undisturbed, tmp_path):
    out = tmp_path / "out"
    stop = threading.Event()
    killed_from_outside: list[int] = []

    def kill_a_worker_from_outside():
        # Wait until pass workers have done some work, then kill -9 one (a running actor).
        deadline = time.monotonic() + 300
        while not stop.is_set() and time.monotonic() < deadline:
            workers = [p for p in psutil.process_iter(["pid", "name", "cmdline"])
                       if "PassWorker.run" in " ".join(p.info["cmdline"] or []) or "PassWorker.run" in (p.info["name"] or "")]
            if workers and (out / ".work" / "run" / "03-exact_dedup").exists():
                os.kill(workers[0].pid, signal.SIGKILL)
                killed_from_outside.append(workers[0].pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_worker_from_outside, daemon=True)
    killer.start()
    proc = _run(corpus, out, _pipeline(tmp_path), fault_worker="documents:00001,line_dedup/count:00002,map:00003")
    stop.set()
    killer.join(timeout=5)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.count("died") >= 3, proc.stderr  # each unit whose worker died is named and run again
    assert killed_from_outside, "no pass worker was found to kill"
    assert _tree(out, COMPARED) == undisturbed["files"]
    card = json.loads((out / "card.json").read_text())
    assert card["ledger"] == undisturbed["card"]["ledger"]
    _audit(out)


def test_clean_ends_a_killed_runs_processes_and_removes_its_work(corpus, tmp_path):
    out = tmp_path / "out"
    killed = _run(corpus, out, _pipeline(tmp_path, stages_until="length_filter", mix=False), fault_driver="documents:1")
    assert killed.returncode == -signal.SIGKILL
    leftovers = _dead_run_processes(out)
    proc = _curate("clean", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "removed" in proc.stdout and not (out / ".work").exists()
    assert not _alive(leftovers), proc.stdout


def test_out_that_is_a_file_fails_at_once_with_one_line(corpus, tmp_path):
    target = tmp_path / "out"
    target.write_text("not a folder")
    started = time.monotonic()
    proc = _run(corpus, target, _pipeline(tmp_path))
    assert proc.returncode == 2 and time.monotonic() - started < 30
    assert proc.stderr.strip().splitlines() == [f"curate run: --out {target} is a file, not a folder"]


def _can_mount() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


def test_read_only_out_fails_in_seconds(corpus, tmp_path):
    if not _can_mount():
        pytest.skip("needs root and unshare -m to mount a read-only folder")
    ro = tmp_path / "ro"
    ro.mkdir()
    script = (f"mount -t tmpfs -o ro tmpfs {ro} && "
              f"RAY_AUTH_MODE=disabled {sys.executable} -m curate.cli run --corpus {corpus} --out {ro}/out "
              f"--pipeline {_pipeline(tmp_path)}")
    started = time.monotonic()
    proc = subprocess.run(["unshare", "-m", "bash", "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    elapsed = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr
    assert "cannot write to OUT" in proc.stderr and "Read-only file system" in proc.stderr
    assert elapsed < 30  # before Ray starts, not after the pipeline ran


def test_a_work_folder_elsewhere_resumes_and_is_removed(corpus, tmp_path):
    out, work = tmp_path / "out", tmp_path / "elsewhere" / "work"
    tiny = _pipeline(tmp_path, stages_until="length_filter", mix=False)
    killed = _run(corpus, out, tiny, "--work", str(work), fault_driver="documents:2")
    assert killed.returncode == -signal.SIGKILL
    assert (work / "run.json").is_file() and not (out / ".work" / "run").exists()
    done = _run(corpus, out, tiny, "--work", str(work))
    assert done.returncode == 0, done.stderr
    # Two units were committed when the driver died; a third may have finished beside them.
    assert re.search(r"resuming: documents [23]/4 files done", done.stderr), done.stderr
    assert not work.exists() and not (out / ".work").exists()
    _audit(out)
