"""Plotly figures for the dashboard: functions that return figures, never call Streamlit."""

from __future__ import annotations

import html

import pandas as pd


def as_text(values: pd.Series) -> pd.Series:
    """Metadata values made safe for a Plotly label, tick or hover: Plotly renders <a>, <b>,
    <br> and other tags in those, so '<', '>' and '&' become entities, which it shows as the
    characters themselves."""
    return values.astype(str).map(lambda v: html.escape(v, quote=False))
