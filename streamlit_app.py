"""The dashboard's entry point, `streamlit run streamlit_app.py`: the sidebar's pages, Home first.

Every file `pages/<n>_<Title>.py` is a page, titled and addressed by its name (`/Data`,
`/Try_a_lesion_photo`, ...), in the order of its number; `pages/0_Home.py` is the start page.
Below the page list, the sidebar shows the session's dataset and data rules (`skinml.app.session`).
"""

from pathlib import Path

import streamlit as st

from skinml.app.session import sidebar_ui

PAGES = Path(__file__).resolve().parent / "pages"

home = st.Page(PAGES / "0_Home.py", title="Home", icon="🔬", default=True)
others = [st.Page(path) for path in sorted(PAGES.glob("[1-9]_*.py"))]
page = st.navigation([home, *others])
sidebar = st.sidebar.empty()
sidebar_ui(sidebar)  # before the page, in case it stops early ...
page.run()
sidebar_ui(sidebar)  # ... and again after it, so that it shows what the page just chose
