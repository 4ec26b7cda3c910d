"""trafilatura's element-selecting XPath expressions, compiled to Python functions with the same results.

Why: on real pages about half of trafilatura's time is spent evaluating its boilerplate and
content XPaths (``OVERALL_DISCARD_XPATH``, ``BODY_XPATH``, ...). They call the EXSLT
``re:test`` extension, which lxml answers by calling back into Python once per element and
argument, building a node-set list each time: about 5 µs per element. The same predicates
written as Python over ``el.get(...)``, with the tag test done in C by ``iterdescendants(*tags)``,
cost a fraction of that.

The compiler reads the expression text (so trafilatura's own token lists are used, whatever
its version) and understands the subset those expressions are written in:

* paths ``.//*[P]...``, ``.//name[P]...``, ``(.//*[P])[1]``, a final positional ``[1]`` (first
  among siblings), and unions ``A|B`` (document order);
* predicates: ``self::name``, ``@a``, ``@a='lit'``, ``contains``, ``starts-with``,
  ``translate``, EXSLT ``re:test`` (with its ``'i'`` flag), ``not(...)``, ``.//name``,
  ``and``/``or`` and parentheses, with attribute unions ``@id|@class`` read as XPath reads a
  node-set as a string: the first attribute in source order.

Anything else raises ``Unsupported`` and the caller keeps the lxml XPath. Equality with lxml is
not assumed: ``tests/stages/test_extract_fast.py`` evaluates every compiled expression beside
lxml's on every tree state trafilatura builds from the real pages in ../shared, and requires
the same elements in the same order.
"""
from __future__ import annotations

import re
from collections.abc import Callable

import lxml.etree


class Unsupported(ValueError):
    """The expression uses XPath this compiler does not translate."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'[^']*'|"[^"]*")
    | (?P<number>\d+)
    | (?P<op>\.//|::|\(|\)|\[|\]|\||=|,|@|\*)
    | (?P<name>[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)
    )""",
    re.X,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos, text = [], 0, text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise Unsupported(f"cannot read {text[pos:pos + 20]!r}")
        kind = match.lastgroup
        value = match.group(kind)
        out.append((kind, value))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    """Recursive descent over the token list, emitting Python source for one element ``el``."""

    def __init__(self, text: str, shared: dict | None = None):
        self.tokens = _tokens(text)
        self.i = 0
        # attributes the current step reads ({name: local}) and attribute unions ({names: local}),
        # each read once per element into a local at the top of the loop; with ``shared``, the
        # names, reads and constants of several expressions compiled into one walk
        self.shared = shared
        self.constants: dict[str, object] = shared["constants"] if shared else {}
        self.reads: dict[str, str] = shared["reads"] if shared else {}
        self.unions: dict[tuple[str, ...], str] = shared["unions"] if shared else {}

    # -- token helpers --
    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        token = self.peek()
        if token is None or (value is not None and token[1] != value) or (kind is not None and token[0] != kind):
            raise Unsupported(f"expected {value or kind}, found {token}")
        self.i += 1
        return token[1]

    def at(self, value: str) -> bool:
        token = self.peek()
        return token is not None and token[1] == value and token[0] != "string"

    def constant(self, value: object) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    # -- paths --
    def union(self) -> list[dict]:
        paths = [self.path()]
        while self.at("|"):
            self.take("|")
            paths.append(self.path())
        if self.peek() is not None:
            raise Unsupported(f"trailing {self.peek()}")
        return paths

    def path(self) -> dict:
        if self.at("("):
            self.take("(")
            step = self.step()
            self.take(")")
            self.take("[")
            if self.take(kind="number") != "1":
                raise Unsupported("only [1] is supported")
            self.take("]")
            if step["first_among_siblings"]:
                raise Unsupported("positional predicate inside parentheses")
            step["first_overall"] = True
            return step
        return self.step()

    def step(self) -> dict:
        if self.shared is None:
            self.reads, self.unions = {}, {}
        self.take(".//")
        tag = "*" if self.at("*") else None
        if tag:
            self.take("*")
        else:
            tag = self.take(kind="name")
            if ":" in tag:
                raise Unsupported(f"prefixed name {tag}")
        predicates, first_among_siblings = [], False
        self.descendant_tests = False
        while self.at("["):
            self.take("[")
            token = self.peek()
            if token is not None and token[0] == "number":
                if self.take() != "1" or first_among_siblings:
                    raise Unsupported("only one final [1] is supported")
                first_among_siblings = True
            elif first_among_siblings:
                raise Unsupported("a predicate after [1]")
            else:
                predicates.append(self.or_expr())
            self.take("]")
        tags = None if tag == "*" else (tag,)
        if tags is None and predicates and predicates[0][1] is not None:
            tags = predicates[0][1]  # a leading [self::a or self::b] becomes the C-level tag filter
            predicates = predicates[1:]
        return {"tags": tags, "test": " and ".join(f"({p[0]})" for p in predicates) or "True",
                "reads": dict(self.reads), "unions": dict(self.unions),
                "first_among_siblings": first_among_siblings, "first_overall": False,
                # whether the test reads the element alone (its tag and attributes), not its descendants
                "self_only": not self.descendant_tests}

    # -- predicates: each returns (python source, tuple of tags when it is a pure self:: disjunction) --
    def or_expr(self) -> tuple[str, tuple | None]:
        parts = [self.and_expr()]
        while self.at("or"):
            self.take("or")
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        tags = sum((p[1] for p in parts), ()) if all(p[1] is not None for p in parts) else None
        return " or ".join(f"({p[0]})" for p in parts), tags

    def and_expr(self) -> tuple[str, tuple | None]:
        parts = [self.unary()]
        while self.at("and"):
            self.take("and")
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return " and ".join(f"({p[0]})" for p in parts), None

    def unary(self) -> tuple[str, tuple | None]:
        if self.at("not") and self.peek(1) == ("op", "("):
            self.take("not")
            self.take("(")
            inner = self.or_expr()[0]
            self.take(")")
            return f"not ({inner})", None
        if self.at("("):
            self.take("(")
            inner = self.or_expr()
            self.take(")")
            return inner
        if self.at("self") and self.peek(1) == ("op", "::"):
            self.take("self")
            self.take("::")
            name = self.take(kind="name")
            return f"tag == {name!r}", (name,)
        if self.at(".//"):
            self.take(".//")
            name = self.take(kind="name")
            self.descendant_tests = True
            return f"next(el.iterdescendants({name!r}), None) is not None", None
        if self.at("@"):
            names = self.attribute_union()
            if self.at("="):
                self.take("=")
                literal = self.literal()
                if len(names) != 1:
                    raise Unsupported("comparison of an attribute union")
                return f"{self.read(names[0])} == {literal!r}", None
            if len(names) != 1:
                raise Unsupported("attribute union as a boolean")
            return f"{self.read(names[0])} is not None", None
        token = self.peek()
        if token is None or token[0] != "name":
            raise Unsupported(f"unexpected {token}")
        function = self.take()
        self.take("(")
        if function not in ("contains", "starts-with", "re:test"):
            raise Unsupported(f"function {function}()")
        value = self.string_value()
        self.take(",")
        literal = self.literal()
        flags = ""
        if function == "re:test" and self.at(","):
            self.take(",")
            flags = self.literal()
        self.take(")")
        if function == "contains":
            return f"{literal!r} in {value}", None
        if function == "starts-with":
            return f"{value}.startswith({literal!r})", None
        # lxml's EXSLT regexp: re.compile(pattern, re.UNICODE [| re.IGNORECASE]).search(string)
        compiled = re.compile(literal, re.UNICODE | (re.IGNORECASE if "i" in flags else 0))
        return f"{self.constant(_SearchMemo(compiled))}[{value}]", None

    def literal(self) -> str:
        return self.take(kind="string")[1:-1]

    def attribute_union(self) -> list[str]:
        names = []
        while True:
            self.take("@")
            names.append(self.take(kind="name"))
            if not (self.at("|") and self.peek(1) == ("op", "@")):
                return names
            self.take("|")

    def string_value(self) -> str:
        """Python source for XPath's string() of the argument: '' when the attribute is absent."""
        if self.at("translate"):
            self.take("translate")
            self.take("(")
            inner = self.string_value()
            self.take(",")
            source = self.literal()
            self.take(",")
            target = self.literal()
            self.take(")")
            if len(source) != len(target):
                raise Unsupported("translate() that deletes characters")
            return f"{inner}.translate({self.constant(str.maketrans(source, target))})"
        names = self.attribute_union()
        if len(names) == 1:
            return f"({self.read(names[0])} or '')"
        # a node-set read as a string is its first node: the attribute that comes first in the tag
        for name in names:
            self.read(name)
        return self.unions.setdefault(tuple(names), f"u{len(self.unions)}")

    def read(self, name: str) -> str:
        return self.reads.setdefault(name, f"a{len(self.reads)}")


class _SearchMemo(dict):
    """value -> whether the pattern is found in it. Class and id values repeat within a page and
    across a site's pages, so most tests are one dict lookup instead of a regex search."""

    MAX_ENTRIES = 50_000

    def __init__(self, pattern: re.Pattern):
        super().__init__()
        self.search = pattern.search

    def __missing__(self, value: str) -> bool:
        if len(self) >= self.MAX_ENTRIES:
            self.clear()
        found = self[value] = self.search(value) is not None
        return found


def _first_of(el, names: tuple[str, ...]) -> str:
    """The value of whichever of ``names`` comes first among the element's attributes ('' if none)."""
    for key in el.keys():
        if key in names:
            return el.get(key) or ""
    return ""


def _document_order(context, found: set) -> list:
    return [el for el in context.iterdescendants() if el in found]


def _attribute_reads(reads: dict[str, str], unions: dict[tuple[str, ...], str],
                     with_attributes: list[str] = (), without_attributes: list[str] = ()) -> list[str]:
    """Loop-body lines reading each attribute once into its local, then each attribute union.

    A quarter of the elements of a real page have no attribute at all: for them one C-level
    check (``el.attrib`` is false) stands for every ``get`` (each a call into lxml).
    ``with_attributes`` / ``without_attributes``: lines (indented 12) that end either branch."""
    if not reads:
        return []
    lines = ["        if el.attrib:", "            get = el.get"]
    lines += [f"            {local} = get({name!r})" for name, local in reads.items()]
    for names, local in unions.items():
        present = " + ".join(f"({reads[name]} is not None)" for name in names)
        only = " or ".join(reads[name] for name in names)
        # one attribute present (the usual case): it; several: the first in source order
        lines.append(f"            {local} = (({only}) or '') if {present} < 2 else first_of(el, {names!r})")
    lines += with_attributes
    lines.append("        else:")
    lines.append(f"            {' = '.join(reads.values())} = None")
    if unions:
        lines.append(f"            {' = '.join(unions.values())} = ''")
    lines += without_attributes
    return lines


def _emit(n: int, step: dict, first_only: bool) -> list[str]:
    """Python source of step ``n``: ``_stepN(context) -> list`` or ``_firstN(context) -> element | None``."""
    if step["tags"]:
        iterate = f"context.iterdescendants({', '.join(map(repr, step['tags']))})"
    else:
        iterate = "context.iterdescendants(_ELEMENT)"
    body = [f"def _first{n}(context):" if first_only else f"def _step{n}(context):"]
    if not first_only:
        body.append("    out = []")
        if step["first_among_siblings"]:
            body.append("    parents = set()")
    body += [f"    for el in {iterate}:", "        tag = el.tag"]
    body += _attribute_reads(step["reads"], step["unions"])
    body.append(f"        if {step['test']}:")
    if first_only:
        body += ["            return el", "    return None"]
        return body
    if step["first_overall"]:
        body.append("            return [el]")
    elif step["first_among_siblings"]:
        body += ["            parent = el.getparent()", "            if parent not in parents:",
                 "                parents.add(parent)", "                out.append(el)"]
    else:
        body.append("            out.append(el)")
    body.append("    return out")
    return body


class CompiledXPath:
    """A callable with the result of ``lxml.etree.XPath(path)(element)``; ``path`` kept for checks."""

    def __init__(self, path: str):
        self.path = path
        parser = _Parser(path)
        steps = parser.union()
        namespace: dict[str, object] = {"first_of": _first_of, "_ELEMENT": lxml.etree.Element, **parser.constants}
        # _stepN returns the step's result; _firstN only its first element: the first match in
        # document order heads the result of every form of step, "[1] among siblings" included
        self.source = "\n".join(line for n, step in enumerate(steps) for first in (False, True) for line in _emit(n, step, first))
        exec(compile(self.source, f"<xpath {path[:40]!r}>", "exec"), namespace)
        self._steps: list[Callable] = [namespace[f"_step{n}"] for n in range(len(steps))]
        self._firsts: list[Callable] = [namespace[f"_first{n}"] for n in range(len(steps))]
        # ".//cite|.//quote": one walk over the tags (a union is in document order, as that walk is)
        plain = all(s["tags"] and s["test"] == "True" and not s["first_among_siblings"] and not s["first_overall"] for s in steps)
        self._tags_only = tuple(t for s in steps for t in s["tags"]) if plain else None
        # one step selecting every element that passes its test: FusedMatches can evaluate it
        self.fusable = len(steps) == 1 and not steps[0]["first_among_siblings"] and not steps[0]["first_overall"]
        self.self_only = all(s["self_only"] for s in steps)

    def __call__(self, context) -> list:
        if self._tags_only is not None:
            return list(context.iterdescendants(*self._tags_only))
        if len(self._steps) == 1:
            return self._steps[0](context)
        found = {el for step in self._steps for el in step(context)}
        return _document_order(context, found)

    def first(self, context):
        """The first element of ``self(context)`` (None when empty), without computing the rest."""
        if self._tags_only is None and len(self._steps) == 1:
            return self._firsts[0](context)
        return next(iter(self(context)), None)

    def __repr__(self) -> str:
        return f"CompiledXPath({' '.join(self.path.split())[:60]!r}...)"


class FusedFirsts:
    """The first match of each of several expressions, from one walk over the tree.

    ``FusedFirsts(paths)(context)[k]`` is ``CompiledXPath(paths[k]).first(context)``: each step's
    test runs on every element the walk meets until the step has matched, attributes are read
    once per element for all of them, and the walk stops when every step has its match. For a
    union, the first of its steps' matches in document order.
    """

    def __init__(self, paths: list[str], decisive: bool = False):
        """``decisive``: the walk also stops as soon as the first expression matches (the caller
        wants the others only when it does not); their entries are then None."""
        self.paths = list(paths)
        self.decisive = decisive
        shared: dict = {"constants": {}, "reads": {}, "unions": {}}
        steps: list[tuple[int, dict]] = []
        for k, path in enumerate(self.paths):
            steps += [(k, step) for step in _Parser(path, shared).union()]
        self._owners = [k for k, _ in steps]
        namespace: dict[str, object] = {"first_of": _first_of, "_ELEMENT": lxml.etree.Element, **shared["constants"]}
        tags = None if any(step["tags"] is None for _, step in steps) else sorted({t for _, step in steps for t in step["tags"]})
        iterate = f"context.iterdescendants({', '.join(map(repr, tags))})" if tags else "context.iterdescendants(_ELEMENT)"
        lines = ["def _fused(context):", f"    first = [None] * {len(steps)}", f"    left = {len(steps)}", "    n = 0",
                 f"    for el in {iterate}:", "        n += 1", "        tag = el.tag"]
        lines += _attribute_reads(shared["reads"], shared["unions"])
        for i, (_, step) in enumerate(steps):
            tag_test = f" and tag in _tags{i}" if step["tags"] else ""
            namespace[f"_tags{i}"] = frozenset(step["tags"] or ())
            lines += [f"        if first[{i}] is None{tag_test} and ({step['test']}):",
                      f"            first[{i}] = (n, el)", "            left -= 1"]
            if decisive and self._owners[i] == 0:
                lines += ["            return first"]
        lines += ["        if not left:", "            break", "    return first"]
        self.source = "\n".join(lines)
        exec(compile(self.source, "<fused xpaths>", "exec"), namespace)
        self._walk = namespace["_fused"]

    def __call__(self, context) -> list:
        found = self._walk(context)
        best: list = [None] * len(self.paths)
        for owner, hit in zip(self._owners, found, strict=True):
            if hit is not None and (best[owner] is None or hit[0] < best[owner][0]):
                best[owner] = hit
        if self.decisive and best[0] is not None:  # the walk stopped early: the others are unknown
            return [best[0][1]] + [None] * (len(best) - 1)
        return [hit[1] if hit is not None else None for hit in best]


class FusedMatches:
    """The results of several one-step expressions, from one walk over the tree.

    ``FusedMatches(paths)(context)[k]`` is ``CompiledXPath(paths[k])(context)`` (every expression
    must be ``fusable``): the walk meets each element once, reads its attributes once for all the
    tests, and appends it to the result of each expression whose test it passes.
    """

    def __init__(self, paths: list[str]):
        self.paths = list(paths)
        shared: dict = {"constants": {}, "reads": {}, "unions": {}}
        steps = []
        for path in self.paths:
            parsed = _Parser(path, shared).union()
            if len(parsed) != 1 or parsed[0]["first_among_siblings"] or parsed[0]["first_overall"]:
                raise Unsupported(f"not one plain step: {path[:40]!r}")
            steps.append(parsed[0])
        namespace: dict[str, object] = {"first_of": _first_of, "_ELEMENT": lxml.etree.Element, **shared["constants"]}
        tags = None if any(step["tags"] is None for step in steps) else sorted({t for step in steps for t in step["tags"]})
        iterate = f"context.iterdescendants({', '.join(map(repr, tags))})" if tags else "context.iterdescendants(_ELEMENT)"
        reads, unions = shared["reads"], shared["unions"]
        # an element without attributes can pass only the tests that hold with every attribute
        # absent (a bare tag test): on real pages a quarter of the elements, tested by tag alone
        bare = {local: None for local in reads.values()} | {local: "" for local in unions.values()}

        def may_pass_bare(step) -> bool:
            if not step["self_only"]:
                return True  # it reads descendants
            try:
                return bool(eval(step["test"], dict(namespace), dict(bare)))
            except NameError:  # it reached the element's tag (not(self::ol)): kept, tested per element
                return True

        passes_bare = [may_pass_bare(step) for step in steps]

        def tests(indices, indent):
            out = []
            for i in indices:
                tag_test = f"tag in _tags{i}" if steps[i]["tags"] else "True"
                test = steps[i]["test"]
                out += [f"{indent}if {tag_test} and ({test}):", f"{indent}    out{i}.append(el)"]
            return out

        for i, step in enumerate(steps):
            namespace[f"_tags{i}"] = frozenset(step["tags"] or ())
        lines = ["def _fused(context):", f"    found = [[] for _ in range({len(steps)})]",
                 f"    {', '.join(f'out{i}' for i in range(len(steps)))}, = found",
                 f"    for el in {iterate}:", "        tag = el.tag"]
        if reads:
            lines += _attribute_reads(reads, unions, tests(range(len(steps)), " " * 12),
                                      tests([i for i in range(len(steps)) if passes_bare[i]], " " * 12))
        else:
            lines += tests(range(len(steps)), "        ")
        lines.append("    return found")
        self.source = "\n".join(lines)
        exec(compile(self.source, "<fused matches>", "exec"), namespace)
        self._walk = namespace["_fused"]

    def __call__(self, context) -> list[list]:
        return self._walk(context)
