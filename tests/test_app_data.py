"""The home page and the Data page under Streamlit's AppTest: no exception, the right content."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from fixtures_layouts import make_isic_cli
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 60


def run_page(page: str, data_dir: Path | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / page), default_timeout=TIMEOUT)
    if data_dir is not None:
        at.session_state["data_dir"] = str(data_dir)
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def text(markdown: str) -> str:
    """What a reader sees of Markdown whose user text was escaped (skinml.app.plain; its invisible word
    joiners, which keep bare addresses from becoming links, left out)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


@pytest.fixture(scope="module")
def problem_dir(tmp_path_factory) -> Path:
    return make_isic_cli(tmp_path_factory.mktemp("app-isic"), "new")


def test_home_shows_data_model_and_disclaimer(demo_dir):
    at = run_page("streamlit_app.py", demo_dir)
    assert_clean(at)
    assert any("not a medical device" in c.value for c in at.caption)
    assert [m.value for m in at.metric][:3] == ["60", "31", "29"]
    assert any("isic image download" in c.value for c in at.code)
    model_shipped = (REPO / "skinml" / "assets" / "classifier" / "model.json").is_file()
    assert model_shipped or any("not yet" in i.value for i in at.info)


def test_home_rounds_the_shipped_models_figures_and_dumps_no_json(demo_dir):
    from skinml.cnn.classifier import read_info

    info, metrics = read_info()
    if not info:
        pytest.skip("no shipped classifier in this copy")
    at = run_page("streamlit_app.py", demo_dir)
    assert_clean(at)
    threshold = f"**{info['threshold']:.0%}**"  # e.g. 43%, never 0.4313107307649782
    assert any(threshold in m.value for m in at.markdown)
    assert not any(str(info["threshold"]) in m.value for m in at.markdown)
    shown = {m.label: m.value for m in at.metric}
    assert shown["AUC"] == f"{metrics['test']['auc']:.2f}" and shown["Sensitivity"].endswith("%")
    assert not at.get("json")


def test_navigation_starts_on_home_and_reaches_every_page(monkeypatch):
    """streamlit_app.py names its start page "Home" (not "streamlit app") and lists every page file."""
    import streamlit as st

    offered = []

    class Recorder:
        def __init__(self, pages):
            offered.extend(pages)

        def run(self):
            pass

    monkeypatch.setattr(st, "navigation", Recorder)
    assert_clean(run_page("streamlit_app.py"))
    assert offered[0].title == "Home" and offered[0].url_path == ""  # the start page, at the root address
    files = sorted(p.stem.split("_", 1)[1].replace("_", " ") for p in (REPO / "app_pages").glob("[1-9]_*.py"))
    assert sorted(page.title for page in offered[1:]) == files
    assert "Try_a_lesion_photo" in [page.url_path for page in offered]  # the address the browser test opens


def test_home_path_box_opens_a_folder(demo_dir, problem_dir, tmp_path):
    at = run_page("streamlit_app.py", demo_dir)
    at.text_input[0].set_value(str(tmp_path / "nope")).run()
    assert_clean(at)
    assert "is not a folder" in at.error[0].value
    assert at.session_state["data_dir"] == str(demo_dir)
    at.text_input[0].set_value(str(problem_dir)).run()
    assert_clean(at)
    assert at.session_state["data_dir"] == str(problem_dir)
    assert [m.value for m in at.metric][3] == "9"  # the planted problems


def test_home_defaults_to_a_dataset(monkeypatch, demo_dir):
    monkeypatch.setenv("SKINML_DATA", str(demo_dir))
    at = run_page("streamlit_app.py")
    assert_clean(at)
    assert at.session_state["data_dir"] == str(demo_dir)


def test_data_page_with_problems(problem_dir):
    at = run_page("app_pages/1_Data.py", problem_dir)
    assert_clean(at)
    assert any("isic-cli" in c.value for c in at.caption)
    assert any("8 benign" in m.value and "7 malignant" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) >= 7
    assert at.metric[0].value == "0"  # group overlap
    problems = at.dataframe[-1].value
    assert set(problems["reason"]) >= {"empty file", "truncated image", "undecodable image",
                                       "missing image", "no metadata row", "duplicate id",
                                       "unsafe id", "unusable age", "unusable label"}
    assert len(at.get("image")) == 12  # the sample grid


def test_data_page_filters(problem_dir):
    at = run_page("app_pages/1_Data.py", problem_dir)
    at.multiselect(key="policy_sources").set_value(["SONIC"]).run()
    assert_clean(at)
    assert any("6 benign" in m.value and "attribution = SONIC" in text(m.value) for m in at.markdown)
    at.checkbox(key="policy_dermoscopic").uncheck().run()
    at.multiselect(key="policy_labels").set_value(["benign", "malignant", "indeterminate"]).run()
    assert_clean(at)
    assert any("7 benign" in m.value and "2 indeterminate" in m.value for m in at.markdown)
    at.text_input(key="policy_extra").set_value("colour=red").run()
    assert any("Ignored" in w.value for w in at.warning)


def test_data_page_bad_folder(tmp_path, demo_dir):
    at = run_page("app_pages/1_Data.py", demo_dir)
    at.text_input(key="dataset_path").set_value(str(tmp_path)).run()
    assert_clean(at)
    assert "No ISIC dataset" in at.error[0].value


@pytest.mark.slow
def test_data_page_augmentation_preview(demo_dir):
    at = run_page("app_pages/1_Data.py", demo_dir)
    at.toggle(key="augment_on").set_value(True).run()
    assert_clean(at)
    captions = [i.caption for element in at.get("image") for i in element.proto.imgs]
    assert "original" in captions and "augmented 7" in captions


@pytest.mark.slow
@pytest.mark.realdata
def test_data_page_on_isic_sample(isic_sample):
    at = run_page("app_pages/1_Data.py", isic_sample)
    assert_clean(at)
    assert any("2,447 benign" in m.value and "2,443 malignant" in m.value for m in at.markdown)


# ---------------------------------------------------------------- a shared server: what visitors can reach

def rendered(markdown: str) -> str:
    """The HTML a browser makes of a Markdown string (CommonMark with GitHub's tables)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(markdown)


@pytest.fixture
def private_folder(tmp_path, monkeypatch, demo_dir):
    """A private folder elsewhere on the server (a photo and a credentials.json) outside the data roots."""
    private = tmp_path / "home" / "teacher" / "private"
    make_isic_cli(private, "new")
    (private / "credentials.json").write_text('{"id": "secret-id-123"}')
    monkeypatch.setenv("SKINML_DATA_ROOTS", str(demo_dir))
    return private


@pytest.mark.parametrize("path", ["private", "/", "/usr", "/etc"])
def test_home_and_data_pages_refuse_folders_outside_the_data_roots(private_folder, demo_dir, path):
    typed = str(private_folder) if path == "private" else path
    at = run_page("streamlit_app.py", demo_dir)
    at.text_input[0].set_value(typed).run()
    assert_clean(at)
    assert "outside the data folders this server shares" in text(at.error[0].value)
    assert at.session_state["data_dir"] == str(demo_dir)
    data = run_page("app_pages/1_Data.py", demo_dir)
    data.text_input(key="dataset_path").set_value(typed).run()
    assert_clean(data)
    assert "outside the data folders" in text(data.error[0].value)
    assert not data.get("image") and "secret-id" not in str([e.proto for e in data.main])


def test_metadata_values_are_shown_as_text_not_markup(tmp_path):
    """A metadata value `![t](http://host/x.png)` made every viewer's browser fetch that host; an
    <a href> in the source column became a link in a chart."""
    root = make_isic_cli(tmp_path / "hostile", "new")
    meta = pd.read_csv(root / "metadata.csv", dtype=str, keep_default_na=False)
    image = "![t](http://evil.example/x.png)"
    link = '<a href="http://evil.example">click</a>'
    for column in [c for c in meta.columns if c.startswith("diagnosis_") and c != "diagnosis_1"]:
        meta[column] = image  # a diagnosis skinml does not know is shown as written in every image caption
    meta["attribution"] = link
    meta.to_csv(root / "metadata.csv", index=False)
    at = run_page("app_pages/1_Data.py", root)
    assert_clean(at)
    captions = [i.caption for element in at.get("image") for i in element.proto.imgs]
    assert captions and all(image.lower() in text(c) for c in captions)  # the value, as written
    for c in captions:
        html = rendered(c)
        assert "<img" not in html and "<a " not in html and "evil.example" in html
    charts = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "evil.example" in charts and '<a href=\\"http://evil' not in charts
    assert "&lt;a\\u003cbr\\u003ehref" in charts  # escaped, and wrapped on two lines (#23: long names were cut)
    at.multiselect(key="policy_sources").set_value([link]).run()  # excluding it names it in a sentence
    assert_clean(at)
    usable = next(m.value for m in at.markdown if m.value.startswith("Usable"))
    assert "<a " not in rendered(usable) and "attribution = " + link in text(usable)


def test_the_sidebar_shows_an_excluded_source_as_text(tmp_path):
    """Excluding a source whose name was `![t](http://host/x.png)` put that image in the sidebar of every
    page (the rules are drawn there as Markdown), so the visitor's browser fetched the host."""
    root = make_isic_cli(tmp_path / "hostile-sidebar", "new")
    meta = pd.read_csv(root / "metadata.csv", dtype=str, keep_default_na=False)
    image = "![t](http://evil.example/x.png)"
    meta["attribution"] = image
    meta.to_csv(root / "metadata.csv", index=False)
    at = run_page("streamlit_app.py", root)
    at.switch_page("app_pages/1_Data.py").run()
    at.multiselect(key="policy_sources").set_value([image]).run()
    assert_clean(at)
    (caption,) = [c.value for c in at.sidebar.caption if "Rules" in c.value]
    assert "<img" not in rendered(caption) and "attribution = " + image in text(caption)


def csv_folder(root: Path, content: bytes) -> Path:
    make_isic_cli(root, "new")
    (root / "metadata.csv").write_bytes(content)
    return root


BAD_TABLES = {  # what visitors' folders held, and what the Data page says
    "latin-1": ("isic_id,benign_malignant,diagnosis\nISIC_B1,benign,n\xe6vus\n".encode("latin-1"), None),
    "utf-16": ("isic_id,benign_malignant\nISIC_B1,benign\n".encode("utf-16"), None),
    "semicolons": (b"isic_id;benign_malignant\nISIC_B1;benign\n", None),
    "empty": (b"", "is empty"),
    "no id column": (b"photo,benign_malignant\nB1,benign\n", "has no image id column"),
}


@pytest.mark.parametrize("variant", BAD_TABLES)
def test_every_metadata_table_is_read_or_a_sentence_never_a_traceback(tmp_path, demo_dir, variant):
    content, sentence = BAD_TABLES[variant]
    root = csv_folder(tmp_path / variant, content)
    at = run_page("app_pages/1_Data.py", demo_dir)
    at.text_input(key="dataset_path").set_value(str(root)).run()
    assert_clean(at)
    if sentence:
        assert sentence in text(at.error[0].value) and "metadata.csv" in text(at.error[0].value)
        assert at.session_state["data_dir"] == str(demo_dir)  # the bad folder never becomes the session's
    else:
        assert not at.error and at.session_state["data_dir"] == str(root)
    home = run_page("streamlit_app.py", demo_dir)
    home.text_input[0].set_value(str(root)).run()
    assert_clean(home)
    assert bool(home.error) == bool(sentence)


def test_a_bug_on_a_page_is_a_short_message_with_an_id(caplog):
    """No traceback (with server paths and source lines) ever reaches a page."""
    def page():
        from skinml.app import guarded

        def broken():
            raise KeyError("/srv/skinml/secret/path.py line 12")

        guarded(broken)()

    at = AppTest.from_function(page, default_timeout=60).run()
    assert not at.exception
    message = at.error[0].value
    assert re.search(r"error [0-9a-f]{8}\)", message) and "secret" not in message and "KeyError" not in message


def test_streamlit_app_is_a_server_that_warms_up_when_imported():
    import runpy

    import streamlit as st

    from skinml.app import server

    namespace = runpy.run_path(str(REPO / "streamlit_app.py"))  # what `streamlit run` does: no page run
    app = namespace["app"]
    assert isinstance(app, st.App) and app._user_lifespan is server.lifespan


def test_data_page_reads_several_folders_as_one_and_splits_by_diagnosis(tmp_path):
    """Folders joined by os.pathsep were refused (one folder only) and the page split by label only:
    it shows what the union merged (an image in both folders counted once, the richer row kept)
    and the diagnosis task's split, train/val/test by class."""
    import os

    from skinml.data import DIAGNOSIS_CLASSES
    from skinml.data.synthetic import write_demo_dataset

    poorer = write_demo_dataset(tmp_path / "poorer", n=20, size=32, seed=1)  # the first 20 of the richer folder
    table = pd.read_csv(poorer / "metadata.csv")
    table.assign(sex="", age_approx="").to_csv(poorer / "metadata.csv", index=False)
    richer = write_demo_dataset(tmp_path / "richer", n=30, size=32, seed=1)
    table = pd.read_csv(richer / "metadata.csv")
    table.loc[25, ["diagnosis", "benign_malignant"]] = ["squamous cell carcinoma", "malignant"]  # none of the seven
    table.to_csv(richer / "metadata.csv", index=False)
    at = run_page("app_pages/1_Data.py", poorer)
    joined = f"{poorer}{os.pathsep}{richer}"
    at.text_input(key="dataset_path").set_value(joined).run()
    assert_clean(at)
    assert at.session_state["data_dir"] == joined  # the session's dataset: every page reads the union
    assert not at.error
    assert any("2 folders read as one dataset" in m.value and "**20 images** were found in more than one" in m.value
               for m in at.markdown)
    union = next(df.value for df in at.dataframe if "kept in the union" in df.value)
    assert list(union["images"]) == [20, 30] and list(union["kept in the union"]) == [0, 30]
    dx = next(df.value for df in at.dataframe if "vasc" in df.value)
    assert list(dx.index) == ["train", "val", "test", "total"] and list(dx.columns) == [*DIAGNOSIS_CLASSES, "total"]
    assert dx.loc["total", "total"] == 29 and dx.loc["total", "nv"] > 0 and dx.loc["total", "vasc"] == 0
    assert dx.loc[["train", "val", "test"], "total"].sum() == 29
    assert any("none of the seven" in c.value and "1 squamous cell carcinoma" in text(c.value) for c in at.caption)


def test_data_page_counts_the_diagnosis_split_of_one_folder(problem_dir):
    at = run_page("app_pages/1_Data.py", problem_dir)
    assert_clean(at)
    dx = next(df.value for df in at.dataframe if "vasc" in df.value)
    assert dx.loc["total"].to_dict() == {"mel": 6, "nv": 7, "bcc": 1, "akiec": 0, "bkl": 1, "df": 0, "vasc": 0,
                                         "total": 15}
    assert any("Patients / lesions in more than one split of it: 0" in c.value for c in at.caption)
    assert not any("read as one dataset" in m.value for m in at.markdown)


def test_the_diagnosis_split_is_the_one_a_run_trains_on_on_the_page_and_in_data_scan(tmp_path):
    """`data scan` split only the images of the seven classes, a run splits every usable image
    and then drops the others: with images of other diagnoses the two tables differed. The page,
    the scan and the run now count the same images per split and class."""
    from skinml.cnn.config import TrainConfig
    from skinml.cnn.splits import load_splits
    from skinml.data import scan_dataset
    from skinml.data.synthetic import write_demo_dataset

    root = write_demo_dataset(tmp_path / "with-scc", n=60, size=32, seed=1)
    table = pd.read_csv(root / "metadata.csv")
    table.loc[::5, "diagnosis"] = "squamous cell carcinoma"
    table.to_csv(root / "metadata.csv", index=False)
    run = load_splits(TrainConfig(data=str(root), task="diagnosis"))
    trained = pd.crosstab(run["split"], run["dx"])
    scanned = pd.DataFrame(scan_dataset(root)["diagnosis_splits"]).T
    at = run_page("app_pages/1_Data.py", root)
    assert_clean(at)
    shown = next(df.value for df in at.dataframe if "vasc" in df.value)
    for split in ("train", "val", "test"):
        for dx in trained.columns:
            assert scanned.loc[split, dx] == shown.loc[split, dx] == trained.loc[split, dx], (split, dx)
