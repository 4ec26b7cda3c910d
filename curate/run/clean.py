"""`curate clean OUT`: after a driver was killed, end the processes its run left behind (only those
it recorded, checked by pid *and* start time) and, unless asked to keep it, its working files."""
from __future__ import annotations

import shutil
from pathlib import Path

from curate.run import out as out_mod


def clean(out: str | Path, *, keep_work: bool = False) -> list[str]:
    out = Path(out).resolve()
    control = out / out_mod.CONTROL
    if not control.is_dir():
        return [f"{out}: no unfinished run (no {out_mod.CONTROL}/)"]
    lock = out_mod._read_json(control / "lock.json")
    if lock:
        try:
            out_mod.acquire_lock(control)  # refuses while the run is alive
        finally:
            out_mod.release_lock(control)
    lines = []
    ended = out_mod.end_orphans(control)
    lines.append(f"ended {len(ended)} leftover process(es)" + (f": {', '.join(ended)}" if ended else ""))
    if out_mod.finish_interrupted_commit(out, control):
        lines.append("finished an interrupted commit into OUT")
    if keep_work:
        lines.append(f"kept {control} (a rerun with the same pipeline and inputs resumes from it)")
    else:
        state = out_mod._read_json(control / "run" / "run.json") or {}
        shutil.rmtree(control)
        lines.append(f"removed {control}" + (f" (unfinished run {state['run_id']})" if state.get("run_id") else ""))
    return lines
