"""The generator: grammars per language, sites, documents (originals, copies, re-fetches), the plan of a corpus."""
from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
import uuid
from collections import Counter

from faker import Faker

from curate.sample import defects
from curate.sample.constants import (
    _DECODE_AS,
    _PLACEHOLDER,
    _SYMBOL,
    CJK,
    EN_CATEGORIES,
    END,
    EXACT_RATE,
    LANGUAGES,
    LEGACY_CHARSETS,
    NEAR_EDIT_FRACTIONS,
    NEAR_EDIT_WEIGHTS,
    NEAR_RATE,
    NON_HTML_RATE,
    OTHER_CATEGORIES,
    PII_RATE,
    POOL_LINE_RATE,
    REFETCH_RATE,
    SERVERS,
    START,
)
from curate.sample.documents import _Block, _Doc, _Grammar, _main_text, _Site
from curate.sample.ground_truth import jaccard
from curate.sample.payloads import _jpeg, _pdf, _png
from curate.sample.text import _capitalize, _fix_articles, _lexicon, _plural, _singular, _slug, _snippets, _title_case, _verb_forms
from curate.sample.themes import _THEMES, _render_blocks


class _Generator:
    def __init__(self, seed: int):
        self.seed = seed
        self.rng = random.Random(f"curate-sample:{seed}")
        lex = _lexicon()
        self.lex = lex
        self.langs = lex["languages"]
        self.snips = _snippets()
        self.fakers: dict[str, Faker] = {}
        for code, data in self.langs.items():
            f = Faker(data["faker_locale"])
            f.seed_instance(f"curate-sample:{seed}:{code}")
            self.fakers[code] = f
        self.latin = Faker("la")
        self.latin.seed_instance(f"curate-sample:{seed}:la")
        self._grammars: dict[tuple[str, str | None], _Grammar] = {}
        self._pools: dict[str, tuple[list[str], list[str]]] = {}
        self._value = ""
        self._inline_fn = lambda: ""
        self.urls: dict[str, int] = {}
        self.short_texts: dict[str, int] = {}
        self.seen: Counter = Counter()  # PII types and defects planted so far
        self._spam_defects: list[str] = []
        self.sites = self._make_sites()

    # ----- grammar -----

    def _dynamic(self, lang: str) -> dict:
        f = self.fakers[lang]
        data = self.langs[lang]
        rng = self.rng
        cities = data.get("cities")
        if not cities:
            # it_IT builds its list from a set: sort, so the order does not depend on string hashing.
            listed = getattr(f.provider("faker.providers.address"), "cities", None)
            cities = sorted(set(listed)) if listed else None
        city_fn = f.city_name if hasattr(f, "city_name") else f.city
        city = (lambda: rng.choice(cities)) if cities else city_fn
        months = data["boiler"]["months"]
        nums = ["2", "3", "4", "5", "6", "7", "8", "10", "12", "15", "20", "25", "30", "40", "50", "100", "120", "200",
                "350", "1,000"] if lang == "en" else ["2", "3", "4", "5", "8", "10", "12", "20", "30", "50", "100", "200"]
        # Faker's weighted name choice is slow: draw pools once per language, then pick from them.
        if lang not in self._pools:
            self._pools[lang] = ([f.name() for _ in range(400)], [f.company() for _ in range(200)])
        people, companies = self._pools[lang]
        return {
            "person": lambda: rng.choice(people), "company": lambda: rng.choice(companies),
            "city": city, "cityup": lambda: city().upper(),
            "year": lambda: str(rng.randint(2008, 2025)), "num": lambda: rng.choice(nums),
            "pct": lambda: str(rng.randint(5, 95)), "month": lambda: rng.choice(months),
            "day": lambda: str(rng.randint(1, 28)), "VALUE": lambda: self._value, "INL": lambda: self._inline_fn(),
            "DW": lambda: rng.choice(self.lex["spam"]["dirty_words"]),
        }

    def grammar(self, lang: str, topic: str | None = None) -> _Grammar:
        key = (lang, topic if lang == "en" else None)
        g = self._grammars.get(key)
        if g is None:
            data = self.langs[lang]
            rules = dict(data["grammar"])
            if lang == "en":
                nouns = data["nouns"]
                tnouns = data["topics"][topic] if topic else nouns
                forms = [_verb_forms(v) for v in data["verbs"]]
                rules.update({
                    "N": [_singular(n) for n in nouns], "Npl": [_plural(n) for n in nouns],
                    "TN": [_singular(n) for n in tnouns], "TNpl": [_plural(n) for n in tnouns],
                    "Vb": [b for b, _, _ in forms], "V3": [t for _, t, _ in forms], "Vd": [p for _, _, p in forms],
                })
            g = _Grammar(rules, self.rng, self._dynamic(lang))
            self._grammars[key] = g
        return g

    def sentence(self, lang: str, symbol: str = "S", topic: str | None = None) -> str:
        text = _capitalize(self.grammar(lang, topic)(symbol))
        text = re.sub(r"(?<=\w\.)\.(?!\.)", "", text)  # "... Co. KG." + "." -> one period
        return _fix_articles(text) if lang == "en" else text

    def paragraph(self, lang: str, n: int, symbol: str = "S", topic: str | None = None) -> str:
        sep = "" if lang in CJK else " "
        return sep.join(self.sentence(lang, symbol, topic) for _ in range(n))

    def title(self, lang: str, topic: str | None = None) -> str:
        text = self.grammar(lang, topic)("TITLE").rstrip(".")
        text = _fix_articles(text) if lang == "en" else text
        return _title_case(_capitalize(text)) if lang == "en" else _capitalize(text)

    @staticmethod
    def units(text: str, lang: str | None) -> int:
        """Words, or for Chinese/Japanese (no spaces) characters / 2."""
        return len(text) // 2 if lang in CJK else len(text.split())

    # ----- sites -----

    def _make_site(self, domain: str, lang: str, kind: str, theme: str, name: str | None = None) -> _Site:
        rng, f = self.rng, self.fakers[lang]
        data = self.langs[lang]
        www = kind in ("news", "portal") or rng.random() < 0.3
        scheme = "http" if (kind in ("portal", "spam") and rng.random() < 0.6) or rng.random() < 0.05 else "https"
        name = name or " ".join(w.capitalize() for w in re.split(r"[-.]", domain.split(".")[0]) if w)
        nav = list(data["boiler"]["nav"])
        rng.shuffle(nav)
        nav = [data["boiler"]["nav"][0]] + [x for x in nav if x != data["boiler"]["nav"][0]][:9]
        return _Site(
            domain=domain, name=name, lang=lang, kind=kind, theme=theme, scheme=scheme,
            host=("www." + domain) if www else domain,
            ip=f"{rng.randint(23, 213)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            founded=rng.randint(1998, 2019), authors=[f.name() for _ in range(rng.randint(3, 6))], nav=nav,
            tagline=self.title(lang, rng.choice(list(self.langs["en"]["topics"])) if lang == "en" else None),
            server=rng.choice(SERVERS),
        )

    def _make_sites(self) -> dict[tuple[str, str], list[_Site]]:
        rng = self.rng
        en = self.lex["en_sites"]
        sites: dict[tuple[str, str], list[_Site]] = {}
        used: set[str] = set()

        def en_domain(first: list[str], second: list[str]) -> str:
            while True:
                d = rng.choice(first) + rng.choice(["", "-"]) + rng.choice(second) + rng.choice(en["tlds"])
                if d not in used:
                    used.add(d)
                    return d

        for kind, theme, count, (first, second) in [
            ("news", "news", 12, (en["first"], en["second"])), ("blog", "blog", 14, (en["first"], en["second"])),
            ("portal", "portal", 6, (en["first"], en["second"])), ("code", "docs", 4, (en["code_first"], en["code_second"])),
            ("code", "blog", 3, (en["code_first"], en["code_second"])), ("math", "docs", 2, (en["math_first"], en["math_second"])),
            ("math", "blog", 2, (en["math_first"], en["math_second"])),
        ]:
            for _ in range(count):
                sites.setdefault(("en", kind), []).append(self._make_site(en_domain(first, second), "en", kind, theme))
        for domain in self.lex["spam"]["domains"]:
            sites.setdefault(("en", "spam"), []).append(self._make_site(domain, "en", "spam", "spam"))
        for domain in en["mirror"]:
            sites.setdefault(("en", "mirror"), []).append(
                self._make_site(domain, "en", "mirror", rng.choice(["news", "blog", "portal"])))
        for lang, data in self.langs.items():
            if lang == "en":
                continue
            for i, domain in enumerate(data["sites"]):
                kind, theme = [("news", "news"), ("blog", "blog"), ("portal", "portal")][i % 3]
                sites.setdefault((lang, kind), []).append(self._make_site(domain, lang, kind, theme))
        return sites

    def pick_site(self, lang: str, category: str, exclude: _Site | None = None) -> _Site:
        kinds = {"general": ["blog", "portal", "news"], "news": ["news"], "code": ["code"], "math": ["math"],
                 "spam": ["spam"], "boilerplate_only": ["news", "blog", "portal"], "short": ["blog", "portal"],
                 "non_html": ["news", "blog", "portal"], "mirror": ["mirror"] if lang == "en" else ["news", "blog", "portal"]}[category]
        pool = [s for k in kinds for s in self.sites.get((lang, k), [])] or [
            s for (lg, _), ss in self.sites.items() if lg == lang for s in ss]
        choices = [s for s in pool if s is not exclude] or pool
        return self.rng.choice(choices)

    def make_url(self, site: _Site, title: str, published: dt.datetime, category: str) -> str:
        rng = self.rng
        slug = _slug(title) or f"article-{rng.randint(1000, 99999)}"
        section = _slug(rng.choice(site.nav[1:])) or f"section{rng.randint(1, 9)}"
        if site.kind == "news":
            path = f"/{section}/{published:%Y/%m/%d}/{slug}-{rng.randint(10000, 9999999)}"
        elif site.kind == "blog":
            path = f"/{published:%Y/%m}/{slug}/"
        elif site.kind in ("code", "math"):
            path = f"/{rng.choice(['tutorials', 'guides', 'notes', 'posts'])}/{slug}.html"
        elif site.kind == "portal":
            path = rng.choice([f"/index.php?option=com_content&view=article&id={rng.randint(100, 99999)}",
                               f"/article.php?id={rng.randint(100, 99999)}&cat={rng.randint(1, 40)}",
                               f"/{section}/{slug}.html"])
        elif site.kind == "spam":
            path = f"/{slug[:40]}-{rng.randint(100, 99999)}.html"
        else:  # mirror
            path = rng.choice([f"/story/{rng.randint(10**5, 10**7)}/{slug}", f"/r/{rng.getrandbits(40):010x}",
                               f"/news/{published:%Y%m%d}/{slug}.html"])
        url = f"{site.scheme}://{site.host}{path}"
        n = self.urls.get(url, 0)
        self.urls[url] = n + 1
        if n:  # the same slug twice on one site: a second page of it
            url += ("&" if "?" in url else "?") + f"page={n + 1}"
        return url

    # ----- content -----

    def code_snippet(self) -> tuple[str, str]:
        rng = self.rng
        lang, _, text = rng.choice(self.snips["code"])
        words = self.langs["en"]["grammar"]["CODE_N"]
        nouns = [w for w in (_singular(n) for n in self.langs["en"]["nouns"]) if " " not in w]

        verbs = ["get", "load", "parse", "build", "find", "make", "count", "update", "fetch", "merge"]
        values = {"FN": f"{rng.choice(verbs)}_{rng.choice(nouns)}", "FN2": f"{rng.choice(verbs)}_{rng.choice(nouns)}",
                  "VAR": rng.choice(nouns), "VAR2": rng.choice(nouns) + "_list",
                  "FIELD": rng.choice(nouns), "FIELD2": rng.choice(["count", "total", "size", "score", "age", "rank"]),
                  "WORD": rng.choice(words), "N": str(rng.randint(2, 20)), "M": str(rng.randint(10, 999)),
                  "A": str(rng.randint(1, 9)), "B": str(rng.randint(1, 9)), "C": str(rng.randint(1, 9))}
        values["CLS"] = "".join(w.capitalize() for w in rng.sample(nouns, 2))
        values["JSFN"] = values["FN"].split("_")[0] + "".join(w.capitalize() for w in values["FN"].split("_")[1:])
        return lang, _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)

    def _math_values(self) -> dict[str, str]:
        rng = self.rng
        a, b, c, n = rng.randint(2, 9), rng.randint(1, 9), rng.randint(1, 9), rng.randint(2, 9)
        return {"A": str(a), "B": str(b), "C": str(c), "N": str(n), "M": str(rng.randint(10, 99)),
                "X": rng.choice("xtuz"), "N1": str(n + 1), "NM1": str(n - 1), "AN": str(a * n), "A1": str(a + 1),
                "DET": str(a * n - b * c), "SQRT": f"{math.sqrt(a):.3f}"}

    def inline_tex(self) -> str:
        values = self._math_values()
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.rng.choice(self.snips["inline"]))

    def display_formula(self) -> tuple[str, str]:
        _, tex, mml = self.rng.choice(self.snips["math"])
        values = self._math_values()
        sub = lambda s: _PLACEHOLDER.sub(lambda m: values[m.group(1)], s)
        return sub(tex), sub(mml)

    def article_blocks(self, lang: str, category: str, topic: str | None, title: str) -> list[_Block]:
        rng = self.rng
        if category == "short":
            for _ in range(100):  # distinct short texts: no unplanted exact duplicates
                text = self.sentence(lang, "SHORT", topic)
                if self.units(text, lang) < 40 and text not in self.short_texts:
                    break
            self.short_texts[text] = 1
            return [_Block("p", text)]
        if category == "boilerplate_only":
            # The stock message of a listing/login/404 page, and what was asked for (distinct per page).
            label = self.langs[lang]["boiler"][rng.choice(["search", "tags", "categories"])]
            return [_Block("p", self.sentence(lang, "BOILER_ONLY"), linkable=False),
                    _Block("p", f"{label}: {title}", linkable=False)]
        if category == "spam":
            return self.spam_blocks()
        g_symbol = "S_news" if category == "news" else "S"
        median, sigma = {"general": (420, 0.55), "news": (480, 0.5), "code": (260, 0.4), "math": (260, 0.4)}[category]
        target = int(min(1500, max(150, rng.lognormvariate(math.log(median), sigma))))
        blocks: list[_Block] = []
        total, paragraphs = 0, 0
        code_blocks = rng.randint(1, 3) if category == "code" else 0
        formulas = rng.randint(1, 3) if category == "math" else 0
        while total < target:
            roll = rng.random()
            if paragraphs >= 3 and roll < 0.12 and blocks[-1].kind != "h2" and category in ("general", "news"):
                blocks.append(_Block("h2", _capitalize(self.grammar(lang, topic)("H2"))))
                continue
            if paragraphs >= 2 and roll < 0.17 and category in ("general", "news"):
                items = [_capitalize(self.grammar(lang, topic)("LI")) for _ in range(rng.randint(3, 5))]
                blocks.append(_Block("ul", items=[_fix_articles(i) if lang == "en" else i for i in items]))
                total += sum(self.units(i, lang) for i in items)
                continue
            if category == "code" and paragraphs >= 1 and code_blocks and roll < 0.45:
                code_lang, code = self.code_snippet()
                blocks.append(_Block("pre", code.rstrip("\n"), extra=code_lang))
                code_blocks -= 1
                continue
            if category == "math" and paragraphs >= 1 and formulas and roll < 0.45:
                tex, mml = self.display_formula()
                blocks.append(_Block("math", tex, extra=mml))
                formulas -= 1
                continue
            n = rng.randint(3, 7)
            if category == "code":
                sents = [self.sentence("en", "CODE_S" if rng.random() < 0.6 else "S", topic) for _ in range(n)]
                text = " ".join(sents)
            elif category == "math":
                self._inline_fn = self.inline_tex
                sents = [self.sentence("en", "MATH_S" if rng.random() < 0.6 else "S", topic) for _ in range(n)]
                text = " ".join(sents)
            else:
                text = self.paragraph(lang, n, g_symbol, topic)
            if category == "news" and paragraphs == 0:
                text = self.grammar(lang, topic)("DATELINE") + text
            blocks.append(_Block("p", text))
            paragraphs += 1
            total += self.units(text, lang)
        while code_blocks:  # short tutorials still show their code
            code_lang, code = self.code_snippet()
            blocks.insert(rng.randint(1, len(blocks)), _Block("pre", code.rstrip("\n"), extra=code_lang))
            code_blocks -= 1
        while formulas:
            tex, mml = self.display_formula()
            blocks.insert(rng.randint(1, len(blocks)), _Block("math", tex, extra=mml))
            formulas -= 1
        return blocks

    def spam_blocks(self) -> list[_Block]:
        rng = self.rng
        spam = self.lex["spam"]
        g = self.grammar("en")
        blocks = []
        if rng.random() < 0.6:  # keyword stuffing
            kws = rng.sample(spam["keywords"], 6)
            for _ in range(rng.randint(2, 4)):
                words = [rng.choice(kws) for _ in range(rng.randint(30, 90))]
                blocks.append(_Block("p", _capitalize(", ".join(words) if rng.random() < 0.5 else " ".join(words)), linkable=False))
            line = rng.choice(spam["lines"])
            blocks[1:1] = [_Block("p", line, linkable=False) for _ in range(rng.randint(6, 12))]
            blocks.append(_Block("ul", items=[_title_case(f"{rng.choice(kws)} {rng.choice(kws)}") for _ in range(rng.randint(8, 16))]))
            self._spam_defects = ["keyword_stuffing", "repeated_lines"]
        else:  # adult spam
            for _ in range(rng.randint(2, 4)):
                words = [rng.choice(spam["dirty_words"]) if rng.random() < 0.5 else rng.choice(spam["keywords"])
                         for _ in range(rng.randint(25, 70))]
                blocks.append(_Block("p", _capitalize(" ".join(words)), linkable=False))
            line = _capitalize(g("DW")) + " " + rng.choice(["videos", "pics", "chat", "cams"]) + " - " + rng.choice(spam["lines"])
            blocks[1:1] = [_Block("p", line, linkable=False) for _ in range(rng.randint(6, 10))]
            links = [_capitalize(self._expand_adult(rng.choice(spam["adult_lines"]))) for _ in range(rng.randint(6, 12))]
            blocks.append(_Block("ul", items=links))
            self._spam_defects = ["dirty_words", "repeated_lines"]
        return blocks

    def _expand_adult(self, template: str) -> str:
        return _SYMBOL.sub(lambda m: self.rng.choice(self.lex["spam"]["dirty_words"]), template)

    def spam_title(self) -> str:
        kws = self.rng.sample(self.lex["spam"]["keywords"] + self.lex["spam"]["dirty_words"], 4)
        return _title_case(" ".join(kws)) + f" {self.rng.randint(2023, 2025)} | Free"

    # ----- planting: curate.sample.defects -----

    def plant_pii(self, doc: _Doc) -> None:
        defects.plant_pii(self, doc)

    def plant_defects(self, doc: _Doc) -> None:
        defects.plant_defects(self, doc)

    def plant_pool_lines(self, doc: _Doc) -> None:
        defects.plant_pool_lines(self, doc)

    # ----- documents -----

    def _ids(self) -> tuple[str, str]:
        rng = self.rng
        return (f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>",
                f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>")

    def _random_time(self) -> dt.datetime:
        span = int((END - START).total_seconds()) - 30 * 86400  # room for later re-fetches
        return START + dt.timedelta(seconds=self.rng.randrange(span))

    def _published(self, fetch: dt.datetime) -> dt.datetime:
        return fetch - dt.timedelta(seconds=self.rng.randrange(0, 400 * 86400))

    def original(self, n: int) -> _Doc:
        rng = self.rng
        time = self._random_time()
        published = self._published(time)
        record_id, request_id = self._ids()
        if rng.random() < NON_HTML_RATE:
            site = self.pick_site("en" if rng.random() < 0.8 else _pick(rng, LANGUAGES), "non_html")
            return self.non_html(n, site, time, published, record_id, request_id)
        lang = _pick(rng, LANGUAGES)
        category = _pick(rng, EN_CATEGORIES if lang == "en" else OTHER_CATEGORIES)
        topics = list(self.langs["en"]["topics"])
        topic = {"code": "technology", "math": "science", "spam": None}.get(category, rng.choice(topics)) if lang == "en" else None
        site = self.pick_site(lang, category)
        self._spam_defects = []
        title = self.spam_title() if category == "spam" else self.title(lang, topic)
        blocks = self.article_blocks(lang, category, topic, title)
        doc = _Doc(n=n, kind="original", lang=lang, category=category, topic=topic, site=site, title=title,
                   blocks=blocks, url=self.make_url(site, title, published, category), time=time, published=published,
                   author=rng.choice(site.authors), record_id=record_id, request_id=request_id)
        doc.defects.extend(self._spam_defects)
        if category == "short":
            doc.defects.append("short")
        if category == "boilerplate_only":
            doc.defects.append("boilerplate_heavy")
        if category in ("general", "news"):
            self.plant_defects(doc)
        if category in ("general", "news", "code", "math") and rng.random() < POOL_LINE_RATE:
            self.plant_pool_lines(doc)
        if category in ("general", "news", "code", "math", "short") and rng.random() < PII_RATE / 0.9:
            self.plant_pii(doc)
        doc.charset = self._charset(lang)
        return doc

    def _charset(self, lang: str) -> str:
        roll, acc = self.rng.random(), 0.0
        for name, p in LEGACY_CHARSETS.get(lang, []):
            acc += p
            if roll < acc:
                return name
        return "utf-8"

    def non_html(self, n: int, site: _Site, time, published, record_id, request_id) -> _Doc:
        rng = self.rng
        kind = _pick(rng, [("png", 0.35), ("pdf", 0.25), ("jpeg", 0.15), ("json", 0.15), ("robots", 0.10)])
        stem = _slug(self.title(site.lang)) or f"file-{rng.randint(1, 9999)}"
        if kind == "png":
            payload, ctype, path = _png(rng), "image/png", f"/media/{published:%Y/%m}/{stem[:30]}.png"
        elif kind == "jpeg":
            payload, ctype, path = _jpeg(rng), "image/jpeg", f"/media/{published:%Y/%m}/{stem[:30]}.jpg"
        elif kind == "pdf":
            lines = [self.sentence("en", "S", "business") for _ in range(rng.randint(3, 8))]
            payload, ctype, path = _pdf(lines), "application/pdf", f"/files/{stem[:40]}.pdf"
        elif kind == "json":
            items = [{"id": rng.randint(1, 10**6), "title": self.title("en", "technology"), "score": round(rng.random(), 3)}
                     for _ in range(rng.randint(2, 6))]
            payload = json.dumps({"items": items, "page": 1}, ensure_ascii=False).encode("utf-8")
            ctype, path = "application/json", f"/api/v1/items?page={rng.randint(1, 50)}"
        else:
            payload = (f"User-agent: *\nDisallow: /admin/\nDisallow: /search\nCrawl-delay: {rng.randint(1, 10)}\n\n"
                       f"Sitemap: {site.scheme}://{site.host}/sitemap.xml\n").encode("ascii")
            ctype, path = "text/plain", "/robots.txt"
        url = f"{site.scheme}://{site.host}{path}"
        if url in self.urls:
            url += ("&" if "?" in url else "?") + f"v={rng.randint(1, 10**6)}"
        self.urls[url] = 1
        return _Doc(n=n, kind="original", lang=None, category="non_html", topic=None, site=site, title="", blocks=[],
                    url=url, time=time, published=published, author="", record_id=record_id, request_id=request_id,
                    content_type=ctype, charset="utf-8" if kind == "json" else None, payload=payload)

    def exact_copy(self, n: int, src: _Doc) -> _Doc:
        """The same article (text, title, byline) republished on another site of the same layout.

        Same layout, different navigation, sidebar and footer: a copy must extract to exactly the
        original's text, or exact-dedup scoring would count extraction differences as misses.
        """
        rng = self.rng
        same_layout = [s for (lang, _), ss in self.sites.items() if lang == src.lang for s in ss
                       if s.theme == src.site.theme and s is not src.site]
        mirrors = [s for s in same_layout if s.kind == "mirror"]
        site = rng.choice(mirrors or same_layout or [src.site])
        time = self._random_time()
        record_id, request_id = self._ids()
        doc = _Doc(n=n, kind="exact", lang=src.lang, category=src.category, topic=src.topic, site=site, title=src.title,
                   blocks=[b.copy() for b in src.blocks], url=self.make_url(site, src.title, src.published, src.category),
                   time=time, published=src.published, author=src.author, record_id=record_id, request_id=request_id,
                   source=src, pii=list(src.pii), planted_lines=list(src.planted_lines), defects=list(src.defects))
        doc.charset = self._charset(src.lang)
        return doc

    def near_copy(self, n: int, src: _Doc) -> _Doc:
        rng = self.rng
        fraction = rng.choices(NEAR_EDIT_FRACTIONS, weights=NEAR_EDIT_WEIGHTS)[0]
        blocks = _edit_blocks(rng, src.blocks, fraction)
        site = self.pick_site(src.lang, rng.choice(["mirror", "general"]), exclude=src.site)
        time = self._random_time()
        record_id, request_id = self._ids()
        text = _main_text(blocks)
        doc = _Doc(n=n, kind="near", lang=src.lang, category=src.category, topic=src.topic, site=site, title=src.title,
                   blocks=blocks, url=self.make_url(site, src.title, src.published, src.category), time=time,
                   published=src.published, author=src.author, record_id=record_id, request_id=request_id, source=src,
                   near_edit_fraction=fraction, near_jaccard=round(jaccard(_main_text(src.blocks), text), 4),
                   pii=[p for p in src.pii if p["value"] in text],
                   planted_lines=[line for line in src.planted_lines if line in text.split("\n")])
        doc.charset = self._charset(src.lang)
        return doc

    def refetch(self, n: int, src: _Doc) -> _Doc:
        """``src`` fetched again later (under its URL or a spelling that normalises alike), slightly changed."""
        rng = self.rng
        latest = src.family[-1] if src.family else src
        # Later than every earlier fetch, and before END: at most half the time left.
        room = (END - latest.time).total_seconds()
        high = min(240 * 86400, room / 2)
        low = min(3600, high / 2)
        time = latest.time + dt.timedelta(seconds=max(1, int(low + rng.random() * (high - low))))
        blocks = [b.copy() for b in latest.blocks]
        lang = src.lang
        change = rng.random()
        paras = [i for i, b in enumerate(blocks) if b.kind == "p" and b.linkable]
        if src.category in ("boilerplate_only",) or not paras or change < 0.5:
            update = self.langs[lang]["boiler"]["update"] + " " + self.paragraph(lang, rng.randint(1, 3), "S", src.topic)
            blocks.append(_Block("p", update))
        elif change < 0.8:
            i = rng.choice(paras)
            blocks[i] = _Block("p", self.paragraph(lang, rng.randint(2, 5), "S", src.topic))
        else:
            i = rng.choice(paras)
            sep = "" if lang in CJK else " "
            blocks[i] = _Block("p", blocks[i].text + sep + self.sentence(lang, "S", src.topic))
        record_id, request_id = self._ids()
        text = _main_text(blocks)
        doc = _Doc(n=n, kind="refetch", lang=lang, category=src.category, topic=src.topic, site=src.site,
                   title=src.title, blocks=blocks, url=_url_variant(rng, src.url), time=time, published=src.published,
                   author=src.author, record_id=record_id, request_id=request_id, source=src,
                   pii=[p for p in src.pii if p["value"] in text],
                   planted_lines=[line for line in src.planted_lines if line in text.split("\n")],
                   defects=list(src.defects), charset=src.charset)
        src.family.append(doc)
        return doc

    # ----- the whole corpus -----

    def plan(self, pages: int) -> list[_Doc]:
        """The documents in generation order: originals, and copies of earlier originals.

        A source original is used for one kind of copy only (exact, near or re-fetch), so the
        duplicate families in the ground truth never overlap.
        """
        rng = self.rng
        docs: list[_Doc] = []
        any_pool: list[_Doc] = []  # HTML originals not yet a source: re-fetch sources
        exact_pool: list[_Doc] = []  # ... with real content (thin pages extract their boilerplate)
        near_pool: list[_Doc] = []  # ... clean general/news of space-separated languages, >= 150 words
        pools = (any_pool, exact_pool, near_pool)
        open_near: list[_Doc] = []
        exact_sources: list[_Doc] = []
        refetch_sources: list[_Doc] = []
        # Exactly the planned share of each copy kind (small corpora too), at random places after
        # the first few originals.
        kinds = (["exact"] * round(EXACT_RATE * pages) + ["near"] * round(NEAR_RATE * pages)
                 + ["refetch"] * round(REFETCH_RATE * pages))
        slots = list(range(min(10, pages), pages))
        kind_at = dict(zip(rng.sample(slots, min(len(kinds), len(slots))), rng.sample(kinds, len(kinds)), strict=False))
        for n in range(pages):
            kind = kind_at.get(n)
            doc = None
            if kind == "exact" and exact_pool:
                if len(exact_sources) >= 5 and rng.random() < 0.25:  # clusters of 3+ copies too
                    src = rng.choice(exact_sources)
                else:
                    src = _take(rng, exact_pool, pools)
                    src.used_as = "exact"
                    exact_sources.append(src)
                doc = self.exact_copy(n, src)
            elif kind == "near" and (near_pool or open_near):
                if open_near and (rng.random() < 0.6 or not near_pool):
                    src = rng.choice(open_near)
                else:
                    src = _take(rng, near_pool, pools)
                    src.used_as = "near"
                    src.near_target = rng.randint(2, 5)
                    open_near.append(src)
                doc = self.near_copy(n, src)
                src.near_members += 1
                if src.near_members >= src.near_target:
                    open_near.remove(src)
            elif kind == "refetch" and any_pool:
                if len(refetch_sources) >= 5 and rng.random() < 0.2:  # a third or fourth fetch
                    src = rng.choice(refetch_sources)
                else:
                    src = _take(rng, any_pool, pools)
                    src.used_as = "refetch"
                    refetch_sources.append(src)
                doc = self.refetch(n, src)
            if doc is None:
                doc = self.original(n)
                if doc.category != "non_html":
                    any_pool.append(doc)
                    if doc.category in ("general", "news", "code", "math", "spam"):
                        exact_pool.append(doc)
                    if (doc.category in ("general", "news") and doc.lang not in CJK and not doc.defects
                            and len(_main_text(doc.blocks).split()) >= 150):
                        near_pool.append(doc)
            docs.append(doc)
        return docs

    def render(self, doc: _Doc) -> tuple[bytes, str]:
        """(payload bytes, Content-Type header value) of an HTML page."""
        article = _render_blocks(self.rng, doc)
        for _ in range(2):
            page = _THEMES[doc.site.theme](self, doc, article)
            try:
                payload = page.encode(doc.charset)
                if payload.decode(_DECODE_AS.get(doc.charset, doc.charset)) != page:
                    raise UnicodeError(doc.charset)
                break
            except (UnicodeError, LookupError):
                doc.charset = "utf-8"  # the text needs characters the legacy charset lacks
        spelled = doc.charset.upper() if self.rng.random() < 0.3 else doc.charset
        ctype = "text/html" if self.rng.random() < 0.1 else f"text/html; charset={spelled}"
        return payload, ctype


def _pick(rng: random.Random, weighted):
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def _take(rng: random.Random, pool: list, pools: tuple[list, ...]):
    """Remove a random member of ``pool`` from every pool and return it."""
    src = pool[rng.randrange(len(pool))]
    for p in pools:
        if src in p:
            p.remove(src)
    return src


def _edit_blocks(rng: random.Random, blocks: list[_Block], fraction: float) -> list[_Block]:
    """A copy of ``blocks`` with ``fraction`` of its words edited (swaps, insertions, deletions)."""
    out = [b.copy() for b in blocks]
    tokens: list[list] = []  # [block index, item index, word]
    for bi, b in enumerate(out):
        if b.kind in ("p", "h2"):
            tokens.extend([bi, 0, w] for w in b.text.split())
        elif b.kind == "ul":
            for ii, item in enumerate(b.items):
                tokens.extend([bi, ii, w] for w in item.split())
    vocab = [t[2] for t in tokens]
    edits = max(1, round(len(tokens) * fraction))
    for _ in range(edits):
        i = rng.randrange(len(tokens))
        op = rng.random()
        if op < 1 / 3 and len(tokens) > 2:
            bi, ii = tokens[i][0], tokens[i][1]
            if sum(1 for t in tokens if t[0] == bi and t[1] == ii) > 1:
                del tokens[i]
                continue
        if op < 2 / 3:
            tokens.insert(i, [tokens[i][0], tokens[i][1], rng.choice(vocab)])
        else:
            j = i + 1 if i + 1 < len(tokens) else i - 1
            tokens[i][2], tokens[j][2] = tokens[j][2], tokens[i][2]
    texts: dict[tuple[int, int], list[str]] = {}
    for bi, ii, w in tokens:
        texts.setdefault((bi, ii), []).append(w)
    for bi, b in enumerate(out):
        if b.kind in ("p", "h2"):
            b.text = " ".join(texts.get((bi, 0), [b.text]))
            b.linkable = False
        elif b.kind == "ul":
            b.items = [" ".join(texts.get((bi, ii), [item])) for ii, item in enumerate(b.items)]
    return out


def _url_variant(rng: random.Random, url: str) -> str:
    """``url`` or a spelling of it that URL normalisation folds back (the scheme stays lower case:
    crawlers write it so and WARC readers, warcio included, only parse http:/https: targets)."""
    scheme, rest = url.split("://", 1)
    host, slash, path = rest.partition("/")
    path = slash + path
    port = ":443" if scheme == "https" else ":80"

    def tracking(p: str) -> str:
        param = rng.choice(["utm_source=newsletter&utm_medium=email", "utm_source=twitter", "fbclid=IwAR" + "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16)), "utm_campaign=spring_sale&utm_source=x"])
        return p + ("&" if "?" in p else "?") + param

    def toggle_slash(p: str) -> str:
        if "?" in p:
            return p
        return p[:-1] if p.endswith("/") and len(p) > 1 else p + "/"

    kind = rng.choice(["same", "same", "same", "tracking", "fragment", "slash", "host", "combo"])
    if kind == "same":
        return url
    if kind == "tracking":
        return f"{scheme}://{host}{tracking(path)}"
    if kind == "fragment":
        return f"{scheme}://{host}{path}#{rng.choice(['comments', 'top', 'section-2', 'respond'])}"
    if kind == "slash":
        return f"{scheme}://{host}{toggle_slash(path)}"
    if kind == "host":
        return f"{scheme}://{_mixed_case(rng, host)}{port}{path}"
    return f"{scheme}://{_mixed_case(rng, host)}{port}{tracking(path)}#frag"


def _mixed_case(rng: random.Random, host: str) -> str:
    if rng.random() < 0.5:
        return host.upper()
    return ".".join(p.capitalize() for p in host.split("."))


