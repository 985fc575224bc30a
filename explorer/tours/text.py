"""Tour text: Markdown rendered to HTML, then sanitised. Framework-free.

Authors are trusted staff, but tour files travel (repositories, imports) and a generated
tour quotes trace data, so the HTML is cleaned as if it were hostile: an allow-list of tags
and attributes (nh3), no event handlers, no scripts, no styles (the CSP forbids inline
styles anyway). Only links to the explorer's own pages stay live: a relative URL without a
scheme (`/orders/A-1/`, `../map/`, `#step-2`). Any other link (`https://…`, protocol-relative
`//evil`, a slash and a backslash, which browsers read as `//`, `javascript:`, `data:`,
`mailto:`) keeps its text and loses its address, so a tour read by new staff never sends them
off-site.
"""

from __future__ import annotations

import re

import markdown
import nh3

from explorer.traces.visible import visible

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "b",
    "i",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "kbd",
    "abbr",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES: set[str] = set()  # no absolute URL at all: see own_page_link
# Before a URL's first "/", "?" or "#": a ":" there makes it absolute (a scheme).
_SCHEME_PART = re.compile(r"[^/?#]*")


# Markdown's backslash escapes, plus "<" and "&" as entities (raw HTML such as <a href> would
# pass the allow-list).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>])")


def plain(text: str) -> str:
    """Text from a trace, made inert for Markdown: rendered, it reads the same and links,
    emphasis, images and HTML in it stay literal characters."""
    text = (text or "").replace("&", "&amp;").replace("<", "&lt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def own_page_link(url: str) -> bool:
    """True for a relative URL of this site: no scheme, not protocol-relative. Browsers drop
    tabs and line breaks inside URLs and read "\\" as "/", so a URL with any whitespace,
    control character or backslash is refused whole."""
    if not url or url.startswith("//"):
        return False
    if any(ch == "\\" or ch.isspace() or not ch.isprintable() for ch in url):
        return False
    scheme_part = _SCHEME_PART.match(url)
    assert scheme_part is not None  # a `*` pattern matches the empty start too
    return ":" not in scheme_part.group()


def _keep_own_links(tag: str, attribute: str, value: str) -> str | None:
    if tag == "a" and attribute == "href" and not own_page_link(value):
        return None
    return value


def render_markdown(text: str) -> str:
    """Safe HTML from Markdown. Raw HTML in the source is kept only where the allow-list
    permits; everything else is removed (scripts with their content) or made inert."""
    html = markdown.markdown(text or "", extensions=["tables", "sane_lists"], output_format="html")
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        attribute_filter=_keep_own_links,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return visible(cleaned)  # ESC, BEL, U+202E from a tour file as symbols
