"""Tour text: Markdown rendered to HTML, then sanitised. Framework-free.

Authors are trusted staff, but tour files travel (repositories, imports) and a generated
tour quotes trace data, so the HTML is cleaned as if it were hostile: an allow-list of tags
and attributes (nh3), links only to http(s), mailto or relative URLs, no event handlers, no
scripts, no styles (the CSP forbids inline styles anyway).
"""

from __future__ import annotations

import re

import markdown
import nh3

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
URL_SCHEMES = {"http", "https", "mailto"}


# Markdown's backslash escapes, plus "<" and "&" as entities (raw HTML such as <a href> would
# pass the allow-list).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>])")


def plain(text: str) -> str:
    """Text from a trace, made inert for Markdown: rendered, it reads the same and links,
    emphasis, images and HTML in it stay literal characters."""
    text = (text or "").replace("&", "&amp;").replace("<", "&lt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def render_markdown(text: str) -> str:
    """Safe HTML from Markdown. Raw HTML in the source is kept only where the allow-list
    permits; everything else is removed (scripts with their content) or made inert."""
    html = markdown.markdown(text or "", extensions=["tables", "sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
