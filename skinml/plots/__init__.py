"""Plotly figures for the dashboard: functions that return figures, never call Streamlit."""

from __future__ import annotations

import html
import textwrap

import pandas as pd

# A legend in one row under the chart: at 390 px a legend beside the chart takes half its width
# (the bars and their labels were squeezed and cut).
LEGEND_BELOW = dict(orientation="h", yanchor="top", y=-0.25, xanchor="left", x=0, title_text="")


def as_text(values: pd.Series) -> pd.Series:
    """Metadata values made safe for a Plotly label, tick or hover: Plotly renders <a>, <b>,
    <br> and other tags in those, so '<', '>' and '&' become entities, which it shows as the
    characters themselves."""
    return values.astype(str).map(lambda v: html.escape(v, quote=False))


def wrapped_text(values: pd.Series, width: int = 18) -> pd.Series:
    """`as_text` of each value, on lines of at most `width` characters joined by Plotly's <br>
    (between words and after hyphens; a longer word stays whole), so that a long tick label such
    as a source's name stays whole on a phone instead of being cut at the chart's edge."""
    def wrap(value: str) -> str:
        lines = textwrap.wrap(value, width, break_long_words=False, break_on_hyphens=True) or [value]
        return "<br>".join(html.escape(line, quote=False) for line in lines)

    values = values.astype(str)
    return values.map({value: wrap(value) for value in values.unique()})  # each distinct value once
