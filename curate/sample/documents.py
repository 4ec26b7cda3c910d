"""The pieces of a page: grammar, text blocks, sites, documents."""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from curate.sample.constants import _SYMBOL

# --- text ---------------------------------------------------------------------------------------


class _Grammar:
    """Expands ``<SYMBOL>`` references: rules from the lexicon, dynamic symbols from callables."""

    def __init__(self, rules: dict[str, list[str]], rng: random.Random, dynamic: dict):
        self.random = rng.random
        self.dynamic = dynamic
        self.rules = {name: [tuple(_SYMBOL.split(alt)) for alt in alts] for name, alts in rules.items()}
        for name, alts in self.rules.items():
            for parts in alts:
                for sym in parts[1::2]:
                    if sym not in self.rules and sym not in dynamic:
                        raise KeyError(f"sample lexicon: <{sym}> (used by {name}) is not defined")

    def __call__(self, symbol: str) -> str:
        fn = self.dynamic.get(symbol)
        if fn is not None:
            return fn()
        alts = self.rules[symbol]
        parts = alts[int(self.random() * len(alts))]
        if len(parts) == 1:
            return parts[0]
        out = [parts[0]]
        for i in range(1, len(parts), 2):  # literal, symbol, literal, ...
            out.append(self(parts[i]))
            out.append(parts[i + 1])
        return "".join(out)


@dataclass
class _Block:
    kind: str  # p | h2 | ul | pre | math
    text: str = ""  # p/h2: the text; pre: the code; math: the TeX
    items: list[str] = field(default_factory=list)  # ul
    extra: str = ""  # pre: language; math: MathML body
    linkable: bool = True  # p: ordinary prose (may get an inline link, a PII sentence, a re-fetch edit)

    def lines(self) -> list[str]:
        return list(self.items) if self.kind == "ul" else [self.text]

    def copy(self) -> _Block:
        return _Block(self.kind, self.text, list(self.items), self.extra, self.linkable)


def _main_text(blocks: list[_Block]) -> str:
    return "\n".join(line for b in blocks for line in b.lines())


@dataclass
class _Site:
    domain: str
    name: str
    lang: str
    kind: str  # news | blog | docs | portal | spam | mirror
    theme: str  # news | blog | docs | portal | spam
    scheme: str
    host: str
    ip: str
    founded: int
    authors: list[str]
    nav: list[str]
    tagline: str
    server: str


@dataclass
class _Doc:
    n: int
    kind: str  # original | exact | near | refetch
    lang: str | None
    category: str
    topic: str | None
    site: _Site
    title: str
    blocks: list[_Block]
    url: str
    time: dt.datetime
    published: dt.datetime
    author: str
    record_id: str
    request_id: str
    source: _Doc | None = None  # the original this copy was made from
    near_edit_fraction: float | None = None
    near_jaccard: float | None = None
    pii: list[dict] = field(default_factory=list)
    planted_lines: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    content_type: str = "text/html"
    charset: str | None = "utf-8"
    payload: bytes | None = None  # non-HTML payloads
    near_members: int = 1  # originals of a near-duplicate cluster: its size so far
    near_target: int = 0
    family: list[_Doc] = field(default_factory=list)  # originals re-fetched: the later fetches
    used_as: str | None = None  # originals: exact | near | refetch once used as a source


