"""Dagster metadata a person would rather look at than read: tables, images, links."""

from __future__ import annotations

import base64
import io
from typing import Any

import dagster as dg
import pandas as pd

_TYPES = {"i": "int", "u": "int", "f": "float", "b": "bool"}


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if hasattr(value, "item"):
        return value.item()
    return value if isinstance(value, (int, bool, str)) or value is None else str(value)


def table(frame: pd.DataFrame) -> dg.MetadataValue:
    """A DataFrame as a Dagster table (typed columns)."""
    columns = [dg.TableColumn(str(c), _TYPES.get(frame[c].dtype.kind, "string")) for c in frame.columns]
    records = [dg.TableRecord({str(k): _cell(v) for k, v in row.items()}) for row in frame.to_dict("records")]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A DataFrame as a GitHub-style markdown table."""
    def fmt(v: Any) -> str:
        return f"{v:.{digits}g}" if isinstance(v, float) else str(v)

    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def png_markdown(figure: Any, title: str = "") -> str:
    """A matplotlib figure as markdown with an embedded PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"![{title}](data:image/png;base64,{encoded})"


def image(figure: Any, title: str = "") -> dg.MetadataValue:
    return dg.MetadataValue.md(png_markdown(figure, title))
