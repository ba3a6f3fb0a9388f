"""The sections a report page is made of (:class:`Heading`, :class:`Paragraph`,
:class:`Table`...) and the two small renderers that turn a section list into Markdown
(:func:`to_markdown`) and a self-contained HTML page (:func:`to_html`, with its CSS).

Every string is escaped (HTML) or neutralised (Markdown), and a status only ever selects one
of the fixed :data:`CLASSES`."""

import base64
import dataclasses
import html
import os
import re
import urllib.parse

from toolkit.reports.names import fmt

# --- the sections a page is made of ------------------------------------------------------
# Inline content is a str, a number (shown through fmt), a Text, or a list of them.


@dataclasses.dataclass(frozen=True)
class Text:
    """A styled span: ``style`` "" / "code" / "strong" / "em"; ``href`` a link; ``title`` a
    hover text (HTML only); ``cls`` one of :data:`CLASSES` (HTML only)."""

    text: object
    style: str = ""
    href: str = None
    title: str = None
    cls: str = None


@dataclasses.dataclass(frozen=True)
class Heading:
    text: object
    level: int = 1


@dataclasses.dataclass(frozen=True)
class Paragraph:
    text: object
    kind: str = ""  # "", "run", "note", "error"


@dataclasses.dataclass(frozen=True)
class Bullets:
    items: list


@dataclasses.dataclass(frozen=True)
class Table:
    columns: list
    rows: list


@dataclasses.dataclass(frozen=True)
class Figure:
    file: str
    caption: str
    data: bytes


@dataclasses.dataclass(frozen=True)
class Code:
    text: str
    lang: str = ""
    summary: str = None  # HTML: folded under this summary; Markdown: a line before it


CLASSES = ("complete", "failed", "incomplete", "running", "unknown", "reproduced", "not-reproduced", "not-run")
_PARAGRAPH_CLASS = {"run": "run", "note": "note", "error": "err"}


def _status_class(status):
    return status if status in CLASSES[:5] else "unknown"


# --- the Markdown renderer -----------------------------------------------------------------
def _md_text(text, cell=False):
    """Plain text for Markdown: raw HTML and inline links neutralised; in a table cell also
    the column separator and line breaks."""
    text = str(text).replace("<", "&lt;").replace("](", "]\\(")
    if cell:
        text = text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    return text


def _md_code_span(text):
    text = str(text).replace("\n", " ")
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _md_inline(content, cell=False):
    if isinstance(content, list):
        return "".join(_md_inline(c, cell) for c in content)
    if isinstance(content, Text):
        if content.style == "code":
            out = _md_code_span(content.text).replace("|", "\\|") if cell else _md_code_span(content.text)
        else:
            out = _md_inline(content.text, cell)
            out = {"strong": f"**{out}**", "em": f"*{out}*"}.get(content.style, out) if out else out
        return f"[{out}]({_url(content.href)})" if content.href else out
    if isinstance(content, (int, float)) or content is None:
        return fmt(content)
    return _md_text(content, cell)


def to_markdown(sections):
    """Markdown of a section list."""
    lines = []
    for s in sections:
        if isinstance(s, Heading):
            lines += ["#" * s.level + " " + _md_inline(s.text, cell=True), ""]
        elif isinstance(s, Paragraph):
            text = _md_inline(s.text, cell=True)
            lines += [f"> {text}" if s.kind in ("note", "error") else text, ""]
        elif isinstance(s, Bullets):
            lines += [f"- {_md_inline(item, cell=True)}" for item in s.items] + [""]
        elif isinstance(s, Table):
            lines += [
                "| " + " | ".join(_md_inline(c, cell=True) for c in s.columns) + " |",
                "|" + "---|" * len(s.columns),
            ]
            lines += ["| " + " | ".join(_md_inline(c, cell=True) for c in row) + " |" for row in s.rows] + [""]
        elif isinstance(s, Figure):
            caption = _md_text(s.caption, cell=True).replace("[", "\\[").replace("]", "\\]")
            lines += [f"![{caption}]({_url(s.file)})", "", f"*{caption}*", ""]
        elif isinstance(s, Code):
            fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", s.text)), default=0) + 1)
            lines += ([f"{_md_text(s.summary)}:", ""] if s.summary else []) + [fence + s.lang, s.text, fence, ""]
    return "\n".join(lines)


# --- the HTML renderer ---------------------------------------------------------------------
def _url(path):
    """A relative link (folder and file names are quoted, so none can break out of the
    attribute or become a ``javascript:`` URL)."""
    return urllib.parse.quote(str(path).replace(os.sep, "/"))


def _html_inline(content):
    if isinstance(content, list):
        return "".join(_html_inline(c) for c in content)
    if isinstance(content, Text):
        attrs = ""
        if content.title is not None:
            attrs += f' title="{html.escape(str(content.title))}"'
        if content.cls in CLASSES:
            attrs += f' class="{content.cls}"'
        out = _html_inline(content.text)
        if content.href:
            out = f'<a href="{html.escape(_url(content.href))}"{attrs}>{out}</a>'
            attrs = ""
        tag = content.style if content.style in ("code", "strong", "em") else ("span" if attrs else "")
        return f"<{tag}{attrs}>{out}</{tag}>" if tag else out
    if isinstance(content, (int, float)) or content is None:
        return html.escape(fmt(content))
    return html.escape(str(content))


def _cell(tag, content):
    numeric = isinstance(content, (int, float)) and not isinstance(content, bool)
    attr = ' class="num"' if numeric else ""
    return f"<{tag}{attr}>{_html_inline(content)}</{tag}>"


def to_html(sections, title=None):
    """A self-contained HTML page of a section list (the first heading is its title)."""
    if title is None:
        title = next((s.text for s in sections if isinstance(s, Heading)), "report")
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(_plain(title))}</title>"
        f"<style>{_CSS}</style></head><body>"
    ]
    for s in sections:
        if isinstance(s, Heading):
            out.append(f"<h{s.level}>{_html_inline(s.text)}</h{s.level}>")
        elif isinstance(s, Paragraph):
            cls = _PARAGRAPH_CLASS.get(s.kind)
            attr = f' class="{cls}"' if cls else ""
            out.append(f"<p{attr}>{_html_inline(s.text)}</p>")
        elif isinstance(s, Bullets):
            out.append("<ul>" + "".join(f"<li>{_html_inline(i)}</li>" for i in s.items) + "</ul>")
        elif isinstance(s, Table):
            head = "".join(_cell("th", c) for c in s.columns)
            body = "".join("<tr>" + "".join(_cell("td", c) for c in row) + "</tr>" for row in s.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(s, Figure):
            data = base64.b64encode(s.data).decode()
            out.append(
                f"<figure><img alt=\"{html.escape(s.caption)}\" src='data:image/png;base64,{data}'>"
                f"<figcaption>{html.escape(s.caption)}</figcaption></figure>"
            )
        elif isinstance(s, Code):
            pre = f"<pre><code>{html.escape(s.text)}</code></pre>"
            out.append(f"<details><summary>{html.escape(s.summary)}</summary>{pre}</details>" if s.summary else pre)
    out.append("</body></html>")
    return "\n".join(out)


def _plain(content):
    if isinstance(content, list):
        return "".join(_plain(c) for c in content)
    return _plain(content.text) if isinstance(content, Text) else str(content)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.num{text-align:right}img{max-width:100%}
figure{margin:1.5em 0}figcaption{color:#555;font-style:italic}
.err{background:#fee;padding:.5em;border-left:4px solid #c00}
.note{background:#ffd;padding:.5em;border-left:4px solid #cc0}
.run{background:#eef4ff;padding:.5em;border-left:4px solid #36c}
pre{background:#f6f6f6;padding:.5em;overflow:auto}
.complete,.reproduced{color:#080}.failed{color:#c00}.running,.incomplete,.unknown{color:#c60}
.not-reproduced{color:#fff;background:#c00;padding:0 .3em;font-weight:bold}.not-run{color:#777;font-style:italic}
[title]{text-decoration:underline dotted}"""
