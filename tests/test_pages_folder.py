"""Why the pages live in app_pages/, not pages/ (docs/ARCHITECTURE.md): with a folder named `pages`
beside the entry script, Streamlit (1.67) runs the page file itself, without the entry script's
navigation, sidebar and error guard, for every run before `st.navigation` has first been called in
the process: the first visit after a server start when it is a deep link, and every AppTest page
switch. This test shows the case on a two-page app; when a Streamlit release ends it, the test
fails and the folder can take the design card's name."""

import pytest

pytest.importorskip("streamlit")

ENTRY = '''
from pathlib import Path
import streamlit as st
PAGES = Path(__file__).parent / "{folder}"
page = st.navigation([st.Page(PAGES / "0_Home.py", title="Home", default=True), st.Page(PAGES / "1_Other.py")])
st.sidebar.caption("drawn by the entry script")
page.run()
'''


def other_page_sidebar(tmp_path, folder: str) -> list[str]:
    """The sidebar captions when the app opens its second page, with its pages in `folder`."""
    from streamlit.testing.v1 import AppTest

    (tmp_path / folder).mkdir()
    (tmp_path / folder / "0_Home.py").write_text("import streamlit as st\nst.title('Home')\n")
    (tmp_path / folder / "1_Other.py").write_text("import streamlit as st\nst.title('Other')\n")
    (tmp_path / "app.py").write_text(ENTRY.format(folder=folder))
    at = AppTest.from_file(str(tmp_path / "app.py"), default_timeout=30).run()
    at.switch_page(f"{folder}/1_Other.py").run()
    assert not at.exception and [t.value for t in at.title] == ["Other"]
    return [c.value for c in at.sidebar.caption]


def test_a_pages_folder_runs_its_page_without_the_entry_script(tmp_path):
    assert other_page_sidebar(tmp_path, "pages") == []  # the page alone: no sidebar of the entry script
    (tmp_path / "b").mkdir()
    assert other_page_sidebar(tmp_path / "b", "app_pages") == ["drawn by the entry script"]
