"""Streamlit helpers shared by the pages: the only package that imports streamlit."""

from __future__ import annotations

import streamlit as st

from skinml import DISCLAIMER
from skinml.errors import SkinmlError


def setup_page(title: str, icon: str = "🔬") -> None:
    """Page config plus the teaching-tool disclaimer that every page shows."""
    st.set_page_config(page_title=f"{title} · skinml", page_icon=icon, layout="wide")
    st.title(title)
    st.caption(f"⚠️ {DISCLAIMER}")


def show_error(exc: SkinmlError) -> None:
    """Show an error a user can cause (bad folder, unreadable photo, missing model) as its sentence.

    Pages catch SkinmlError only: any other exception is a bug, and Streamlit shows it as one.
    """
    st.error(str(exc))
