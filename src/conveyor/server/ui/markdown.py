"""Step summaries (``GITHUB_STEP_SUMMARY``) rendered from Markdown and sanitised.

markdown-it renders CommonMark plus tables (raw HTML allowed, as GitHub allows
some); nh3 then keeps only harmless tags and attributes, so a summary can never
run script or restyle the page.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "s",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align"},
    "th": {"align"},
    "code": {"class"},
}

_renderer = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


def render_summary(markdown: str) -> str:
    """Safe HTML for a step summary written in Markdown."""
    return nh3.clean(
        _renderer.render(markdown),
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
