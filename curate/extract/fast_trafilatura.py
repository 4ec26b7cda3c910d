"""Run trafilatura with its element-selecting XPaths compiled to Python (``xpath_compiler``).

trafilatura's modules import its XPath lists by reference (``from .xpaths import BODY_XPATH``),
so replacing the items of those lists in place reaches every caller. The swap is scoped: it
holds while at least one ``compiled_xpaths()`` block is open in the process, so plain
``trafilatura.extract`` called outside (the benchmark's baseline, a user's own code) runs the
library unchanged. Only expressions the compiler translates are swapped; the rest stay lxml's.
The same block also gives jusText trafilatura's stop list as a tuple that hashes once
(``_HashOnceTuple``): same words, same results, without rehashing 154k strings per page; and,
with the trafilatura release they were read from, puts two replicas in place of trafilatura's
functions: ``prune_unwanted_sections`` (in ``main_extractor``) and ``prune_unwanted_nodes`` (in
``core`` and ``external``), which select with all of their pruning expressions in one walk.
"""
from __future__ import annotations

import functools
import logging
import threading
from contextlib import contextmanager

from curate.extract.xpath_compiler import CompiledXPath, FusedFirsts, FusedMatches, Unsupported

log = logging.getLogger(__name__)

# The lists trafilatura's content extraction evaluates (metadata extraction is not used by curate).
XPATH_LISTS = (
    "BODY_XPATH", "COMMENTS_XPATH", "REMOVE_COMMENTS_XPATH", "REMOVE_COMMENTS_AND_LISTS_XPATH",
    "RAW_TREE_PRUNE_XPATH", "OVERALL_DISCARD_XPATH", "TEASER_DISCARD_XPATH", "PRECISION_DISCARD_XPATH",
    "DISCARD_IMAGE_ELEMENTS", "COMMENTS_DISCARD_XPATH",
)


@functools.cache
def compiled_lists() -> dict[str, list[tuple[object, CompiledXPath | None]]]:
    """{list name: [(trafilatura's XPath, its compiled twin or None when untranslatable)]}."""
    from trafilatura import xpaths

    out = {}
    for name in XPATH_LISTS:
        entries = []
        for expression in getattr(xpaths, name, None) or []:
            path = getattr(expression, "path", None)
            try:
                entries.append((expression, CompiledXPath(path) if path else None))
            except Unsupported as error:
                log.info("kept lxml for %s: %s", name, error)
                entries.append((expression, None))
        out[name] = entries
    return out


class FirstMatchOnly:
    """A compiled ``BODY_XPATH`` expression that computes only the first element of its result.

    trafilatura reads a ``BODY_XPATH`` result in one place, ``main_extractor._extract``, and takes
    its first element (``next(s for s in expr(tree) if s is not None)``); evaluating the whole list
    walked every page to its end. ``[first]`` (or ``[]``) gives that loop the same element. Used
    only with the trafilatura releases whose ``_extract`` was read for it (``FIRST_ONLY_VERIFIED``).
    """

    __slots__ = ("compiled", "path")

    def __init__(self, compiled: CompiledXPath):
        self.compiled, self.path = compiled, compiled.path

    def __call__(self, context) -> list:
        first = self.compiled.first(context)
        return [] if first is None else [first]

    def first(self, context):
        return self.compiled.first(context)


# trafilatura releases whose only use of BODY_XPATH reads the first match (see FirstMatchOnly)
FIRST_ONLY_VERIFIED_VERSIONS = frozenset({"2.3.1"})


# Single expressions trafilatura keeps outside the lists, as (module, name): the balanced retry's
# baseline pass deletes with BASIC_CLEAN_XPATH, whose cookie-banner test is an EXSLT re:test on
# every element of the page.
SINGLE_XPATHS = (("trafilatura.baseline", "BASIC_CLEAN_XPATH"),)


@functools.cache
def compiled_singles() -> dict[tuple[str, str], tuple[object, CompiledXPath]]:
    """{(module, name): (trafilatura's XPath, its compiled twin)} for the translatable ones."""
    import importlib

    out = {}
    for module_name, name in SINGLE_XPATHS:
        module = importlib.import_module(module_name)
        expression = getattr(module, name, None)
        path = getattr(expression, "path", None)
        if not path:
            continue
        try:
            out[(module_name, name)] = (expression, CompiledXPath(path))
        except Unsupported as error:
            log.info("kept lxml for %s: %s", name, error)
    return out


@functools.cache
def swapped_lists() -> dict[str, list[tuple[object, object | None]]]:
    """{list name: [(trafilatura's XPath, what a compiled block puts in its place, or None)]}."""
    import trafilatura

    first_only = trafilatura.__version__ in FIRST_ONLY_VERIFIED_VERSIONS
    return {name: [(original, FirstMatchOnly(compiled) if first_only and name == "BODY_XPATH" and compiled is not None else compiled)
                   for original, compiled in entries]
            for name, entries in compiled_lists().items()}


class _HashOnceTuple(tuple):
    """A tuple that hashes once. jusText's ``classify_paragraphs`` looks its stop list up in an
    ``lru_cache`` keyed by the list itself, so with trafilatura's union of all languages (154k
    words) every jusText call rehashed 154k strings (0.4 ms, 4 % of the CPU on real crawl records).
    Equal to the tuple it wraps, so the cache still finds and returns the same frozen set."""

    __slots__ = ()

    def __hash__(self) -> int:
        return _stoplists[1]


# (trafilatura's own stop list, its hash-once twin, the twin's hash), filled on the first swap
_stoplists: list = []


def _swap_stoplist(to_hashed: bool) -> None:
    from trafilatura import external

    if not hasattr(external, "JT_STOPLIST"):
        return  # a trafilatura without the module-level union: nothing to swap
    if to_hashed:
        if not _stoplists:
            plain = external.JT_STOPLIST or external.jt_stoplist_init()
            twin = tuple.__new__(_HashOnceTuple, plain)
            _stoplists[:] = [plain, tuple.__hash__(twin), twin]
        if external.JT_STOPLIST is _stoplists[0] or not external.JT_STOPLIST:
            external.JT_STOPLIST = _stoplists[2]
    elif _stoplists and external.JT_STOPLIST is _stoplists[2]:
        external.JT_STOPLIST = _stoplists[0]


_lock = threading.Lock()
_open_blocks = 0
# trafilatura's own prune_unwanted_sections, set back when the last compiled block closes
_ORIGINAL_SECTIONS = None


def _swap(to_compiled: bool) -> None:
    import sys

    from trafilatura import main_extractor, xpaths

    _swap_stoplist(to_compiled)
    global _ORIGINAL_SECTIONS
    if _ORIGINAL_SECTIONS is None:
        _ORIGINAL_SECTIONS = main_extractor.prune_unwanted_sections
    if sections_replica_usable():
        from trafilatura import core, external, htmlprocessing

        for module, name, original, ours in (
                (main_extractor, "prune_unwanted_sections", _ORIGINAL_SECTIONS, prune_unwanted_sections),
                (external, "prune_unwanted_nodes", htmlprocessing.prune_unwanted_nodes, prune_unwanted_nodes),
                (core, "prune_unwanted_nodes", htmlprocessing.prune_unwanted_nodes, prune_unwanted_nodes)):
            current, wanted = (original, ours) if to_compiled else (ours, original)
            if getattr(module, name) is current:
                setattr(module, name, wanted)
    for (module_name, name), (original, compiled) in compiled_singles().items():
        module = sys.modules[module_name]
        current, wanted = (original, compiled) if to_compiled else (compiled, original)
        if getattr(module, name) is current:
            setattr(module, name, wanted)
    for name, entries in swapped_lists().items():
        target = getattr(xpaths, name)
        for index, (original, compiled) in enumerate(entries):
            if compiled is None or index >= len(target):
                continue
            current, wanted = (original, compiled) if to_compiled else (compiled, original)
            if target[index] is current:
                target[index] = wanted


@contextmanager
def compiled_xpaths():
    """Within the block, trafilatura evaluates the compiled expressions and jusText reads the
    hash-once stop list (same results, faster)."""
    global _open_blocks
    with _lock:
        if _open_blocks == 0:
            _swap(True)
        _open_blocks += 1
    try:
        yield
    finally:
        with _lock:
            _open_blocks -= 1
            if _open_blocks == 0:
                _swap(False)


@functools.lru_cache(maxsize=4)
def _fused(paths: tuple[str, ...], decisive: bool = False) -> FusedFirsts:
    return FusedFirsts(list(paths), decisive)


def main_container_candidates(tree, limit: int = 2):
    """Up to ``limit`` distinct main-content containers of a raw page, in trafilatura's order.

    trafilatura looks for the article body with ``BODY_XPATH`` (first the specific classes and ids,
    then ``<article>``, then the generic ones), on its cleaned tree. Here the same expressions run
    on the raw tree, and a match inside an element that trafilatura's cleaning deletes (``aside``,
    ``footer``, ``iframe``, ...; forms are handled apart and stay) is skipped, since trafilatura
    would never see it. One walk (``FusedFirsts``) serves all five selectors; it ends at the first
    selector's match, and the others walk again only when that candidate is not kept.
    """
    from trafilatura import xpaths
    from trafilatura.settings import MANUALLY_CLEANED

    deleted = set(MANUALLY_CLEANED) - {"form"}
    entries = compiled_lists().get("BODY_XPATH") or []
    swapped = swapped_lists().get("BODY_XPATH") or []
    # trafilatura's own selectors, as the list holds them outside a compiled block or inside one
    # (a user's edited list is evaluated as it is)
    current = list(xpaths.BODY_XPATH)
    if (entries and all(c is not None for _, c in entries) and len(current) == len(entries)
            and all(x is o or x is w for x, (o, _), (_, w) in zip(current, entries, swapped, strict=True))):
        paths = tuple(c.path for _, c in entries)

        def firsts():
            # one walk: it ends at the first selector's match, or else it has found every selector's
            found = _fused(paths, decisive=True)(tree)
            yield found[0]
            yield from found[1:] if found[0] is None else _fused(paths[1:])(tree)
    else:  # a trafilatura whose selectors the compiler does not translate: lxml's, one by one
        def firsts():
            for expression in xpaths.BODY_XPATH:
                found = expression(tree)
                yield found[0] if found else None
    seen = []
    for container in firsts():
        if container is None or container in seen or any(a.tag in deleted for a in container.iterancestors()):
            continue
        seen.append(container)
        yield container
        if len(seen) >= limit:
            return


# --- pruning: several expressions and lists from one walk -----------------------------------


@functools.lru_cache(maxsize=16)
def _fused_matches(paths: tuple[str, ...]) -> FusedMatches:
    return FusedMatches(list(paths))


def _inside(element, tree) -> bool:
    """Whether ``element`` is still below ``tree`` (not in a subtree deleted since)."""
    return any(ancestor is tree for ancestor in element.iterancestors())


def prune_in_sequence(tree, lists):
    """``prune_unwanted_nodes(tree, nodes, with_backup)`` for each ``(nodes, with_backup)`` of
    ``lists`` in turn (trafilatura's pruning), with every expression evaluated in one walk.

    Exact where each expression after the first tests an element alone (its tag and attributes):
    deleting a subtree moves text but changes no other element's tag or attributes, so what such
    an expression selects after the earlier deletions is what it selected before them, less the
    elements deleted with a subtree. Otherwise, or outside a compiled block (lxml's expressions),
    the lists are pruned one by one as trafilatura does.
    """
    from trafilatura.htmlprocessing import prune_unwanted_nodes
    from trafilatura.xml import delete_element

    expressions = [expression for nodes, _ in lists for expression in nodes]
    if not (expressions and all(isinstance(x, CompiledXPath) and x.fusable for x in expressions)
            and all(x.self_only for x in expressions[1:])):
        for nodes, with_backup in lists:
            tree = prune_unwanted_nodes(tree, nodes, with_backup=with_backup)
        return tree
    found = iter(_fused_matches(tuple(x.path for x in expressions))(tree))
    for position, (nodes, with_backup) in enumerate(lists):
        selected = []
        for index in range(len(nodes)):
            matches = next(found)
            # the walk saw the tree before any deletion: exact for the first expression, and for
            # all of a first list pruned with backup (it selects with every expression, then deletes)
            if position or (index and not with_backup):
                matches = [element for element in matches if _inside(element, tree)]
            if with_backup:
                selected.append(matches)
            else:
                for element in matches:
                    delete_element(element)
        if with_backup:  # trafilatura's guard: prune nothing if that would remove too much of the text
            chosen = dict.fromkeys(element for matches in selected for element in matches)
            outer = [element for element in chosen if not any(a in chosen for a in element.iterancestors())]
            old_len = len(tree.text_content())
            if old_len - sum(len(element.text_content()) for element in outer) > old_len / 7:
                for element in outer:
                    delete_element(element)
    return tree


def prune_unwanted_nodes(tree, nodelist, with_backup: bool = False):
    """trafilatura's ``prune_unwanted_nodes`` with the list's expressions evaluated in one walk
    (``prune_in_sequence``); stands in for it in ``core`` and ``external`` inside a compiled block
    (``htmlprocessing``'s own stays, and is what ``prune_in_sequence`` falls back to)."""
    return prune_in_sequence(tree, [(nodelist, with_backup)])


def delete_by_link_density(subtree, tagname: str, backtracking: bool = False, favor_precision: bool = False):
    """trafilatura's ``delete_by_link_density``, with ``link_density_test`` asked only about the
    elements that hold a link: it answers (False, False) for the others, after a search of the
    element's whole subtree that, repeated for every nested ``div``, cost more than the test."""
    from trafilatura.htmlprocessing import link_density_test
    from trafilatura.utils import trim
    from trafilatura.xml import delete_element

    holding = set()
    for ref in subtree.iter("ref"):
        for ancestor in ref.iterancestors(tagname):
            if ancestor in holding:
                break  # and so are all of its own ancestors
            holding.add(ancestor)
    if not holding:
        return subtree
    deletions = []
    len_threshold = 200 if favor_precision else 100
    depth_threshold = 1 if favor_precision else 3
    for elem in subtree.iter(tagname):
        if elem not in holding:
            continue
        result, short_with_links = link_density_test(elem, favor_precision)
        if result or (backtracking and short_with_links and len(elem) >= depth_threshold
                      and len(trim(elem.text_content())) < len_threshold):
            parent = elem.getparent()
            if tagname == "p" and parent is not None and parent.tag in ("item", "td", "th"):
                continue  # a paragraph holding a list item's content (trafilatura GH #788)
            deletions.append(elem)
    for elem in dict.fromkeys(deletions):
        delete_element(elem)
    return subtree


def sections_replica_usable() -> bool:
    import trafilatura

    return trafilatura.__version__ in SEQUENCE_VERIFIED_VERSIONS


def prune_unwanted_sections(tree, potential_tags, options, keep_teasers: bool = False):
    """trafilatura's ``main_extractor.prune_unwanted_sections`` step for step, with its four
    pruning lists evaluated in one walk (``prune_in_sequence``) and the link-density deletions
    testing only the elements that hold a link. Stands in for it inside a compiled block, with the
    trafilatura releases it was read from (a test compares the two on real pages)."""
    from lxml.etree import strip_tags
    from trafilatura import xpaths
    from trafilatura.htmlprocessing import link_density_test_tables
    from trafilatura.xml import delete_element

    favor_precision = options.focus == "precision"
    lists = [(xpaths.OVERALL_DISCARD_XPATH, True)]
    if "graphic" not in potential_tags:
        lists.append((xpaths.DISCARD_IMAGE_ELEMENTS, False))
    if options.focus != "recall":
        if not keep_teasers:
            lists.append((xpaths.TEASER_DISCARD_XPATH, False))
        if favor_precision:
            lists.append((xpaths.PRECISION_DISCARD_XPATH, False))
    tree = prune_in_sequence(tree, lists)
    for _ in range(2):
        tree = delete_by_link_density(tree, "div", backtracking=True, favor_precision=favor_precision)
        tree = delete_by_link_density(tree, "list", backtracking=False, favor_precision=favor_precision)
        tree = delete_by_link_density(tree, "p", backtracking=False, favor_precision=favor_precision)
    if "table" in potential_tags or favor_precision:
        boilerplate_tables = [elem for elem in tree.iter("table") if link_density_test_tables(elem) is True]
        for elem in boilerplate_tables:
            delete_element(elem, keep_tail=False)
    if favor_precision:
        while len(tree) > 0 and (tree[-1].tag == "head"):
            delete_element(tree[-1], keep_tail=False)
        tree = delete_by_link_density(tree, "head", backtracking=False, favor_precision=True)
        tree = delete_by_link_density(tree, "quote", backtracking=False, favor_precision=True)
    strip_tags(tree, "span", *(() if "ref" in potential_tags else ("ref",)))
    return tree


# trafilatura releases whose ``trafilatura_sequence`` the replica below follows step for step;
# tests/stages/test_extract_fast.py compares the two on the containers of every real page in ../shared
SEQUENCE_VERIFIED_VERSIONS = frozenset({"2.3.1"})


def sequence_replica_usable(options) -> bool:
    """Whether ``fast_container_body`` may stand in for ``bare_extraction`` with these settings."""
    import trafilatura

    return (trafilatura.__version__ in SEQUENCE_VERIFIED_VERSIONS and options.fast and not options.comments
            and options.focus == "precision" and not options.dedup and not options.lang and not options.with_metadata)


def fast_container_body(page, options):
    """trafilatura's body for ``page`` (a tree of our own, mutated here) in fast precision mode,
    comments off, on a page that is no thread forum: ``bare_extraction(page, options=options).body``
    without its three tree copies (the caller's page is a copy already; the raw tree and the
    pre-conversion backup serve only the fallbacks fast mode skips) and its settings checks.
    None where ``bare_extraction`` returns None.
    """
    from trafilatura import xpaths
    from trafilatura.htmlprocessing import convert_tags, prune_unwanted_nodes, tree_cleaning
    from trafilatura.main_extractor import extract_content

    try:
        tree = prune_in_sequence(page, [(xpaths.RAW_TREE_PRUNE_XPATH, False), (xpaths.REMOVE_COMMENTS_AND_LISTS_XPATH, False)])
        cleaned = convert_tags(tree_cleaning(tree, options), options, None)
        cleaned = prune_unwanted_nodes(cleaned, xpaths.REMOVE_COMMENTS_XPATH)
        body, text = extract_content(cleaned, options)
        return body if _kept_by_bare_extraction(body, text, options) else None
    except (TypeError, ValueError):
        return None


def _kept_by_bare_extraction(body, text: str, options) -> bool:
    """bare_extraction's checks after its sequence: a body too large even without ``hi`` tags, or a
    text under ``min_output_size``, makes it return None (it strips the ``hi`` tags in place)."""
    from lxml.etree import strip_tags

    if options.max_tree_size and len(body) > options.max_tree_size:
        strip_tags(body, "hi")
        if len(body) > options.max_tree_size:
            return False
    return not (len(text) < options.min_output_size and 0 < options.min_output_comm_size)


def whole_page_replica_usable(options) -> bool:
    """Whether ``whole_page_body`` may stand in for ``bare_extraction`` with these settings."""
    import trafilatura

    return (trafilatura.__version__ in SEQUENCE_VERIFIED_VERSIONS and not options.fast and not options.comments
            and options.focus == "precision" and not options.dedup and not options.lang and not options.with_metadata)


def whole_page_body(page, options, compare_below_chars: int | None, keep_page: bool = True) -> tuple[object | None, bool]:
    """(body, whether the comparison ran): trafilatura's body for a whole page (not a thread forum) in precision mode, comments off,
    where its comparison with readability and jusText runs only when the main extractor is unsure.

    trafilatura runs that comparison on every page, and it decides anything only where its own
    text is deficient: empty, less than half of readability's, without paragraph text, or short
    enough for jusText. Here it runs when the main text is under ``compare_below_chars``
    characters or holds no paragraph text (None: always, which is ``bare_extraction(page,
    options=options).body`` step for step; a test compares the two on every real page). On the
    586 pages of the two gold sets, 1,000 to 4,000 characters give trafilatura's F1 exactly; 500
    loses some. The body is None where ``bare_extraction`` returns None.

    ``keep_page``: leave ``page`` as it was (False: prune it in place, saving a copy of the whole
    page when the caller has no further use for it). Of bare_extraction's other copies, the one
    handed to readability is not made: nothing reads that tree afterwards.
    """
    from copy import copy

    from trafilatura import xpaths
    from trafilatura.core import _prepare_tree
    from trafilatura.external import compare_extraction
    from trafilatura.htmlprocessing import prune_unwanted_nodes
    from trafilatura.main_extractor import extract_content

    try:
        tree = prune_in_sequence(copy(page) if keep_page else page,
                                 [(xpaths.RAW_TREE_PRUNE_XPATH, False), (xpaths.REMOVE_COMMENTS_AND_LISTS_XPATH, False)])
        cleaned, cleaned_backup = _prepare_tree(tree, options, None)
        cleaned = prune_unwanted_nodes(cleaned, xpaths.REMOVE_COMMENTS_XPATH)
        body, text = extract_content(cleaned, options)
        compared = compare_below_chars is None or len(text) < compare_below_chars or not body.xpath(".//p//text()")
        if compared:
            body, text = compare_extraction(cleaned_backup, tree, body, text, options)
        return (body if _kept_by_bare_extraction(body, text, options) else None), compared
    except (TypeError, ValueError):
        return None, False
