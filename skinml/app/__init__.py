"""Streamlit helpers shared by the pages: the only package that imports streamlit."""

from __future__ import annotations

import streamlit as st

from skinml import DISCLAIMER


def setup_page(title: str, icon: str = "🔬") -> None:
    """Page config plus the teaching-tool disclaimer that every page shows."""
    st.set_page_config(page_title=f"{title} · skinml", page_icon=icon, layout="wide")
    st.title(title)
    st.caption(f"⚠️ {DISCLAIMER}")


def show_error(exc: Exception) -> None:
    """Show a SkinmlError as its sentence; anything else as a short, honest message."""
    from skinml.errors import SkinmlError

    if isinstance(exc, SkinmlError):
        st.error(str(exc))
    else:
        st.error(f"Something went wrong: {type(exc).__name__}: {exc}")
