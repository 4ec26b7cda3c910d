"""Console progress: one line per pass and one per stage it runs — units and documents done out of
the total, rate and ETA.

On a terminal the block is redrawn in place a few times a second at most; in a log (not a TTY) it
is printed as plain lines at a steady interval (``CURATE_PROGRESS_INTERVAL`` seconds, default 15),
and always once when a pass ends, so a log of a long run reads as a time series.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _amount(value: float, unit: str) -> str:
    if unit == "bytes":
        for limit, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if value >= limit:
                return f"{value / limit:.1f} {suffix}"
        return f"{value:.0f} B"
    return f"{value:,.0f} {unit}"


@dataclass
class _StageLine:
    documents_in: int = 0
    kept: int = 0
    busy_s: float = 0.0


@dataclass
class _Pass:
    title: str
    unit_noun: str
    weight_unit: str
    units_total: int
    weight_total: float
    units_done: int = 0
    units_reused: int = 0
    weight_done: float = 0.0
    weight_done_here: float = 0.0
    documents: int = 0
    started: float = field(default_factory=time.monotonic)
    stages: dict[str, _StageLine] = field(default_factory=dict)


class Progress:
    def __init__(self, stream: TextIO | None = None, interval_s: float | None = None, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        default = 0.5 if self.interactive else float(os.environ.get("CURATE_PROGRESS_INTERVAL", "15"))
        self.interval_s = interval_s if interval_s is not None else default
        self.enabled = enabled
        self._pass: _Pass | None = None
        self._last_print = 0.0
        self._drawn_lines = 0

    # -- messages ---------------------------------------------------------------------------

    def say(self, message: str) -> None:
        if not self.enabled:
            return
        self._clear()
        print(message, file=self.stream, flush=True)

    # -- a pass -----------------------------------------------------------------------------

    def start(self, title: str, *, units_total: int, unit_noun: str, weight_total: float, weight_unit: str,
              stages: list[str] = (), units_reused: int = 0, weight_reused: float = 0.0) -> None:
        self._pass = _Pass(title, unit_noun, weight_unit, units_total, weight_total, units_done=units_reused,
                           units_reused=units_reused, weight_done=weight_reused)
        for name in stages:
            self._pass.stages[name] = _StageLine()
        self._last_print = time.monotonic()

    def unit_done(self, weight: float, documents: int, stages: dict[str, dict] | None = None) -> None:
        p = self._pass
        if p is None:
            return
        p.units_done += 1
        p.weight_done += weight
        p.weight_done_here += weight
        p.documents += documents
        for name, counts in (stages or {}).items():
            line = p.stages.setdefault(name, _StageLine())
            line.documents_in += int(counts.get("in", 0))
            line.kept += int(counts.get("kept", 0))
            line.busy_s += float(counts.get("busy_s", 0.0))
        self.tick()

    def tick(self, force: bool = False) -> None:
        if not self.enabled or self._pass is None:
            return
        now = time.monotonic()
        if not force and now - self._last_print < self.interval_s:
            return
        self._last_print = now
        # A log gets the pass's line at each interval and the per-stage lines once, when it ends.
        self._draw(self._lines(now, stages=self.interactive))

    def finish(self) -> None:
        p = self._pass
        if p is None:
            return
        if self.enabled:
            lines = self._lines(time.monotonic(), final=True)
            self._clear()
            for line in lines:
                print(line, file=self.stream, flush=True)
        self._pass = None

    # -- drawing ----------------------------------------------------------------------------

    def _lines(self, now: float, final: bool = False, stages: bool = True) -> list[str]:
        p = self._pass
        elapsed = now - p.started
        rate = p.weight_done_here / elapsed if elapsed > 0 else 0.0
        left = max(0.0, p.weight_total - p.weight_done)
        if final:
            tail = f"done in {_duration(elapsed)}"
        elif rate > 0 and p.weight_done_here > 0:
            tail = f"ETA {_duration(left / rate)}"
        else:
            tail = "ETA —"
        rate_text = f"{_amount(rate, p.weight_unit)}/s" if p.weight_unit != "bytes" else f"{_amount(rate, 'bytes')}/s"
        head = (f"[{p.title}] {p.units_done}/{p.units_total} {p.unit_noun}"
                + (f" ({p.units_reused} reused)" if p.units_reused else "")
                + f" · {_amount(p.weight_done, p.weight_unit)} of {_amount(p.weight_total, p.weight_unit)}"
                + f" · {rate_text} · {tail}")
        lines = [head]
        for name, s in (p.stages.items() if stages else ()):
            if not s.documents_in:  # a pass that only prepares a step (its keys, its pairs)
                continue
            per_busy = f" · {s.documents_in / s.busy_s:,.0f} docs/s busy" if s.busy_s > 0 else ""
            lines.append(f"    {name:<20} in {s.documents_in:>10,}  kept {s.kept:>10,}{per_busy}")
        return lines

    def _clear(self) -> None:
        if self.interactive and self._drawn_lines:
            self.stream.write(f"\x1b[{self._drawn_lines}F\x1b[J")
            self._drawn_lines = 0

    def _draw(self, lines: list[str]) -> None:
        if self.interactive:
            self._clear()
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
            self._drawn_lines = len(lines)
        else:
            for line in lines:
                print(line, file=self.stream, flush=True)
