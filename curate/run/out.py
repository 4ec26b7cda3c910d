"""OUT: checked before Ray starts, never touched until the run succeeds, then committed at once.

* A run writes everything under ``OUT/.work/`` (``final/`` stages the layout OUT will get). Only
  when the whole run succeeded are the staged files moved into OUT, each by an atomic rename, and
  the previous run's files that the new one does not replace removed. A journal
  (``.work/commit.json``) makes the commit roll forward if the driver dies half-way.
* OUT's own record of what curate wrote there is ``OUT/.curate-out.json``; any other file is the
  user's: a run refuses an OUT holding such *foreign* files (unless ``--force``) and never deletes
  one.
* ``.work/lock.json`` names the live driver (pid, start time, host) so two runs cannot share an OUT;
  ``.work/processes.json`` names the processes an embedded run started, so that after a driver is
  killed the next run (or ``curate clean``) ends exactly those — never a broad kill.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
import uuid
from pathlib import Path

OWNED_MANIFEST = ".curate-out.json"
CONTROL = ".work"
# What a run writes at OUT's top level (the staged layout); anything else there is the user's.
LAYOUT = ("data", "rejects", "mix", "plots", "README.md", "card.json")


class OutError(Exception):
    """OUT cannot be used; the message is one line for the console (exit code 2)."""


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


# --------------------------------------------------------------------------- ownership


def owned_files(out: Path) -> set[str]:
    """The files (relative, ``/``-separated) a previous curate run committed into OUT. A card of an
    older curate, without the manifest, is read for the same list."""
    manifest = _read_json(out / OWNED_MANIFEST)
    if manifest is not None:
        return set(manifest.get("files", []))
    card = _read_json(out / "card.json")
    if not isinstance(card, dict) or not str(card.get("format", "")).startswith("curate-card/"):
        return set()
    owned = {"card.json", "README.md"}
    for kind in ("data", "rejects"):
        owned |= {e["path"] for e in card.get("output", {}).get(kind, [])}
    if (out / "plots").is_dir():
        owned |= {f"plots/{p.name}" for p in (out / "plots").iterdir() if p.suffix == ".png"}
    mix = _read_json(out / "mix" / "mix.json")
    if card.get("mix") and isinstance(mix, dict):
        owned.add("mix/mix.json")
        owned |= {s["path"] for s in mix.get("shards", []) + mix.get("not_selected", [])}
        for s in mix.get("shards", []):
            owned |= {a["path"] for a in (s.get("arrays") or {}).values() if isinstance(a, dict)}
    return owned


def own_folder(out: Path, folder: str) -> None:
    """Record every file now under ``OUT/<folder>`` as curate's (``curate mix`` adds a named mix to
    a committed run): a later run replaces it with the run it came from, and never calls it the
    user's."""
    manifest = _read_json(out / OWNED_MANIFEST) or {"format": "curate-out/1", "run_id": None}
    files = {f for f in (manifest.get("files") or sorted(owned_files(out))) if not f.startswith(folder.rstrip("/") + "/")}
    files |= {p.relative_to(out).as_posix() for p in (out / folder).rglob("*") if p.is_file()}
    _write_json(out / OWNED_MANIFEST, {**manifest, "files": sorted(files)})


def foreign_entries(out: Path) -> list[str]:
    """Files (and empty folders) in OUT that no curate run wrote, sorted."""
    if not out.is_dir():
        return []
    owned = owned_files(out)
    foreign = []
    for root, dirs, files in os.walk(out):
        rel_root = Path(root).relative_to(out)
        if rel_root == Path("."):
            dirs[:] = [d for d in dirs if d != CONTROL]
        for name in files:
            rel = (rel_root / name).as_posix()
            if rel != OWNED_MANIFEST and rel not in owned:
                foreign.append(rel)
        if not dirs and not files and rel_root != Path("."):
            foreign.append(rel_root.as_posix() + "/")
    return sorted(foreign)


# --------------------------------------------------------------------------- preflight


def _probe_writable(folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".curate-probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise OutError(f"cannot write to {what} {folder}: {e.strerror or e}") from None


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def preflight(out: Path, work_root: str, estimate_bytes: int, *, force: bool) -> None:
    """Everything about OUT (and a local work folder) that can fail before Ray starts."""
    if out.exists() and not out.is_dir():
        raise OutError(f"--out {out} is a file, not a folder")
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            raise OutError(f"--out {out}: {parent} is a file, not a folder")
    free = shutil.disk_usage(_existing_ancestor(out)).free
    _probe_writable(out / CONTROL, "OUT")
    if "://" not in work_root:
        _probe_writable(Path(work_root), "the work folder")
    if free < estimate_bytes:
        raise OutError(f"not enough room for OUT {out}: {free / 2**20:,.0f} MiB free, this run needs about "
                       f"{estimate_bytes / 2**20:,.0f} MiB (work files and output, estimated from the input size)")
    foreign = foreign_entries(out)
    if foreign and not force:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutError(f"--out {out} holds files curate did not write ({shown}); choose an empty folder, or pass --force "
                       "to write beside them (curate never deletes them)")


def estimate_output_bytes(input_bytes: int) -> int:
    """Room a run needs at its peak: two phases' documents and the transient files of a dedup step
    in the work folder, plus the output. On the sample corpus (text-heavy pages) that peak is about
    1.2× the compressed input; real crawls, whose HTML is mostly markup, need less."""
    return int(input_bytes * 1.5) + 64 * 2**20


# --------------------------------------------------------------------------- lock and processes


def _process(pid: int, create_time: float):
    import psutil

    try:
        p = psutil.Process(pid)
        # A zombie has already exited (it waits for its parent, or init, to reap it).
        if abs(p.create_time() - create_time) < 0.01 and p.status() != psutil.STATUS_ZOMBIE:
            return p
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        pass
    return None


def _me() -> dict:
    import psutil

    return {"pid": os.getpid(), "create_time": psutil.Process().create_time(), "host": socket.gethostname(), "started": time.time()}


def acquire_lock(control: Path) -> None:
    lock = _read_json(control / "lock.json")
    if lock and lock.get("host") == socket.gethostname() and _process(int(lock["pid"]), float(lock["create_time"])) is not None:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lock.get("started", 0)))
        raise OutError(f"OUT is in use by a running curate (pid {lock['pid']}, started {started}); wait for it or stop it first")
    _write_json(control / "lock.json", _me())


def release_lock(control: Path) -> None:
    (control / "lock.json").unlink(missing_ok=True)


def record_processes(control: Path, session: str | None) -> None:
    """The driver and every process it started (Ray's head processes, its workers), with their start
    times, so a later run can tell them from unrelated processes that reuse a pid."""
    import psutil

    me = psutil.Process()
    procs = []
    for p in me.children(recursive=True):
        try:
            procs.append({"pid": p.pid, "create_time": p.create_time(), "name": p.name()})
        except psutil.Error:
            continue
    _write_json(control / "processes.json", {"driver": _me(), "session_dir": session, "processes": procs})


def end_orphans(control: Path) -> list[str]:
    """End the processes a killed earlier run left behind: those it recorded (same pid *and* start
    time) and those whose command line names its Ray session folder. Returns what was ended."""
    import psutil

    data = _read_json(control / "processes.json")
    if not data:
        return []
    driver = data.get("driver", {})
    if driver.get("host") != socket.gethostname():
        return []
    if _process(int(driver.get("pid", -1)), float(driver.get("create_time", 0))) is not None:
        return []  # that run is alive: the lock refuses to start a second one
    victims: dict[int, psutil.Process] = {}
    for entry in data.get("processes", []):
        p = _process(int(entry["pid"]), float(entry["create_time"]))
        if p is not None:
            victims[p.pid] = p
    session = data.get("session_dir")
    if session:
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                if any(session in part for part in (p.info["cmdline"] or [])) and p.status() != psutil.STATUS_ZOMBIE:
                    victims[p.pid] = p
            except psutil.Error:
                continue
    victims.pop(os.getpid(), None)
    ended = []
    for p in victims.values():
        try:
            ended.append(f"{p.pid} ({p.name()})")
            p.send_signal(signal.SIGTERM)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(list(victims.values()), timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    (control / "processes.json").unlink(missing_ok=True)
    return sorted(ended)


# --------------------------------------------------------------------------- commit


def staged_files(staging: Path) -> list[str]:
    return sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file() and not p.name.startswith("."))


def commit(out: Path, staging: Path, control: Path, run_id: str) -> None:
    """Move the staged layout into OUT, replacing the previous run's files, through a journal."""
    journal = {"run_id": run_id, "new": staged_files(staging), "old": sorted(owned_files(out))}
    _write_json(control / "commit.json", journal)
    _apply(out, staging, control, journal)


def finish_interrupted_commit(out: Path, control: Path) -> bool:
    """Roll an interrupted commit forward (the new run had succeeded); True when there was one."""
    journal = _read_json(control / "commit.json")
    if journal is None:
        return False
    _apply(out, control / "final", control, journal)
    return True


def _apply(out: Path, staging: Path, control: Path, journal: dict) -> None:
    new = journal["new"]
    for rel in new:
        source = staging / rel
        if source.is_file():
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    for rel in sorted(set(journal["old"]) - set(new)):
        (out / rel).unlink(missing_ok=True)
    # Folders of the layout left empty (a mix that is no longer configured) go; a folder holding a
    # user's file stays.
    for top in LAYOUT:
        folder = out / top
        if folder.is_dir():
            for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                if not any(sub.iterdir()):
                    sub.rmdir()
            if not any(folder.iterdir()):
                folder.rmdir()
    _write_json(out / OWNED_MANIFEST, {"format": "curate-out/1", "run_id": journal["run_id"], "files": new})
    (control / "commit.json").unlink(missing_ok=True)
