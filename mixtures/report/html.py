"""Small, escaping HTML builders for the self-contained report (inline CSS, base64 PNG images)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; }
td.text, th.text { text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
.empty { color: #777; font-style: italic; }
.note { color: #555; font-size: 0.85em; }
.good { color: #1a7f37; font-weight: bold; }
.bad { color: #b42318; font-weight: bold; }
figure { margin: 0.8em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.8em; color: #555; }
nav a { margin-right: 1em; }
div.scroll { overflow-x: auto; }
pre { background: #f6f8fa; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
"""


def esc(value: Any) -> str:
    """Any value as escaped HTML text."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 4) -> str:
    """A cell value as text: floats with ``digits`` significant digits, missing as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.{digits}g}"
    if hasattr(value, "item"):  # numpy scalar
        return fmt(value.item(), digits)
    return str(value)


def table(frame: pd.DataFrame, digits: int = 4, links: dict[str, str] | None = None) -> str:
    """A DataFrame as an HTML table; object columns left-aligned. ``links`` maps a cell text to a URL."""
    links = links or {}
    text_cols = {c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])}
    head = "".join(f'<th class="{"text" if c in text_cols else "num"}">{esc(c)}</th>' for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, record):
            text = fmt(value, digits)
            body = f'<a href="{esc(links[text])}">{esc(text)}</a>' if text in links else esc(text)
            cells.append(f'<td class="{"text" if column in text_cols else "num"}">{body}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def image(png: bytes, alt: str, caption: str = "") -> str:
    """A PNG embedded as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{data}">{cap}</figure>'


def figure(fig: Any, alt: str, caption: str = "") -> str:
    """A matplotlib figure embedded as a PNG."""
    from mixtures.plots import png_bytes

    return image(png_bytes(fig), alt, caption)


def paragraph(text: str, cls: str | None = None) -> str:
    return f'<p class="{esc(cls)}">{esc(text)}</p>' if cls else f"<p>{esc(text)}</p>"


def empty(text: str) -> str:
    """The message a section shows when its runs are absent."""
    return paragraph(text, "empty")


def section(anchor: str, title: str, parts: Iterable[str]) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{"".join(parts)}</section>'


def page(title: str, header: str, sections: list[tuple[str, str, str]]) -> str:
    """The whole document: ``sections`` are (anchor, title, html)."""
    nav = "".join(f'<a href="#{esc(anchor)}">{esc(name)}</a>' for anchor, name, _ in sections)
    body = "".join(part for _, _, part in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body><h1>{esc(title)}</h1>{header}<nav>{nav}</nav>{body}</body></html>\n"
    )
