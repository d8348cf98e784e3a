"""The home page and the Data page under Streamlit's AppTest: no exception, the right content."""

from __future__ import annotations

from pathlib import Path

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
    at = run_page("pages/1_Data.py", problem_dir)
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
    at = run_page("pages/1_Data.py", problem_dir)
    at.multiselect(key="policy_sources").set_value(["SONIC"]).run()
    assert_clean(at)
    assert any("6 benign" in m.value and "attribution = SONIC" in m.value for m in at.markdown)
    at.checkbox(key="policy_dermoscopic").uncheck().run()
    at.multiselect(key="policy_labels").set_value(["benign", "malignant", "indeterminate"]).run()
    assert_clean(at)
    assert any("7 benign" in m.value and "2 indeterminate" in m.value for m in at.markdown)
    at.text_input(key="policy_extra").set_value("colour=red").run()
    assert any("Ignored" in w.value for w in at.warning)


def test_data_page_bad_folder(tmp_path, demo_dir):
    at = run_page("pages/1_Data.py", demo_dir)
    at.text_input(key="dataset_path").set_value(str(tmp_path)).run()
    assert_clean(at)
    assert "No ISIC dataset" in at.error[0].value


@pytest.mark.slow
def test_data_page_augmentation_preview(demo_dir):
    at = run_page("pages/1_Data.py", demo_dir)
    at.toggle(key="augment_on").set_value(True).run()
    assert_clean(at)
    captions = [i.caption for element in at.get("image") for i in element.proto.imgs]
    assert "original" in captions and "augmented 7" in captions


@pytest.mark.realdata
def test_data_page_on_isic_sample(isic_sample):
    at = run_page("pages/1_Data.py", isic_sample)
    assert_clean(at)
    assert any("2,447 benign" in m.value and "2,443 malignant" in m.value for m in at.markdown)
