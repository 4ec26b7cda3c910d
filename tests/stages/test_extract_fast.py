"""The faster extraction paths: compiled XPaths select exactly lxml's elements, the swap is scoped,
and the main-container path leaves the page as it found it.

Real pages come from ../shared (skipped, with the reason, when it is not beside the repository):
every compiled expression is checked against lxml on every tree state trafilatura builds while
extracting them, which is where a difference would change the text.
"""
import gzip
from pathlib import Path

import lxml.etree
import lxml.html
import pyarrow as pa
import pytest
from trafilatura import xpaths

from curate.extract.fast_trafilatura import XPATH_LISTS, compiled_lists, compiled_xpaths, main_container_candidates
from curate.extract.xpath_compiler import CompiledXPath, Unsupported
from curate.schema import DOCUMENT_SCHEMA, conform
from curate.stages.extract_html import HtmlExtractor, HtmlExtractorParams, parse_html, protect

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "extraction"

TRICKY = b"""<html><body>
<div id="reply-1" class="post">first: id before class</div>
<div class="post" id="reply-2">second: class before id</div>
<section><div class="entry">a</div><div class="entry">b</div></section>
<section><p>x</p><div class="Fulltext-body">c</div></section>
<div role="Navigation" style="display: none" aria-hidden="true">hidden nav</div>
<span data-lp-replacement-content="1">replaced</span>
<div class="mvp-post-add-box"><h1>keeps an h1</h1></div>
<div class="infinite-scroll"><h1>keeps an h1</h1></div>
<div class="infinite-scroll"><p>no heading</p></div>
<ul id="comments-list"><li>one</li></ul><ol class="comment-body"><li>two</li></ol>
<main><article class="Main-Content"><p>body</p></article></main>
<div class="teaser-box Teaser">t</div><div id="TeaserTop">t</div>
<div class="link"><p class="bottom">b</p><p class="Padding-bottom-lg-30">p</p></div>
<div class="">empty class</div><div class>bare class</div>
<cite>c</cite><quote>q</quote><cite>d</cite>
</body></html>"""

HANDWRITTEN = [
    ".//*[self::div or self::section][@class='post'][1]",
    "(.//*[self::div][@class='entry'])[1]",
    ".//*[starts-with(@id|@class, 'reply-')]",
    ".//*[starts-with(@class|@id, 'reply-')]",
    ".//*[re:test(@class, 'fulltext', 'i')]",
    ".//*[contains(translate(@role, 'N', 'n'), 'nav') or @aria-hidden='true']",
    ".//*[@data-lp-replacement-content]",
    ".//*[@class='']",
    ".//*[self::div][not(.//h1) or re:test(@class, 'mvp')]",
    ".//*[self::ul or self::ol][not(self::ol) or re:test(@class, '^comment')]",
    "(.//article)[1]|(.//main)[1]",
    ".//cite|.//quote",
    ".//header",
]


def lxml_xpath(path: str) -> lxml.etree.XPath:
    return lxml.etree.XPath(path, namespaces={"re": "http://exslt.org/regular-expressions"})


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def test_compiled_expressions_match_lxml_on_tricky_markup():
    tree = lxml.html.fromstring(TRICKY)
    expressions = HANDWRITTEN + [x.path for name in XPATH_LISTS for x in getattr(xpaths, name, [])]
    matched = 0
    for path in expressions:
        want, got = lxml_xpath(path)(tree), CompiledXPath(path)(tree)
        assert same(want, got), path
        assert CompiledXPath(path).first(tree) is (want[0] if want else None), path
        matched += bool(want)
    assert matched >= 20  # the markup exercises the expressions, not only their empty results


def test_attribute_union_reads_the_first_attribute_in_source_order():
    tree = lxml.html.fromstring(TRICKY)
    found = CompiledXPath(".//*[starts-with(@id|@class, 'reply-')]")(tree)
    assert [el.text for el in found] == ["first: id before class"]


def test_untranslatable_xpath_is_refused():
    for path in ("//*[position()=2]", ".//*[count(p) > 1]", "//p//text()", ".//*[@a|@b='x']", ".//svg:rect"):
        with pytest.raises(Unsupported):
            CompiledXPath(path)


def test_swap_is_scoped_and_nests():
    import importlib

    from justext.core import define_stoplist
    from trafilatura import core, external, main_extractor

    baseline = importlib.import_module("trafilatura.baseline")
    originals = {name: list(getattr(xpaths, name)) for name in XPATH_LISTS}
    plain_stoplist = external.JT_STOPLIST or external.jt_stoplist_init()
    plain_clean, plain_sections = baseline.BASIC_CLEAN_XPATH, main_extractor.prune_unwanted_sections
    plain_prune = core.prune_unwanted_nodes
    with compiled_xpaths():
        with compiled_xpaths():
            assert any(isinstance(x, CompiledXPath) for x in xpaths.OVERALL_DISCARD_XPATH)
            assert isinstance(baseline.BASIC_CLEAN_XPATH, CompiledXPath)
            assert core.prune_unwanted_nodes is not plain_prune and external.prune_unwanted_nodes is core.prune_unwanted_nodes
            # jusText's stop list: the same words, hashed once, and jusText's cache answers the same set
            hashed = external.JT_STOPLIST
            assert hashed is not plain_stoplist and hashed == plain_stoplist and hash(hashed) == hash(plain_stoplist)
            assert define_stoplist(hashed) == define_stoplist(plain_stoplist)
        assert any(isinstance(x, CompiledXPath) for x in xpaths.OVERALL_DISCARD_XPATH)
    for name, items in originals.items():
        assert all(a is b for a, b in zip(getattr(xpaths, name), items, strict=True)), name
    assert external.JT_STOPLIST is plain_stoplist
    assert baseline.BASIC_CLEAN_XPATH is plain_clean and main_extractor.prune_unwanted_sections is plain_sections
    assert core.prune_unwanted_nodes is plain_prune and external.prune_unwanted_nodes is plain_prune
    # every list curate swaps is translated whole
    assert all(compiled is not None for entries in compiled_lists().values() for _, compiled in entries)


def long_article(words: int) -> str:
    prose = " ".join("The harbour was rebuilt after the storm and the fishing fleet returned." for _ in range(words))
    return prose


def test_failed_container_attempt_leaves_the_page_unchanged():
    html = (
        "<html><body><div class='nav'><a href='/'>Home</a></div>"
        f"<div class='entry-content'><p>Too short.</p></div><p>{long_article(20)}</p>tail text</body></html>"
    ).encode()
    tree = parse_html(html)
    protect(tree)
    before = lxml.etree.tostring(tree)
    stage = HtmlExtractor(HtmlExtractorParams(container_min_chars=5))
    stage.ensure_setup()
    with compiled_xpaths():
        assert [c.get("class") for c in main_container_candidates(tree)] == ["entry-content"]
        assert stage._container_text(tree) == "Too short."
        stage.params = HtmlExtractorParams(container_min_chars=500)
        assert stage._container_text(tree) == ""
    assert lxml.etree.tostring(tree) == before


def run_stage(htmls: list[bytes], params: HtmlExtractorParams):
    stage = HtmlExtractor(params)
    table = conform(pa.table({"id": [str(i) for i in range(len(htmls))], "html": pa.array(htmls, type=pa.binary())}), DOCUMENT_SCHEMA)
    return stage.process(table)


def test_paths_recorded_per_document():
    article = f"<html><body><nav>Menu</nav><article><h1>T</h1><p>{long_article(12)}</p></article><footer>c</footer></body></html>"
    no_container = f"<html><body><p>{long_article(12)}</p></body></html>"
    out = run_stage([article.encode(), no_container.encode()], HtmlExtractorParams())
    assert out.kept.column("extraction").to_pylist() == ["container", "trafilatura"]
    assert out.counters["documents_container"] == 1 and out.counters["documents_extracted"] == 1
    full = run_stage([article.encode(), no_container.encode()], HtmlExtractorParams(strategy="full"))
    assert full.kept.column("extraction").to_pylist() == ["trafilatura", "trafilatura"]
    # same text either way on a plain article page
    assert full.kept.column("text").to_pylist() == out.kept.column("text").to_pylist()


# --- real pages ------------------------------------------------------------------------------


def real_pages(step: int) -> list[bytes]:
    from evals.extraction import load_aeb, load_trafilatura_eval

    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is missing: ../shared (real pages) is not beside the repository")
    pages = [p.html for p in load_aeb(SHARED / "scrapinghub-aeb")]
    pages += [p.html for p in load_trafilatura_eval(SHARED / "trafilatura-eval")][::step]
    for case in sorted((SHARED / "readability-testpages" / "test-pages").iterdir())[::step]:
        source = case / "source.html"
        pages.append(source.read_bytes() if source.is_file() else gzip.decompress((case / "source.html.gz").read_bytes()))
    return pages


class Verifying:
    """Evaluates lxml's expression and the compiled one on the same tree; records any difference."""

    def __init__(self, original, compiled, log: dict):
        self.original, self.compiled, self.log = original, compiled, log
        self.path = original.path

    def __call__(self, context):
        want = self.original(context)
        got = self.compiled(context)
        self.log["calls"] += 1
        self.log["elements"] += len(want)
        if not same(want, got):
            self.log["differences"].append(" ".join(self.path.split())[:80])
        return want


def test_compiled_expressions_equal_lxml_on_every_tree_trafilatura_builds():
    import sys

    from curate.extract.fast_trafilatura import compiled_singles

    log = {"calls": 0, "elements": 0, "differences": []}
    single_log = {"calls": 0, "elements": 0, "differences": []}
    pages = real_pages(step=3)
    try:
        for name, entries in compiled_lists().items():
            getattr(xpaths, name)[:] = [Verifying(original, compiled, log) for original, compiled in entries]
        for (module, name), (original, compiled) in compiled_singles().items():
            setattr(sys.modules[module], name, Verifying(original, compiled, single_log))
        for params in (HtmlExtractorParams(strategy="full", compiled_xpaths=False), HtmlExtractorParams(compiled_xpaths=False)):
            run_stage(pages, params)
    finally:
        for name, entries in compiled_lists().items():
            getattr(xpaths, name)[:] = [original for original, _ in entries]
        for (module, name), (original, _) in compiled_singles().items():
            setattr(sys.modules[module], name, original)
    print(f"\n{len(pages)} real pages: {log['calls']} evaluations, {log['elements']} elements selected, {len(log['differences'])} differences")
    assert log["calls"] > 10 * len(pages) and log["elements"] > 10_000
    assert log["differences"] == []
    # BASIC_CLEAN_XPATH: the balanced retry's baseline pass (pages under 250 characters)
    assert single_log["calls"] >= 5 and single_log["elements"] > 20 and single_log["differences"] == []


def test_compiled_xpaths_change_no_text_on_real_pages():
    pages = real_pages(step=4)
    plain = run_stage(pages, HtmlExtractorParams(strategy="full", compiled_xpaths=False))
    compiled = run_stage(pages, HtmlExtractorParams(strategy="full"))
    assert plain.kept.column("id").to_pylist() == compiled.kept.column("id").to_pylist()
    assert plain.kept.column("text").to_pylist() == compiled.kept.column("text").to_pylist()
    assert plain.rejected.column("reason").to_pylist() == compiled.rejected.column("reason").to_pylist()


def test_forum_threads_go_the_whole_page_way():
    """On a thread forum trafilatura keeps the comment lists (they are its posts). The container
    path sees no JSON-LD and would prune them, so forum pages skip it."""
    posts = "".join(f"<li>Post {i}: {long_article(3)}</li>" for i in range(4))
    body = f"<article><h1>Thread</h1><p>{long_article(8)}</p><ul id='dsq-comments'>{posts}</ul></article>"
    forum = ('<html><head><script type="application/ld+json">{"@type": "DiscussionForumPosting", "headline": "q"}</script>'
             f"</head><body>{body}</body></html>").encode()
    out, full = run_stage([forum], HtmlExtractorParams()), run_stage([forum], HtmlExtractorParams(strategy="full"))
    assert out.kept.column("extraction").to_pylist() == ["trafilatura"]
    assert out.kept.column("text").to_pylist() == full.kept.column("text").to_pylist()
    assert "Post 3" in out.kept.column("text")[0].as_py()
    # the same page without the forum markup: the container path, and the comment list pruned
    article = run_stage([f"<html><body>{body}</body></html>".encode()], HtmlExtractorParams())
    assert article.kept.column("extraction").to_pylist() == ["container"]
    assert "Post 3" not in article.kept.column("text")[0].as_py()


def test_sequence_replica_equals_bare_extraction_on_real_containers():
    """fast_container_body skips bare_extraction's copies; on every real page's main container it
    gives the body bare_extraction gives (written out as text), or the replica is not used."""
    import copy

    import trafilatura

    from curate.extract.fast_trafilatura import SEQUENCE_VERIFIED_VERSIONS, fast_container_body, sequence_replica_usable
    from curate.stages.extract_html import _PARSER, body_text

    if trafilatura.__version__ not in SEQUENCE_VERIFIED_VERSIONS:
        pytest.skip(f"trafilatura {trafilatura.__version__}: the replica is not used with it (bare_extraction is)")
    stage = HtmlExtractor(HtmlExtractorParams())
    options = stage._options("precision", True)
    assert sequence_replica_usable(options) and not sequence_replica_usable(stage._options("precision", False))
    compared = 0
    with compiled_xpaths():
        for html in real_pages(step=2):
            tree = parse_html(html)
            if tree is None:
                continue
            protect(tree)
            for container in main_container_candidates(tree):
                page = _PARSER.makeelement("html")
                twin = copy.deepcopy(container)
                twin.tail = None
                lxml.etree.SubElement(page, "body").append(twin)
                document = trafilatura.bare_extraction(copy.deepcopy(page), options=options)
                want = body_text(document.body) if document is not None else None
                got = fast_container_body(page, options)
                assert (body_text(got) if got is not None else None) == want
                compared += 1
    assert compared > 300


def test_fused_walk_finds_each_expressions_first_match():
    from curate.extract.xpath_compiler import FusedFirsts

    body = [x.path for x in xpaths.BODY_XPATH]
    groups = [body, body[1:], HANDWRITTEN[:2] + HANDWRITTEN[4:8] + HANDWRITTEN[10:]]
    trees = [lxml.html.fromstring(TRICKY)] + [t for t in map(parse_html, real_pages(step=5)) if t is not None]
    checked = 0
    for paths in groups:
        fused, singles = FusedFirsts(paths), [lxml_xpath(p) for p in paths]
        for tree in trees:
            want = [next(iter(x(tree)), None) for x in singles]
            assert fused(tree) == want
            # decisive: stops at the first expression's match, else finds them all
            assert FusedFirsts(paths, decisive=True)(tree) == (want if want[0] is None else [want[0]] + [None] * (len(want) - 1))
            checked += sum(w is not None for w in want)
    assert checked > 500


def test_whole_page_replica_equals_bare_extraction_on_real_pages():
    """whole_page_body with the comparison on every page is bare_extraction's body, step for step;
    with the default gate it differs only where trafilatura's comparison was skipped."""
    import trafilatura

    from curate.extract.fast_trafilatura import SEQUENCE_VERIFIED_VERSIONS, whole_page_body, whole_page_replica_usable
    from curate.stages.extract_html import _is_forum_thread, body_text

    if trafilatura.__version__ not in SEQUENCE_VERIFIED_VERSIONS:
        pytest.skip(f"trafilatura {trafilatura.__version__}: the replica is not used with it (bare_extraction is)")
    stage = HtmlExtractor(HtmlExtractorParams())
    options = stage._options("precision", False)
    assert whole_page_replica_usable(options) and not whole_page_replica_usable(stage._options("precision", True))
    assert not whole_page_replica_usable(stage._options("balanced", False))
    compared = gated_differs = 0
    with compiled_xpaths():
        for html in real_pages(step=3):
            tree = parse_html(html)
            if tree is None or _is_forum_thread(tree):
                continue
            protect(tree)
            before = lxml.etree.tostring(tree)
            document = trafilatura.bare_extraction(tree, options=options)
            want = body_text(document.body) if document is not None else None
            got, ran = whole_page_body(tree, options, None)
            assert ran and (body_text(got) if got is not None else None) == want
            gated, _ = whole_page_body(tree, options, 2000)
            gated_differs += (body_text(gated) if gated is not None else None) != want
            assert lxml.etree.tostring(tree) == before  # the page is left for the balanced retry
            compared += 1
    assert compared > 200
    print(f"\n{compared} real pages: the gated comparison changed {gated_differs} texts")
    assert gated_differs < 0.05 * compared


def test_inside_a_compiled_block_the_container_finder_walks_once_and_trafilatura_takes_first_matches(monkeypatch):
    from curate.extract import fast_trafilatura
    from curate.extract.fast_trafilatura import FirstMatchOnly

    walks = []
    fused = fast_trafilatura._fused

    def counting(paths, decisive=False):
        walks.append(decisive)
        return fused(paths, decisive)

    monkeypatch.setattr(fast_trafilatura, "_fused", counting)
    html = f"<html><body><div class='nav'>Home</div><article><p>{long_article(20)}</p></article></body></html>".encode()
    tree = parse_html(html)
    with compiled_xpaths():
        assert all(isinstance(x, FirstMatchOnly) for x in xpaths.BODY_XPATH)
        assert [c.tag for c in main_container_candidates(tree, limit=1)] == ["article"]
        assert walks == [True]  # the fused walk, not five lxml or compiled evaluations
        first = xpaths.BODY_XPATH[1]
        assert first(tree) == first.compiled(tree)[:1]
    assert not any(isinstance(x, FirstMatchOnly) for x in xpaths.BODY_XPATH)
    walks.clear()
    assert [c.tag for c in main_container_candidates(tree, limit=1)] == ["article"] and walks == [True]


# --- pruning from one walk -------------------------------------------------------------------

PRUNE_GROUPS = {
    "prune_unwanted_sections": ("OVERALL_DISCARD_XPATH", "DISCARD_IMAGE_ELEMENTS", "TEASER_DISCARD_XPATH", "PRECISION_DISCARD_XPATH"),
    "raw tree": ("RAW_TREE_PRUNE_XPATH", "REMOVE_COMMENTS_AND_LISTS_XPATH"),
    # single lists: prune_unwanted_nodes as core and external call it inside a compiled block
    "compare_extraction": ("OVERALL_DISCARD_XPATH",),
    "trafilatura_sequence": ("RAW_TREE_PRUNE_XPATH",),
}


def test_fused_matches_equal_each_expression_on_real_pages():
    from curate.extract.xpath_compiler import FusedMatches

    trees = [lxml.html.fromstring(TRICKY)] + [t for t in map(parse_html, real_pages(step=5)) if t is not None]
    selected = 0
    for names in PRUNE_GROUPS.values():
        paths = [x.path for name in names for x in getattr(xpaths, name)]
        fused, singles = FusedMatches(paths), [lxml_xpath(p) for p in paths]
        for tree in trees:
            got = fused(tree)
            for k, single in enumerate(singles):
                assert same(single(tree), got[k]), paths[k][:60]
                selected += len(got[k])
    # a handwritten group with a tag-only expression (<header> passes without attributes) and tests
    # that read the tag or the descendants of elements with no attribute
    paths = HANDWRITTEN[2:10] + [HANDWRITTEN[12], ".//*[not(self::div)]", ".//*[not(@id) and not(self::span)]"]
    fused = FusedMatches(paths)
    tree = lxml.html.fromstring(TRICKY.replace(b"<cite>c</cite>", b"<header>h</header>"))
    for got, path in zip(fused(tree), paths, strict=True):
        assert same(lxml_xpath(path)(tree), got), path
    assert selected > 1000
    with pytest.raises(Unsupported):
        FusedMatches(["(.//article)[1]"])


def _pruned_one_by_one(tree, lists):
    from trafilatura.htmlprocessing import prune_unwanted_nodes

    for nodes, with_backup in lists:
        tree = prune_unwanted_nodes(tree, nodes, with_backup=with_backup)
    return tree


NESTED = b"""<html><body><div class="sidebar"><p>side</p><div class="caption">inner caption</div>tail one</div>
<div class="teaser">x<span class="caption">c</span>y</div>tail two<header>h</header>
<div class="share-box"><div class="link">deleted by the first list already</div></div>
<article><p>""" + b"A long paragraph of the article body. " * 40 + b"""</p></article></body></html>"""


@pytest.mark.parametrize("backup", [True, False])
def test_prune_in_sequence_equals_pruning_list_by_list(backup):
    """Nested matches, matches inside subtrees an earlier list deleted, tails moved by deletions,
    and the backup guard: one walk prunes exactly as trafilatura's list-by-list pruning."""
    import copy

    from curate.extract.fast_trafilatura import prune_in_sequence

    trees = [lxml.html.fromstring(NESTED), lxml.html.fromstring(TRICKY)]
    trees += [t for t in map(parse_html, real_pages(step=7)) if t is not None]
    compared = 0
    with compiled_xpaths():
        for names in PRUNE_GROUPS.values():
            lists = [(getattr(xpaths, name), backup and i == 0) for i, name in enumerate(names)]
            for tree in trees:
                want = lxml.etree.tostring(_pruned_one_by_one(copy.deepcopy(tree), lists))
                assert lxml.etree.tostring(prune_in_sequence(copy.deepcopy(tree), lists)) == want
                compared += 1
    # outside a compiled block the lists hold lxml's expressions: pruned one by one
    lists = [(xpaths.OVERALL_DISCARD_XPATH, backup), (xpaths.TEASER_DISCARD_XPATH, False)]
    tree = lxml.html.fromstring(NESTED)
    assert (lxml.etree.tostring(prune_in_sequence(copy.deepcopy(tree), lists))
            == lxml.etree.tostring(_pruned_one_by_one(tree, lists)))
    assert compared > 50


def test_sections_replica_equals_trafilatura_on_real_pages():
    """Inside a compiled block trafilatura's prune_unwanted_sections is ours (fused pruning, the
    link-density test only where a link is); on every call the stage makes while extracting real
    pages, it leaves the tree exactly as trafilatura's own does."""
    import copy

    import trafilatura
    from trafilatura import main_extractor

    from curate.extract import fast_trafilatura

    if not fast_trafilatura.sections_replica_usable():
        pytest.skip(f"trafilatura {trafilatura.__version__}: the replica is not used with it")
    original = main_extractor.prune_unwanted_sections
    calls = []

    def verifying(tree, potential_tags, options, keep_teasers=False):
        want = lxml.etree.tostring(fast_trafilatura._ORIGINAL_SECTIONS(copy.deepcopy(tree), set(potential_tags), options, keep_teasers))
        got = fast_trafilatura.prune_unwanted_sections(tree, potential_tags, options, keep_teasers)
        calls.append(lxml.etree.tostring(got) == want)
        return got

    pages = real_pages(step=3)
    with compiled_xpaths():
        assert main_extractor.prune_unwanted_sections is fast_trafilatura.prune_unwanted_sections
        main_extractor.prune_unwanted_sections = verifying
        try:
            for params in (HtmlExtractorParams(), HtmlExtractorParams(strategy="full"), HtmlExtractorParams(favor="recall")):
                run_stage(pages, params)
        finally:
            main_extractor.prune_unwanted_sections = fast_trafilatura.prune_unwanted_sections
    assert main_extractor.prune_unwanted_sections is original  # set back when the block closes
    assert len(calls) > 3 * len(pages) and all(calls), f"{calls.count(False)} of {len(calls)} differ"


def test_whole_page_pass_prunes_the_page_in_place_and_the_retry_parses_it_again(monkeypatch):
    """The whole-page pass no longer copies the page; the balanced retry (pages under 250
    characters) reads a page parsed and protected anew: the same text as with the page kept."""
    from curate.extract import fast_trafilatura
    from curate.stages import extract_html

    pages = real_pages(step=2)
    consumed = run_stage(pages, HtmlExtractorParams())
    kept_calls = []

    def keeping(page, options, compare_below_chars, keep_page=True):
        kept_calls.append(keep_page)
        return fast_trafilatura.whole_page_body(page, options, compare_below_chars, keep_page=True)

    monkeypatch.setattr(extract_html, "whole_page_body", keeping)
    kept = run_stage(pages, HtmlExtractorParams())
    methods = consumed.kept.column("extraction").to_pylist()
    assert methods.count("fallback") >= 3 and methods.count("trafilatura") >= 20
    assert kept_calls and not any(kept_calls)  # the stage lets the pass prune the page
    assert consumed.kept.column("text").to_pylist() == kept.kept.column("text").to_pylist()
    assert methods == kept.kept.column("extraction").to_pylist()
    # the retry reads the page as the first pass began with it: parsed and protected
    stage, retried = HtmlExtractor(HtmlExtractorParams()), []
    stage.ensure_setup()
    body_text = stage._body_text

    def spying(tree, favor, fast, forum=None, keep_tree=True):
        if favor == "balanced":
            retried.append(lxml.etree.tostring(tree))
        return body_text(tree, favor, fast, forum, keep_tree)

    monkeypatch.setattr(extract_html, "whole_page_body", fast_trafilatura.whole_page_body)
    monkeypatch.setattr(stage, "_body_text", spying)
    checked = 0
    fallback_ids = [int(i) for i, m in zip(consumed.kept.column("id").to_pylist(), methods, strict=True) if m == "fallback"]
    for html in [pages[i] for i in fallback_ids]:
        retried.clear()
        stage.extract(html)
        if retried:
            fresh = parse_html(html)
            protect(fresh)
            assert retried == [lxml.etree.tostring(fresh)]
            checked += 1
    assert checked >= 3


def test_formula_image_substring_hints_change_no_answer():
    """_is_formula_image tests cheap substrings before its patterns; on random class / src / alt
    values (with "ı" and "ſ", which re.IGNORECASE matches as "i" and "s") it answers as the
    patterns alone do."""
    import random

    from curate.stages import extract_html as E

    def patterns_alone(node) -> bool:
        alt = (node.get("alt") or "").strip()
        return bool(alt) and bool(any(E._MATH_IMG_CLASS.search(t) for t in (node.get("class") or "").split())
                                   or E._MATH_IMG_SRC.search(node.get("src") or "") or E._TEX_COMMAND.search(alt))

    pieces = ["tex", "TeX", "LaTeX", "math", "MATH", "formula", "Equation", "equatıon", "codecogs", "codecogſ", "/media/math/",
              "/medıa/math/", "mimetex", "tex2img", "mwe-math-fallback", "text-center", "-", "_", " ", "img", "\\frac", "\\alpha",
              "a^2", "ſ", "ı"]
    rng = random.Random(7)
    formulas = 0
    for _ in range(20_000):
        node = lxml.html.Element("img")
        for attribute in ("class", "src", "alt"):
            node.set(attribute, "".join(rng.choice(pieces) for _ in range(rng.randint(0, 3))))
        assert E._is_formula_image(node) == patterns_alone(node), dict(node.attrib)
        formulas += patterns_alone(node)
    assert 2_000 < formulas < 18_000
