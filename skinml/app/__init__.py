"""Streamlit helpers shared by the pages: the only package that imports streamlit."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from skinml import DISCLAIMER_LINK, SHORT_DISCLAIMER
from skinml.errors import SkinmlError

RUN_STATUS_ICONS = {"running": "🟢", "finished": "✅", "failed": "❌", "stopped": "⏹️", "interrupted": "⚠️",
                    "new": "⏳"}


def mtime_stamp(paths: list[Path]) -> int:
    """A number that changes when any of `paths` is rewritten: passed to a cached loader, so that
    its cache reads the files again (missing paths are skipped)."""
    return hash(tuple(os.stat(p).st_mtime_ns for p in paths if p.exists()))


def setup_page(title: str, icon: str = "🔬") -> None:
    """Page config plus the teaching-tool disclaimer that every page shows."""
    st.set_page_config(page_title=f"{title} · skinml", page_icon=icon, layout="wide")
    st.title(title)
    st.caption(f"⚠️ {SHORT_DISCLAIMER} [What this means]({DISCLAIMER_LINK})")


def show_error(exc: SkinmlError) -> None:
    """Show an error a user can cause (bad folder, unreadable photo, missing model) as its sentence.

    Pages catch SkinmlError only: any other exception is a bug, and Streamlit shows it as one.
    """
    st.error(str(exc))
