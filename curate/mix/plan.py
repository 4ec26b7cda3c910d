"""From per-stratum token supply to exact per-stratum selections.

The driver only ever holds a few numbers per stratum: its supply (tokens, documents) and token
histograms over the selection-key space (``BINS`` bins of one key window). Selection is by key:
a document of stratum *s* gets ``base[s]`` copies, plus one more when its key is below
``threshold[s]``. Keys are uniform hashes of (seed, id) (or quality-weighted keys), so the
documents under a threshold are a seeded random sample, and the threshold is chosen from the
histograms so that the extra copies' tokens land on the stratum's remainder target:

1. Targets. ``budget`` (tokens) or ``scarcest``: N = min over buckets of capacity / weight,
   where a bucket's capacity is the most tokens it can give within ``max_epochs`` and its caps.
   Bucket target = weight × N, limited by capacity (a shortfall is reported, never hidden).
   Inside a bucket, caps are water-filled: every stratum is sampled at one rate, except capped
   groups whose share would pass ``max_share`` (they get exactly the cap) and strata that would
   pass ``max_epochs`` copies.
2. Rates. rate = target / supply; ``base = floor(rate)`` copies for every document (at most
   ``max_epochs``), and the remainder ``target − base × supply`` taken from the lowest keys.
3. Thresholds. The remainder's boundary is found by histogram refinement: a histogram of tokens
   over the stratum's key window (4096 bins); if the bin where the cumulative tokens cross the
   remainder holds more than one document (and more than a hair of tokens), the next pass
   histograms just that bin, 4096 times finer. The last boundary bin is taken or left, whichever
   lands closer. The error is then at most half a document's tokens per stratum.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from curate.mix.rules import MixConfig, Stratum, strata_of

BIN_BITS = 12
BINS = 1 << BIN_BITS
KEY_BITS = 64
# Refine a boundary bin while it holds more than this share of the stratum's target.
REFINE_TOLERANCE = 1e-6


@dataclass
class Window:
    """Keys in [lo, lo + bins << shift), histogrammed in ``bins`` bins of width ``1 << shift``."""

    lo: int
    shift: int
    bins: int

    @property
    def hi(self) -> int:
        return self.lo + (self.bins << self.shift)

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.lo, self.shift, self.bins)


def top_window() -> Window:
    return Window(0, KEY_BITS - BIN_BITS, BINS)


def histogram(strata: np.ndarray, keys: np.ndarray, tokens: np.ndarray, windows: dict[int, tuple[int, int, int]]) -> dict[int, tuple[list[int], list[int], list[int]]]:
    """Sparse token and document histograms per stratum over its window:
    ``{stratum: (bin indices, tokens, documents)}`` (non-empty bins only)."""
    out = {}
    keys = keys.astype(np.uint64, copy=False)
    for s, (lo, shift, bins) in windows.items():
        hi = lo + (bins << shift)
        mask = strata == s
        if lo > 0:
            mask &= keys >= np.uint64(lo)
        if hi < (1 << KEY_BITS):
            mask &= keys < np.uint64(hi)
        if not mask.any():
            continue
        idx = ((keys[mask] - np.uint64(lo)) >> np.uint64(shift)).astype(np.int64)
        tok = np.bincount(idx, weights=tokens[mask].astype(np.float64), minlength=bins)
        docs = np.bincount(idx, minlength=bins)
        nz = np.nonzero(docs)[0]
        out[s] = (nz.tolist(), tok[nz].astype(np.int64).tolist(), docs[nz].astype(np.int64).tolist())
    return out


@dataclass
class StratumPlan:
    stratum: Stratum
    supply_tokens: int
    supply_documents: int
    max_epochs: int
    target_tokens: float = 0.0
    base_copies: int = 0
    remainder_target: float = 0.0
    # Search state for the remainder threshold.
    window: Window | None = None
    selected_below: int = 0  # remainder tokens of keys below window.lo (all taken)
    documents_below: int = 0  # and their documents
    threshold: int | None = None  # extra copy where key < threshold; None while searching
    remainder_tokens: int = 0  # remainder tokens actually taken (exact, from the histograms)
    remainder_documents: int = 0

    @property
    def done(self) -> bool:
        return self.threshold is not None

    @property
    def selected_tokens(self) -> int:
        return self.base_copies * self.supply_tokens + self.remainder_tokens

    @property
    def selected_rows(self) -> int:
        return self.base_copies * self.supply_documents + self.remainder_documents


@dataclass
class BucketPlan:
    name: str
    weight: float
    max_epochs: int
    supply_tokens: int
    supply_documents: int
    capacity_tokens: float
    target_tokens: float  # weight × N, before the capacity limit
    planned_tokens: float  # what the strata aim at: min(target, capacity)
    strata: list[StratumPlan] = field(default_factory=list)

    @property
    def attainable(self) -> bool:
        return self.planned_tokens + 0.5 >= self.target_tokens

    @property
    def selected_tokens(self) -> int:
        return sum(s.selected_tokens for s in self.strata)


@dataclass
class MixPlan:
    budget: int | str
    total_tokens_target: float  # N
    buckets: list[BucketPlan]
    strata: list[StratumPlan]
    unbucketed_documents: int
    unbucketed_tokens: int
    notes: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return all(s.done for s in self.strata)

    def windows(self) -> dict[int, tuple[int, int, int]]:
        """Windows still to histogram, by stratum index."""
        return {s.stratum.index: s.window.as_tuple() for s in self.strata if not s.done}

    @property
    def selected_tokens(self) -> int:
        return sum(s.selected_tokens for s in self.strata)

    @property
    def selected_rows(self) -> int:
        return sum(s.selected_rows for s in self.strata)

    def selection(self) -> dict[int, tuple[int, int]]:
        """What workers need: stratum -> (base copies, extra-copy threshold)."""
        return {s.stratum.index: (s.base_copies, s.threshold) for s in self.strata}


def _fill_bucket(target: float, strata: list[StratumPlan]) -> dict[int, float]:
    """Water-filling: one sampling rate for the bucket, except strata that a cap (share of the
    bucket's target) or max_epochs limits; those get exactly their limit."""
    limits = {}
    for s in strata:
        limit = s.max_epochs * s.supply_tokens
        if s.stratum.max_share is not None:
            limit = min(limit, s.stratum.max_share * target)
        limits[s.stratum.index] = limit
    fixed: dict[int, float] = {}
    while True:
        pool = [s for s in strata if s.stratum.index not in fixed]
        remaining = target - sum(fixed.values())
        supply = sum(s.supply_tokens for s in pool)
        if not pool or supply == 0:
            return {**fixed, **{s.stratum.index: 0.0 for s in pool}}
        rate = max(0.0, remaining) / supply
        over = [s for s in pool if rate * s.supply_tokens > limits[s.stratum.index] + 1e-9]
        if not over:
            return {**fixed, **{s.stratum.index: rate * s.supply_tokens for s in pool}}
        for s in over:
            fixed[s.stratum.index] = limits[s.stratum.index]


def bucket_capacity(strata: list[StratumPlan]) -> float:
    """Most tokens the bucket can give: the largest T with Σ_s min(limit_s(T)) ≥ T, where
    limit_s(T) = min(max_epochs × supply, max_share × T). The shortfall Σ min(...) − T is
    concave in T and ≥ 0 at 0, so bisection finds the end of the feasible interval."""
    upper = float(sum(s.max_epochs * s.supply_tokens for s in strata))
    if upper == 0:
        return 0.0

    def reachable(t: float) -> float:
        total = 0.0
        for s in strata:
            limit = s.max_epochs * s.supply_tokens
            if s.stratum.max_share is not None:
                limit = min(limit, s.stratum.max_share * t)
            total += limit
        return total

    if reachable(upper) >= upper - 1e-9:
        return upper
    low, high = 0.0, upper
    for _ in range(200):
        mid = (low + high) / 2
        if reachable(mid) >= mid - 1e-9:
            low = mid
        else:
            high = mid
    return low


def plan_targets(config: MixConfig, supply: dict[int, tuple[int, int]], unbucketed: tuple[int, int] = (0, 0)) -> MixPlan:
    """Targets, base copies and remainders for every stratum from the supply
    ``{stratum: (tokens, documents)}``; thresholds still to be searched (``refine``)."""
    strata = strata_of(config)
    plans = [StratumPlan(s, int(supply.get(s.index, (0, 0))[0]), int(supply.get(s.index, (0, 0))[1]),
                         config.epochs_of(config.buckets[s.bucket])) for s in strata]
    buckets = []
    for b_index, b in enumerate(config.buckets):
        mine = [p for p in plans if p.stratum.bucket == b_index]
        buckets.append(BucketPlan(
            name=b.name, weight=b.weight, max_epochs=config.epochs_of(b),
            supply_tokens=sum(p.supply_tokens for p in mine), supply_documents=sum(p.supply_documents for p in mine),
            capacity_tokens=bucket_capacity(mine), target_tokens=0.0, planned_tokens=0.0, strata=mine,
        ))
    notes = []
    if config.budget == "scarcest":
        ratios = [(b.capacity_tokens / b.weight, b.name) for b in buckets if b.weight > 0 and b.capacity_tokens > 0]
        empty = [b.name for b in buckets if b.weight > 0 and b.capacity_tokens == 0]
        if empty:
            notes.append(f"no supply for bucket(s) {', '.join(empty)}: the scarcest-bucket budget is taken over the others")
        n = min(ratios)[0] if ratios else 0.0
        if ratios:
            notes.append(f"budget: {min(ratios)[1]} is the scarcest bucket; it allows {n:,.0f} tokens")
    else:
        n = float(config.budget)
    for b in buckets:
        b.target_tokens = b.weight * n
        b.planned_tokens = min(b.target_tokens, b.capacity_tokens)
        targets = _fill_bucket(b.planned_tokens, b.strata)
        for p in b.strata:
            p.target_tokens = targets[p.stratum.index]
    for p in plans:
        _set_rate(p)
    return MixPlan(budget=config.budget, total_tokens_target=n, buckets=buckets, strata=plans,
                   unbucketed_documents=int(unbucketed[1]), unbucketed_tokens=int(unbucketed[0]), notes=notes)


def _set_rate(p: StratumPlan) -> None:
    if p.supply_tokens == 0 or p.target_tokens <= 0:
        p.base_copies, p.remainder_target, p.threshold = 0, 0.0, 0
        return
    rate = p.target_tokens / p.supply_tokens
    # A rate a rounding error under an integer means that integer (4 epochs, not 3 + nearly all).
    base = math.floor(rate + 1e-9)
    if base >= p.max_epochs:
        p.base_copies, p.remainder_target, p.threshold = p.max_epochs, 0.0, 0
        return
    p.base_copies = base
    p.remainder_target = max(0.0, p.target_tokens - base * p.supply_tokens)
    if p.remainder_target < 0.5:
        p.threshold = 0
        return
    p.window = top_window()


def refine(plan: MixPlan, histograms: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
    """One refinement step per unfinished stratum from its dense histogram (tokens, documents)
    over its current window: either fixes the threshold or narrows the window to one bin."""
    for p in plan.strata:
        if p.done:
            continue
        tokens, docs = histograms.get(p.stratum.index, (np.zeros(p.window.bins, np.int64), np.zeros(p.window.bins, np.int64)))
        cum = np.concatenate([[0], np.cumsum(tokens)]) + p.selected_below
        cum_docs = np.concatenate([[0], np.cumsum(docs)])
        want = p.remainder_target
        # First bin whose end reaches the remainder target (the last bin if none does).
        i = int(min(np.searchsorted(cum[1:], want, side="left"), p.window.bins - 1))
        before, after = float(cum[i]), float(cum[i + 1])
        fine = docs[i] <= 1 or tokens[i] <= REFINE_TOLERANCE * max(p.target_tokens, 1.0) or p.window.shift == 0
        if fine:
            take = abs(after - want) < abs(before - want)
            edge = i + 1 if take else i
            p.threshold = p.window.lo + (edge << p.window.shift)
            p.remainder_tokens = int(cum[edge])
            p.remainder_documents = int(cum_docs[edge]) + p.documents_below
        else:
            lo = p.window.lo + (i << p.window.shift)
            shift = max(0, p.window.shift - BIN_BITS)
            bins = min(BINS, 1 << p.window.shift)
            p.selected_below = int(cum[i])
            p.documents_below += int(cum_docs[i])
            p.window = Window(lo, shift, bins)


def copies(strata: np.ndarray, keys: np.ndarray, selection: dict[int, tuple[int, int]]) -> np.ndarray:
    """Copies of each document in the mix: its stratum's base, plus one where key < threshold."""
    out = np.zeros(len(strata), dtype=np.int32)
    keys = keys.astype(np.uint64, copy=False)
    for s, (base, threshold) in selection.items():
        mask = strata == s
        if not mask.any():
            continue
        extra = np.zeros(int(mask.sum()), dtype=bool)
        if threshold:
            extra = (keys[mask] < np.uint64(threshold)) if threshold < (1 << KEY_BITS) else np.ones_like(extra)
        out[mask] = base + extra.astype(np.int32)
    return out
