"""Domain and URL block lists by category, and FineWeb's banned words in URLs.

Lists. The UT1 blacklists (Université Toulouse 1 Capitole, CC BY-SA 4.0) sort domains and URLs
into categories, one folder each: ``<category>/domains`` and ``<category>/urls``, one entry per
line. ``adult`` (4.56M domains, 19.6k URLs) is taken from the copy that the datatrove wheel ships
as package data (``datatrove/assets/url_filterblacklistsv0_3_0.tar.gz``: files ``domains`` and
``urls``); the Makefile installs that wheel ``--no-deps`` for this file alone. Any other category
(``gambling``, ``malware``, ``phishing``, ...) comes from a UT1 folder the user names
(``lists_dir``: the ``blacklists/`` folder of UT1's archive, or any folder in its layout).

Matching. A URL's host matches a listed domain when it is that domain or one of its subdomains
(``www.a.example.com`` matches ``example.com``); a listed URL matches the URL without its scheme,
with or without ``www.`` and a trailing ``/``. Domains are held as the sorted xxh3-64 hashes of
their names (36 MB for 4.56M domains instead of ~400 MB of Python strings; a false match needs a
64-bit collision, about one in 4e12 per lookup) and looked up a batch at a time with
``numpy.searchsorted``. The hash array is built once per list file and cached on disk
(``$CURATE_CACHE`` or ``~/.cache/curate``), keyed by the file's sha256.

Words (FineWeb's URL filter, datatrove's word lists): a *banned word* is a whole word of the URL
(split on anything but ASCII letters and digits, lower-cased); *soft* words count only when
``soft_word_threshold`` of them occur; a *banned subword* is found anywhere in the URL with every
non-alphanumeric character removed.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import xxhash

DATATROVE_VERSION = "0.10.1"
DATATROVE_ASSETS = "datatrove/assets"
UT1_IN_DATATROVE = f"{DATATROVE_ASSETS}/url_filterblacklistsv0_3_0.tar.gz"
WORD_FILES = {"banned": "banned_words.txt", "soft": "soft_banned_words.txt", "subword": "banned_subwords.txt"}
_CACHE_FORMAT = "1"
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


class ListsUnavailable(ValueError):
    """A category or word list that is neither in ``lists_dir`` nor shipped."""


def datatrove_asset(relative: str) -> Path | None:
    """A file of the datatrove wheel's package data, or None when datatrove is not installed."""
    try:
        path = Path(importlib.metadata.distribution("datatrove").locate_file(relative))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def _cache_dir() -> Path:
    return Path(os.environ.get("CURATE_CACHE") or Path.home() / ".cache" / "curate") / "url_filter"


def _entries(lines) -> list[str]:
    out = []
    for raw in lines:
        line = raw.strip().lower()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def hash_names(names) -> np.ndarray:
    return np.fromiter((xxhash.xxh3_64_intdigest(n.encode()) for n in names), dtype=np.uint64)


@dataclass(frozen=True)
class ListSource:
    """Where one category's lists come from: a UT1 folder, or the datatrove tarball."""

    category: str
    path: Path  # the category folder, or the tarball
    in_tarball: bool

    def read(self, kind: str) -> list[str]:
        """The ``domains`` or ``urls`` entries (lower-cased, comments and blanks dropped)."""
        if not self.in_tarball:
            file = self.path / kind
            return _entries(file.open(encoding="utf-8", errors="replace")) if file.is_file() else []
        with tarfile.open(self.path, "r:gz") as tar:
            member = next((m for m in tar.getmembers() if Path(m.name).name == kind and m.isfile()), None)
            if member is None:
                return []
            return _entries(io.TextIOWrapper(tar.extractfile(member), encoding="utf-8", errors="replace"))

    def fingerprint(self) -> str:
        digest = hashlib.sha256(_CACHE_FORMAT.encode())
        files = [self.path] if self.in_tarball else sorted(p for p in (self.path / "domains", self.path / "urls") if p.is_file())
        for file in files:
            digest.update(file.name.encode())
            with file.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        return digest.hexdigest()


def find_source(category: str, lists_dir: str | None) -> ListSource:
    if lists_dir:
        folder = Path(lists_dir) / category
        if (folder / "domains").is_file() or (folder / "urls").is_file():
            return ListSource(category, folder, in_tarball=False)
    if category == "adult":
        tarball = datatrove_asset(UT1_IN_DATATROVE)
        if tarball is not None:
            return ListSource(category, tarball, in_tarball=True)
    where = f"{lists_dir}/{category}/domains" if lists_dir else "lists_dir (a UT1 blacklists/ folder)"
    hint = (f"; the adult list ships in the datatrove wheel: pip install --no-deps datatrove=={DATATROVE_VERSION}"
            if category == "adult" else "")
    raise ListsUnavailable(f"url_filter: no list for category {category!r}: looked in {where}{hint}")


@dataclass
class CategoryList:
    category: str
    domains: np.ndarray  # sorted xxh3-64 of listed domains
    urls: frozenset[str]  # listed URLs, scheme-less

    @classmethod
    def load(cls, source: ListSource) -> CategoryList:
        """The category's hashes from the disk cache, or built from the list and cached."""
        cache = _cache_dir() / f"{source.category}-{source.fingerprint()[:32]}.npz"
        if cache.is_file():
            with np.load(cache, allow_pickle=False) as stored:
                return cls(source.category, stored["domains"], frozenset(stored["urls"].tolist()))
        domains = np.unique(hash_names(source.read("domains")))
        urls = sorted({_strip_url(u) for u in source.read("urls")})
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            np.savez(handle, domains=domains, urls=np.array(urls, dtype=str))
        os.replace(partial, cache)  # whole or absent: a concurrent worker never reads half a file
        return cls(source.category, domains, frozenset(urls))

    def __len__(self) -> int:
        return len(self.domains)


def _strip_url(url: str) -> str:
    """Scheme-less, lower-case host, no ``www.``, no trailing slash: the form lists and URLs are compared in."""
    url = url.strip()
    if "://" in url:
        url = url.split("://", 1)[1]
    url = url.lower().rstrip("/")
    return url[4:] if url.startswith("www.") else url


def host_of(url: str | None) -> str:
    if not url:
        return ""
    try:
        host = urlsplit(url if "://" in url else "http://" + url).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".")


def host_suffixes(host: str) -> list[str]:
    """``a.b.example.com`` -> itself, ``b.example.com``, ``example.com`` (two labels at least)."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(max(1, len(labels) - 1))] if len(labels) >= 2 else []


def matches(domain_hashes: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each query hash, whether it is in the sorted ``domain_hashes``."""
    if not len(domain_hashes) or not len(queries):
        return np.zeros(len(queries), dtype=bool)
    at = np.searchsorted(domain_hashes, queries)
    at[at == len(domain_hashes)] = 0
    return domain_hashes[at] == queries


class WordLists:
    """FineWeb's banned words, soft words and subwords, matched in URLs."""

    def __init__(self, banned: set[str], soft: set[str], subwords: set[str], soft_threshold: int):
        self.banned, self.soft, self.soft_threshold = banned, soft, soft_threshold
        ordered = sorted(subwords, key=lambda w: (-len(w), w))  # longest first: the detail names the longest
        self.subword_pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def shipped(cls, soft_threshold: int, extra_banned=(), extra_subwords=()) -> WordLists:
        lists = {}
        for kind, name in WORD_FILES.items():
            path = datatrove_asset(f"{DATATROVE_ASSETS}/{name}")
            if path is None:
                raise ListsUnavailable(f"url_filter: datatrove's {name} is not installed "
                                       f"(pip install --no-deps datatrove=={DATATROVE_VERSION}), or set banned_words: false")
            lists[kind] = {_NOT_ALNUM.sub("", w) for w in _entries(path.open(encoding="utf-8"))} - {""}
        return cls(lists["banned"] | {w.lower() for w in extra_banned}, lists["soft"],
                   lists["subword"] | {_NOT_ALNUM.sub("", w.lower()) for w in extra_subwords}, soft_threshold)

    def match(self, url: str) -> str | None:
        """The detail of the first rule a URL breaks (``word=...``, ``soft_words=...``, ``subword=...``), or None."""
        lowered = url.lower()
        words = set(_NOT_ALNUM.split(lowered))
        hit = sorted(words & self.banned)
        if hit:
            return f"word={hit[0]}"
        soft = sorted(words & self.soft)
        if len(soft) >= self.soft_threshold:
            return "soft_words=" + ",".join(soft)
        if self.subword_pattern is not None:
            found = self.subword_pattern.search(_NOT_ALNUM.sub("", lowered))
            if found:
                return f"subword={found.group()}"
        return None
