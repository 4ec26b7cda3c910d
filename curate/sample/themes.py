"""HTML: the five site themes (news, blog, docs, portal, spam) around an article."""
from __future__ import annotations

import datetime as dt
import json
import random
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from curate.sample.constants import CJK, DATE_FORMATS
from curate.sample.documents import _Doc, _main_text
from curate.sample.text import _attr, _capitalize, _esc, _slug, _title_case

if TYPE_CHECKING:
    from curate.sample.generator import _Generator

# --- HTML -------------------------------------------------------------------------------------


def _render_blocks(rng: random.Random, doc: _Doc) -> str:
    out = []
    for b in doc.blocks:
        if b.kind == "p":
            text = _esc(b.text)
            if b.linkable and doc.lang not in CJK and rng.random() < 0.15:
                words = b.text.split(" ")
                if len(words) > 8:
                    i = rng.randrange(1, len(words) - 4)
                    k = rng.randint(2, 4)
                    anchor = " ".join(words[i:i + k])
                    href = f"/{rng.choice(['topics', 'tag', 'news', 'guide'])}/{_slug(anchor) or 'more'}"
                    text = (_esc(" ".join(words[:i])) + f' <a href="{href}">{_esc(anchor)}</a> '
                            + _esc(" ".join(words[i + k:])))
            out.append(f"<p>{text}</p>")
        elif b.kind == "h2":
            out.append(f"<h2>{_esc(b.text)}</h2>")
        elif b.kind == "ul":
            out.append("<ul>\n" + "\n".join(f"<li>{_esc(i)}</li>" for i in b.items) + "\n</ul>")
        elif b.kind == "pre":
            out.append(f'<pre><code class="language-{b.extra}">{_esc(b.text)}</code></pre>')
        elif b.kind == "math":
            out.append(f'<div class="equation"><math xmlns="http://www.w3.org/1998/Math/MathML" display="block" '
                       f'alttext="{_attr(b.text)}"><semantics><mrow>{b.extra}</mrow>'
                       f'<annotation encoding="application/x-tex">{_esc(b.text)}</annotation></semantics></math></div>')
    return "\n".join(out)


def _date_text(lang: str, when: dt.datetime, boiler: dict) -> str:
    return DATE_FORMATS[lang].format(month=boiler["months"][when.month - 1], mnum=when.month, day=when.day, year=when.year)


def _chrome(gen: _Generator, doc: _Doc) -> dict:
    """Shared pieces of every theme, in the page's language."""
    rng = gen.rng
    site, lang = doc.site, doc.site.lang
    boiler = gen.langs[lang]["boiler"]
    topic = doc.topic if lang == "en" else None
    titles = [gen.title(lang, topic) for _ in range(rng.randint(4, 6))]
    links = [f'<a href="/{_slug(t) or "p"}-{rng.randint(100, 99999)}">{_esc(t)}</a>' for t in titles]
    nav = "\n".join(f'<li><a href="/{_slug(x) or "s" + str(i)}/">{_esc(x)}</a></li>' if i else f'<li><a href="/">{_esc(x)}</a></li>'
                    for i, x in enumerate(site.nav))
    footer_links = " | ".join(f'<a href="/{_slug(x) or "info"}">{_esc(x)}</a>' for x in boiler["footer_links"])
    return {
        "b": boiler, "lang": lang, "charset": doc.charset, "title": _esc(doc.title), "title_attr": _attr(doc.title),
        "site": _esc(site.name), "nav": nav, "links": links, "footer_links": footer_links,
        "date": _date_text(lang, doc.published, boiler), "iso": doc.published.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "author": _esc(doc.author), "author_slug": _slug(doc.author) or "redaktion", "year": doc.time.year,
        "h": f"{rng.getrandbits(32):08x}", "canonical": _attr(_canonical(doc.url)),
        "desc": _attr(_main_text(doc.blocks)[:150].replace("\n", " ")),
        "cookie": (f'<p>{_esc(boiler["cookie"])} <a href="/privacy">{_esc(boiler["privacy"])}</a></p>'
                   f'<button class="accept">{_esc(boiler["accept"])}</button> '
                   f'<button class="settings">{_esc(boiler["settings"])}</button>'),
    }


def _canonical(url: str) -> str:
    """The page's own clean URL (what ``<link rel="canonical">`` names): no fragment, tracking or default port."""
    parts = urlsplit(url)
    host = parts.netloc.lower().removesuffix(":443").removesuffix(":80")
    query = "&".join(p for p in parts.query.split("&") if p and not p.startswith(("utm_", "fbclid=")))
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def _theme_news(gen: _Generator, doc: _Doc, article: str) -> str:
    c = _chrome(gen, doc)
    b, rng = c["b"], gen.rng
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": doc.title,
                     "datePublished": c["iso"], "author": {"@type": "Person", "name": doc.author},
                     "publisher": {"@type": "Organization", "name": doc.site.name}}, ensure_ascii=False).replace("</", "<\\/")
    tags = ", ".join(f'<a href="/tag/{_slug(t) or "t"}">{_esc(t)}</a>' for t in rng.sample(doc.site.nav[1:], 3))
    breaking = (f'<div class="breaking-news"><strong>{_esc(b["read_more"])}:</strong> {c["links"][0]}</div>\n'
                if rng.random() < 0.5 else "")
    return f"""<!DOCTYPE html>
<html lang="{c['lang']}">
<head>
<meta charset="{c['charset']}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{c['title']} | {c['site']}</title>
<meta name="description" content="{c['desc']}">
<link rel="canonical" href="{c['canonical']}">
<meta property="og:type" content="article">
<meta property="og:title" content="{c['title_attr']}">
<meta property="og:site_name" content="{_attr(doc.site.name)}">
<meta property="article:published_time" content="{c['iso']}">
<link rel="stylesheet" href="/static/css/site.{c['h']}.css">
<script async src="https://www.googletagmanager.com/gtag/js?id=G-{c['h'].upper()}"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){{dataLayer.push(arguments);}}
  gtag('js', new Date());
  gtag('config', 'G-{c['h'].upper()}');
</script>
<script type="application/ld+json">{ld}</script>
</head>
<body class="article-page">
<div class="top-bar"><div class="container"><span class="today">{_date_text(c['lang'], doc.time, b)}</span> <a href="/account/login">{_esc(b['login'])}</a> <a class="btn" href="/subscribe">{_esc(b['subscribe'])}</a></div></div>
<header class="site-header">
<div class="container">
<a class="logo" href="/"><img src="/static/img/logo.svg" alt="{_attr(doc.site.name)}"></a>
<nav class="main-nav" aria-label="Main">
<ul>
{c['nav']}
</ul>
</nav>
<form class="search-form" action="/search" method="get"><input type="search" name="q" placeholder="{_attr(b['search'])}…"><button type="submit">{_esc(b['search'])}</button></form>
</div>
</header>
{breaking}<div class="container layout">
<main id="main-content">
<nav class="breadcrumb"><a href="/">{_esc(doc.site.nav[0])}</a> &rsaquo; <a href="/{_slug(doc.site.nav[1]) or 'news'}/">{_esc(doc.site.nav[1])}</a></nav>
<article class="story">
<header class="story-header">
<h1 class="story-title">{c['title']}</h1>
<div class="byline">{_esc(b['by'])} <a rel="author" href="/authors/{c['author_slug']}">{c['author']}</a> &middot; <time datetime="{c['iso']}">{c['date']}</time></div>
</header>
<div class="story-body">
{article}
</div>
<div class="story-tags">{_esc(b['tags'])}: {tags}</div>
<div class="share-bar"><span>{_esc(b['share'])}</span> <a href="https://www.facebook.com/sharer/sharer.php?u={_attr(c['canonical'])}">Facebook</a> <a href="https://twitter.com/intent/tweet?url={_attr(c['canonical'])}">X</a> <a href="mailto:?subject={c['title_attr']}">Email</a></div>
</article>
<section class="related">
<h2>{_esc(b['related'])}</h2>
<ul>
{chr(10).join('<li>' + link + '</li>' for link in c['links'][1:4])}
</ul>
</section>
</main>
<aside class="sidebar">
<div class="widget most-read"><h3>{_esc(b['popular'])}</h3><ol>{''.join('<li>' + link + '</li>' for link in c['links'])}</ol></div>
<div class="widget newsletter"><h3>{_esc(b['newsletter'])}</h3><p>{_esc(b['newsletter_text'])}</p><form action="/newsletter" method="post"><input type="email" name="email"><button>{_esc(b['subscribe'])}</button></form></div>
<div class="ad-slot" data-slot="sidebar-300x250">{_esc(b['advert'])}</div>
</aside>
</div>
<footer class="site-footer">
<div class="container">
<nav class="footer-nav">{c['footer_links']}</nav>
<p class="copyright">&copy; {doc.site.founded}&ndash;{c['year']} {c['site']}. {_esc(b['rights'])}</p>
</div>
</footer>
<div id="cookie-consent" class="cookie-banner" role="dialog" aria-live="polite">{c['cookie']}</div>
<script src="/static/js/main.{c['h']}.js" defer></script>
</body>
</html>
"""


def _theme_blog(gen: _Generator, doc: _Doc, article: str) -> str:
    c = _chrome(gen, doc)
    b, rng = c["b"], gen.rng
    post_id = rng.randint(100, 99999)
    comments = ""
    if rng.random() < 0.5 and doc.category != "boilerplate_only":
        items = []
        for _ in range(rng.randint(1, 4)):
            name = gen.fakers[c["lang"]].first_name()
            text = gen.paragraph(c["lang"], rng.randint(1, 2), "S", doc.topic)
            items.append(f'<li class="comment"><article class="comment-body"><footer class="comment-meta"><b class="fn">{_esc(name)}</b> '
                         f'<time>{_date_text(c["lang"], doc.time, b)}</time></footer><div class="comment-content"><p>{_esc(text)}</p></div>'
                         f'<div class="reply"><a class="comment-reply-link" href="#respond">{_esc(b["reply"])}</a></div></article></li>')
        comments = (f'<div id="comments" class="comments-area">\n<h2 class="comments-title">{len(items)} {_esc(b["comments"])}</h2>\n'
                    f'<ol class="comment-list">\n' + "\n".join(items) + "\n</ol>\n</div>\n")
    months = "".join(f'<li><a href="/{doc.time.year}/{m:02d}/">{_esc(b["months"][m - 1])} {doc.time.year}</a></li>'
                     for m in range(doc.time.month, max(0, doc.time.month - 6), -1))
    cats = "".join(f'<li><a href="/category/{_slug(x) or "c"}/">{_esc(x)}</a></li>' for x in doc.site.nav[1:6])
    return f"""<!DOCTYPE html>
<html lang="{c['lang']}">
<head>
<meta charset="{c['charset']}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{c['title']} &#8211; {c['site']}</title>
<meta name="generator" content="WordPress 6.{rng.randint(1, 5)}.{rng.randint(0, 3)}">
<link rel="canonical" href="{c['canonical']}">
<link rel="stylesheet" id="theme-style-css" href="/wp-content/themes/twentytwenty/style.css?ver=1.{rng.randint(1, 9)}" media="all">
<style>.screen-reader-text{{clip:rect(1px,1px,1px,1px);position:absolute!important;height:1px;width:1px;overflow:hidden}}</style>
</head>
<body class="post-template-default single single-post postid-{post_id}">
<div id="page" class="site">
<a class="skip-link screen-reader-text" href="#content">Skip to content</a>
<header id="masthead" class="site-header">
<div class="site-branding"><p class="site-title"><a href="/" rel="home">{c['site']}</a></p><p class="site-description">{_esc(doc.site.tagline)}</p></div>
<nav id="site-navigation" class="main-navigation">
<button class="menu-toggle" aria-controls="primary-menu" aria-expanded="false">Menu</button>
<ul id="primary-menu" class="menu">
{c['nav']}
</ul>
</nav>
</header>
<div id="content" class="site-content">
<div id="primary" class="content-area">
<main id="main" class="site-main">
<article id="post-{post_id}" class="post-{post_id} post type-post status-publish format-standard hentry">
<header class="entry-header">
<h1 class="entry-title">{c['title']}</h1>
<div class="entry-meta"><span class="posted-on">{_esc(b['posted'])} <time class="entry-date published" datetime="{c['iso']}">{c['date']}</time></span> <span class="byline">{_esc(b['by'])} <span class="author vcard"><a class="url fn n" href="/author/{c['author_slug']}/">{c['author']}</a></span></span></div>
</header>
<div class="entry-content">
{article}
</div>
<footer class="entry-footer"><span class="cat-links">{_esc(b['categories'])}: <a href="/category/{_slug(doc.site.nav[1]) or 'c'}/">{_esc(doc.site.nav[1])}</a></span></footer>
</article>
<nav class="navigation post-navigation" aria-label="Posts">
<div class="nav-links"><div class="nav-previous"><span class="meta-nav">{_esc(b['prev'])}</span> {c['links'][0]}</div><div class="nav-next"><span class="meta-nav">{_esc(b['next'])}</span> {c['links'][1]}</div></div>
</nav>
{comments}</main>
</div>
<aside id="secondary" class="widget-area">
<section class="widget widget_search"><form role="search" method="get" class="search-form" action="/"><input type="search" class="search-field" placeholder="{_attr(b['search'])} …" name="s"></form></section>
<section class="widget widget_recent_entries"><h2 class="widget-title">{_esc(b['recent'])}</h2><ul>{''.join('<li>' + link + '</li>' for link in c['links'])}</ul></section>
<section class="widget widget_archive"><h2 class="widget-title">{_esc(b['archives'])}</h2><ul>{months}</ul></section>
<section class="widget widget_categories"><h2 class="widget-title">{_esc(b['categories'])}</h2><ul>{cats}</ul></section>
</aside>
</div>
<footer id="colophon" class="site-footer">
<div class="site-info">&copy; {c['year']} {c['site']}. {_esc(b['rights'])} <span class="sep"> | </span>{c['footer_links']} <span class="sep"> | </span><a href="https://wordpress.org/">Proudly powered by WordPress</a></div>
</footer>
</div>
<div id="cookie-notice" class="cookie-notice-container" role="dialog">{c['cookie']}</div>
<script src="/wp-includes/js/jquery/jquery.min.js?ver=3.7.1" id="jquery-core-js"></script>
</body>
</html>
"""


def _theme_docs(gen: _Generator, doc: _Doc, article: str) -> str:
    c = _chrome(gen, doc)
    b, rng = c["b"], gen.rng
    g = gen.grammar("en", doc.topic)
    toc = "\n".join(f'<li><a href="/{("guides", "notes", "tutorials")[i % 3]}/{_slug(x)}.html">{_esc(x)}</a></li>'
                    for i, x in enumerate(_capitalize(g("H2")) for _ in range(10)))
    mathjax = ('<script>window.MathJax = {tex: {inlineMath: [["$", "$"]]}};</script>\n'
               '<script defer src="/assets/mathjax/tex-mml-chtml.js"></script>\n') if doc.category == "math" else ""
    minutes = max(1, len(_main_text(doc.blocks).split()) // 200)
    return f"""<!DOCTYPE html>
<html lang="{c['lang']}">
<head>
<meta charset="{c['charset']}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{c['title']} - {c['site']}</title>
<link rel="canonical" href="{c['canonical']}">
<link rel="stylesheet" href="/assets/docs.{c['h']}.css">
<link rel="stylesheet" href="/assets/highlight.min.css">
{mathjax}</head>
<body>
<header class="topbar">
<a class="brand" href="/">{c['site']}</a>
<nav class="topnav"><a href="/">{_esc(b['nav'][0])}</a> <a href="/docs/">Docs</a> <a href="/tutorials/">Tutorials</a> <a href="/blog/">Blog</a> <a href="/community/">Community</a> <a href="https://github.com/{_slug(doc.site.name) or 'org'}">GitHub</a></nav>
<input class="search" type="search" placeholder="{_attr(b['search'])}">
</header>
<div class="cookie-banner" id="cookies">{c['cookie']}</div>
<div class="wrapper">
<nav class="sidebar" aria-label="Contents">
<h4>Contents</h4>
<ul>
{toc}
</ul>
</nav>
<main class="content">
<article class="doc">
<h1>{c['title']}</h1>
<p class="meta">{_esc(b['posted'])} {c['date']} &middot; {minutes} min read</p>
{article}
</article>
<div class="pager"><a class="prev" href="/{rng.choice(['guides', 'notes'])}/{rng.randint(1, 99)}.html">&larr; {_esc(b['prev'])}</a> <a class="next" href="/{rng.choice(['guides', 'notes'])}/{rng.randint(1, 99)}.html">{_esc(b['next'])} &rarr;</a></div>
<div class="feedback">Was this page helpful? <button>Yes</button> <button>No</button></div>
</main>
</div>
<footer class="footer">
<p>&copy; {c['year']} {c['site']}. {_esc(b['rights'])} Code samples are licensed under the MIT License.</p>
<p>{c['footer_links']}</p>
</footer>
<script src="/assets/highlight.min.js"></script>
</body>
</html>
"""


def _theme_portal(gen: _Generator, doc: _Doc, article: str) -> str:
    c = _chrome(gen, doc)
    b, rng = c["b"], gen.rng
    cats = "".join(f'<li><a href="/index.php?cat={i}">{_esc(x)}</a></li>' for i, x in enumerate(doc.site.nav[1:8], 1))
    return f"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="{c['lang']}" lang="{c['lang']}">
<head>
<meta http-equiv="Content-Type" content="text/html; charset={c['charset']}" />
<title>{c['site']} :: {c['title']}</title>
<link href="/css/style.css" rel="stylesheet" type="text/css" />
<script type="text/javascript" src="/js/jquery-1.4.2.min.js"></script>
</head>
<body>
<div id="wrapper">
<div id="header"><h1 class="logo"><a href="/">{c['site']}</a></h1><div class="slogan">{_esc(doc.site.tagline)}</div></div>
<nav id="menu"><ul>
{c['nav']}
</ul></nav>
<div id="left">
<div class="box"><h3>{_esc(b['categories'])}</h3><ul>{cats}</ul></div>
<div class="box"><h3>{_esc(b['login'])}</h3><form action="/login.php" method="post"><input name="user" /> <input type="password" name="pass" /> <input type="submit" value="OK" /></form></div>
</div>
<div id="main">
<div class="post">
<h2 class="title">{c['title']}</h2>
<div class="date">{c['date']} | {_esc(b['by'])} {c['author']}</div>
<div class="entry">
{article}
</div>
<p class="links"><a href="/index.php?cat=1">{_esc(b['read_more'])}</a> | <a href="#comments">{_esc(b['comments'])} ({rng.randint(0, 40)})</a></p>
</div>
</div>
<div id="right">
<div class="box"><h3>{_esc(b['popular'])}</h3><ul>{''.join('<li>' + link + '</li>' for link in c['links'])}</ul></div>
<div class="box ad">{_esc(b['advert'])}<br /><a href="http://ads.example.net/click?id={rng.randint(1000, 99999)}"><img src="/banners/{c['h']}.gif" alt="" /></a></div>
</div>
<div id="footer"><p>Copyright &copy; {doc.site.founded}-{c['year']} {c['site']}. {_esc(b['rights'])} | {c['footer_links']}</p><p>Design by <a href="#">Free CSS Templates</a></p></div>
</div>
<div id="cookie-bar">{c['cookie']}</div>
</body>
</html>
"""


def _theme_spam(gen: _Generator, doc: _Doc, article: str) -> str:
    c = _chrome(gen, doc)
    rng = gen.rng
    spam = gen.lex["spam"]
    kws = rng.sample(spam["keywords"], 10)
    nav = " | ".join(f'<a href="/{_slug(k)}.html">{_esc(_title_case(k))}</a>' for k in kws)
    side = "".join(f'<li><a href="http://{rng.choice(spam["domains"])}/?ref={rng.randint(1, 999)}">{_esc(_title_case(k))}</a></li>'
                   for k in rng.sample(spam["keywords"], 8))
    return f"""<html>
<head>
<meta charset="{c['charset']}">
<title>{c['title']}</title>
<meta name="keywords" content="{_attr(', '.join(kws))}">
</head>
<body bgcolor="#000000" text="#ffff00">
<nav class="nav">{nav}</nav>
<div class="header"><h1>{c['title']}</h1></div>
<div class="cookie">{c['cookie']}</div>
<div class="content">
{article}
</div>
<div class="sidebar"><h3>Top Links</h3><ul>{side}</ul></div>
<div class="footer">&copy; {c['year']} {_esc(doc.site.domain)}. All rights reserved. {c['footer_links']}</div>
</body>
</html>
"""


_THEMES = {"news": _theme_news, "blog": _theme_blog, "docs": _theme_docs, "portal": _theme_portal, "spam": _theme_spam}


