"""What is planted on a document: quality defects, fake PII, lines from the repeated-line pool."""
from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from curate.sample.constants import _SYMBOL, CJK, PHONE_FORMATS, PII_TYPES
from curate.sample.documents import _Block, _Doc
from curate.sample.text import _capitalize

if TYPE_CHECKING:
    from curate.sample.generator import _Generator

def pii_value(gen: _Generator, kind: str, lang: str) -> str:
    rng = gen.rng
    f, fen = gen.fakers[lang], gen.fakers["en"]
    if kind == "email":
        return f.email()
    if kind == "phone":
        fmt = rng.choice(PHONE_FORMATS[lang])
        return re.sub(r"\{(\d)\}", lambda m: "".join(str(rng.randint(0 if i else 1, 9)) for i in range(int(m.group(1)))), fmt)
    if kind == "ipv4":
        return fen.ipv4_public()
    if kind == "ipv6":
        v6 = fen.ipv6()
        return str(ipaddress.IPv6Address(v6)) if rng.random() < 0.5 else v6
    if kind == "card":
        number = fen.credit_card_number(card_type=rng.choice(["visa16", "mastercard", "amex", "discover"]))
        style = rng.random()
        groups = [4, 6, 5] if len(number) == 15 else [4, 4, 4, 4]
        if style < 0.5:
            return number
        parts, i = [], 0
        for g in groups:
            parts.append(number[i:i + g])
            i += g
        return (" " if style < 0.8 else "-").join(parts)
    if kind == "iban":
        iban = f.iban() if hasattr(f, "iban") else fen.iban()
        return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban
    if kind == "ssn":
        return fen.ssn()
    if kind == "secret":
        alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        pick = lambda chars, n: "".join(rng.choice(chars) for _ in range(n))
        return rng.choice([
            lambda: "AKIA" + pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
            lambda: "ghp_" + pick(alnum, 36),
            lambda: "AIza" + pick(alnum + "_-", 35),
            lambda: "sk_live_" + pick(alnum, 24),
        ])()
    raise ValueError(kind)

def plant_pii(gen: _Generator, doc: _Doc) -> None:
    rng = gen.rng
    lang = doc.lang
    kinds = [k for k in PII_TYPES if k != "ssn" or lang == "en"]
    chosen = rng.sample(kinds, rng.choice([1, 1, 1, 2, 2, 3]))
    unused = [k for k in kinds if not gen.seen[k] and k not in chosen]
    if unused:  # every type early on, so even a small corpus has them all
        chosen[0] = unused[0]
    gen.seen.update(chosen)
    if doc.category == "code" and "secret" not in chosen and rng.random() < 0.6:
        chosen[0] = "secret"
    templates = gen.langs[lang]["pii"]
    for kind in chosen:
        value = pii_value(gen, kind, lang)
        doc.pii.append({"type": kind, "value": value})
        if doc.category == "code" and kind in ("secret", "email") and rng.random() < 0.7:
            code = {
                "secret": rng.choice([f'AWS_ACCESS_KEY_ID = "{value}"\nAWS_REGION = "us-east-1"',
                                      f'const API_TOKEN = "{value}";\nconst client = new Client({{ token: API_TOKEN }});',
                                      f"export API_KEY={value}\nexport DEBUG=false"]),
                "email": f"# Maintainer: {gen.fakers['en'].name()} <{value}>\n# License: MIT",
            }[kind]
            doc.blocks.insert(rng.randint(1, len(doc.blocks)), _Block("pre", code, extra="text"))
            continue
        gen._value = value
        source = templates.get(kind) or gen.langs["en"]["pii"][kind]
        g = gen.grammar(lang, doc.topic)
        sentence = _capitalize(_SYMBOL.sub(lambda m: g(m.group(1)), rng.choice(source)))
        paras = [i for i, b in enumerate(doc.blocks) if b.kind == "p" and b.linkable]  # ordinary prose
        if paras and rng.random() < 0.5:
            b = doc.blocks[rng.choice(paras)]
            b.text = b.text + ("" if lang in CJK else " ") + sentence
            b.linkable = False
        else:
            doc.blocks.insert(rng.randint(0, len(doc.blocks)), _Block("p", sentence, linkable=False))

def plant_defects(gen: _Generator, doc: _Doc) -> None:
    rng = gen.rng
    lang = doc.lang
    paras = [b for b in doc.blocks if b.kind == "p"]
    if not paras:
        return
    roll = rng.random()
    kind = ("lorem_ipsum" if roll < 0.03 else "repeated_lines" if roll < 0.06 else
            "javascript_lines" if roll < 0.085 and lang == "en" else "no_punctuation" if roll < 0.105 else
            "symbol_heavy" if roll < 0.125 else None)
    gen.seen["defect_candidates"] += 1
    if gen.seen["defect_candidates"] % 5 == 0:  # every kind early on, so even a small corpus has them all
        unused = [d for d in ("lorem_ipsum", "repeated_lines", "javascript_lines", "no_punctuation", "symbol_heavy")
                  if not gen.seen[d] and (d != "javascript_lines" or lang == "en")]
        kind = unused[0] if unused else kind
    gen.seen[kind] += 1
    if kind == "lorem_ipsum":
        lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " + gen.latin.paragraph(nb_sentences=rng.randint(4, 8))
        doc.blocks.insert(rng.randint(0, len(doc.blocks)), _Block("p", lorem))
        if rng.random() < 0.5:
            doc.blocks.insert(rng.randint(0, len(doc.blocks)), _Block("p", gen.latin.paragraph(nb_sentences=5)))
        doc.defects.append("lorem_ipsum")
    elif kind == "repeated_lines":
        if rng.random() < 0.5:
            line = rng.choice(paras).text
        else:
            line = gen.sentence(lang, "S", doc.topic)
        at = rng.randint(0, len(doc.blocks))
        doc.blocks[at:at] = [_Block("p", line, linkable=False) for _ in range(rng.randint(4, 8))]
        doc.defects.append("repeated_lines")
    elif kind == "javascript_lines":
        for line in rng.sample(gen.langs["en"]["js_lines"], rng.randint(2, 3)):
            doc.blocks.insert(rng.randint(0, len(doc.blocks)), _Block("p", line, linkable=False))
        doc.defects.append("javascript_lines")
    elif kind == "no_punctuation":
        for b in doc.blocks:
            if b.kind in ("p", "h2"):
                b.text = re.sub(r"[.,;:!?\u2026\u3002\u3001\uff0c\u201c\u201d\u201e\u00ab\u00bb\u2018\u2019\"]", "", b.text)
            elif b.kind == "ul":
                b.items = [re.sub(r"[.,;:!?]", "", i) for i in b.items]
        doc.defects.append("no_punctuation")
    elif kind == "symbol_heavy":
        words = sum(gen.units(b.text, lang) for b in paras)
        tags = gen.lex["spam"]["hashtags"] + [w.replace(" ", "") for w in gen.langs["en"]["topics"][doc.topic or "travel"]]
        for _ in range(rng.randint(1, 2)):
            n = max(30, int(words * 0.12))
            line = " ".join("#" + rng.choice(tags) for _ in range(n))
            doc.blocks.insert(rng.randint(0, len(doc.blocks)), _Block("p", line, linkable=False))
        trailing = "... ".join(gen.sentence(lang, "S", doc.topic).rstrip(".") for _ in range(3)) + "..."
        doc.blocks.append(_Block("p", trailing, linkable=False))
        doc.defects.append("symbol_heavy")

def plant_pool_lines(gen: _Generator, doc: _Doc) -> None:
    rng = gen.rng
    pool = gen.langs[doc.lang]["pool_lines"]
    for line in rng.sample(pool, rng.choice([1, 1, 2])):
        where = rng.random()
        at = len(doc.blocks) if where < 0.5 else 0 if where < 0.7 else rng.randint(0, len(doc.blocks))
        doc.blocks.insert(at, _Block("p", line, linkable=False))
        doc.planted_lines.append(line)

