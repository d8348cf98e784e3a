"""The dashboard's entry point, `streamlit run streamlit_app.py`: the sidebar's pages, Home first.

Every file `pages/<n>_<Title>.py` is a page, titled and addressed by its name (`/Data`,
`/Try_a_lesion_photo`, ...), in the order of its number; `pages/0_Home.py` is the start page.
"""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parent / "pages"

home = st.Page(PAGES / "0_Home.py", title="Home", icon="🔬", default=True)
others = [st.Page(path) for path in sorted(PAGES.glob("[1-9]_*.py"))]
st.navigation([home, *others]).run()
