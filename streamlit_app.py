"""The dashboard's entry point, `streamlit run streamlit_app.py`: the sidebar's pages, Home first.

Every file `app_pages/<n>_<Title>.py` is a page, titled and addressed by its name (`/Data`,
`/Try_a_lesion_photo`, ...), in the order of its number; `app_pages/0_Home.py` is the start page.
A page's errors show as a sentence (or, for a bug, a short message with an id, the traceback
going to the server's log), never as a traceback.

This file is read twice. Streamlit first imports it to start the server: there is no page
run then, and `app` (a `streamlit.App`, Streamlit 1.5x and later) warms the model up before
the first visitor and stops training processes at shutdown (`skinml.app.server`). Then every
visit runs it as a page script, which shows the navigation.
The folder is `app_pages/`, not `pages/`: Streamlit would run a file of a `pages/` folder
directly for a deep link such as `/Convolution` (its older multipage mode), without this
navigation, sidebar and error guard.
Below the page list, the sidebar shows the session's dataset and data rules (`skinml.app.session`).
"""

from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from skinml.app import guarded
from skinml.app.session import sidebar_ui

PAGES = Path(__file__).resolve().parent / "app_pages"

if get_script_run_ctx(suppress_warning=True) is None:  # the server starting up, not a visit
    from skinml.app.server import lifespan, show_any_error

    app = st.App(__file__, lifespan=lifespan, on_script_error=show_any_error)
else:
    home = st.Page(PAGES / "0_Home.py", title="Home", icon="🔬", default=True)
    others = [st.Page(path) for path in sorted(PAGES.glob("[1-9]_*.py"))]
    page = st.navigation([home, *others])
    with st.sidebar:
        sidebar = st.empty()
    guarded(sidebar_ui)(sidebar)  # before the page, in case it stops early ...
    guarded(page.run)()
    guarded(sidebar_ui)(sidebar)  # ... and again after it, so that it shows what the page just chose
