"""The diagnosis task's data and measures: every vocabulary reaches the seven classes, several
folders read as one, patient metadata encoded with missing values as missing, the multi-class
figures against hand-computed values, and the ISIC 2018 Task 3 CSV against the official scorer."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fixtures_layouts import make_ham, make_isic_cli, write_image

from skinml.cli import main
from skinml.data import diagnosis_class, group_overlap, load_dataset, load_datasets, prepare, scan_dataset
from skinml.data.diagnoses import DIAGNOSIS_CLASSES, class_of, is_known
from skinml.data.tabular import METADATA_FEATURES, metadata_features, patient_table
from skinml.errors import DataError
from skinml.metrics import multiclass as mc

# ---------------------------------------------------------------- the three vocabularies


@pytest.mark.parametrize("name, expected", [
    # legacy ISIC `diagnosis`
    ("melanoma", "mel"), ("nevus", "nv"), ("seborrheic keratosis", "bkl"), ("solar lentigo", "bkl"),
    ("lichenoid keratosis", "bkl"), ("pigmented benign keratosis", "bkl"), ("actinic keratosis", "akiec"),
    ("basal cell carcinoma", "bcc"), ("dermatofibroma", "df"), ("vascular lesion", "vasc"), ("angioma", "vasc"),
    # current diagnosis_2..5, subtypes found by the name before the first comma
    ("Melanoma, NOS", "mel"), ("Melanoma Invasive, Superficial spreading", "mel"), ("Melanoma in situ", "mel"),
    ("Nevus, NOS, Junctional", "nv"), ("Blue nevus", "nv"), ("Solar or actinic keratosis", "akiec"),
    ("Squamous cell carcinoma in situ, Bowens disease", "akiec"), ("Hemangioma, Cherry", "vasc"),
    ("Benign soft tissue proliferations - Vascular", "vasc"), ("Lichen planus like keratosis", "bkl"),
    # none of the seven, deliberately
    ("squamous cell carcinoma", ""), ("Squamous cell carcinoma, Invasive", ""), ("lentigo NOS", ""),
    ("atypical melanocytic proliferation", ""), ("Scar", ""), ("", ""),
])
def test_every_vocabulary_maps_to_the_seven_classes(name, expected):
    assert class_of(name) == expected
    assert is_known(name)


def test_unknown_names_are_not_known():
    assert not is_known("weird lesion") and class_of("weird lesion") == ""
    assert is_known("unknown")  # ISIC 2020's "unknown" means no diagnosis given


def _class_by_id(df: pd.DataFrame) -> dict[str, str]:
    return dict(zip(df["isic_id"], diagnosis_class(df)))


def test_the_same_lesions_in_ham_codes_legacy_names_and_the_current_hierarchy(tmp_path):
    """Legacy `diagnosis` and diagnosis_1..5 folders of the same rows give the same classes."""
    legacy = load_dataset(make_isic_cli(tmp_path / "legacy", "legacy"), verify=False)
    current = load_dataset(make_isic_cli(tmp_path / "new", "new"), verify=False)
    expected = {"B1": "nv", "B4": "bkl", "M1": "mel", "M4": "bcc", "I1": "akiec", "I2": "", "U1": ""}
    for df in (legacy, current):
        got = _class_by_id(df)
        assert {i: got[i] for i in expected} == expected
        assert not [p for p in df.attrs["problems"] if p["reason"] == "unknown diagnosis"]
    assert current.set_index("isic_id").loc["M1", "diagnosis"] == "melanoma invasive, superficial spreading"
    ham = load_dataset(make_ham(tmp_path / "ham"), verify=False)
    assert _class_by_id(ham).items() >= {"ISIC_0000001": "nv", "ISIC_0000004": "bkl", "ISIC_0000005": "df",
                                      "ISIC_0000006": "vasc", "ISIC_0000007": "mel", "ISIC_0000009": "bcc",
                                      "ISIC_0000010": "akiec", "ISIC_0000012": ""}.items()


def _write_isic(root, rows: list[dict]) -> None:
    """An isic-cli folder of the given metadata rows, each with a 64 px image."""
    root.mkdir(parents=True, exist_ok=True)
    for k, row in enumerate(rows):
        write_image(root / f"{row['isic_id']}.jpg", malignant=row.get("benign_malignant") == "malignant", seed=k)
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)


def test_unknown_diagnoses_are_reported_never_dropped(tmp_path, capsys):
    _write_isic(tmp_path, [
        {"isic_id": "ISIC_1", "diagnosis_1": "Benign", "diagnosis_3": "Nevus", "diagnosis_4": "Nevus, Spitz"},
        {"isic_id": "ISIC_2", "diagnosis_1": "Malignant", "diagnosis_3": "Squamous cell carcinoma, Invasive"},
        {"isic_id": "ISIC_3", "diagnosis_1": "Benign", "diagnosis_3": "Weird lesion"},
        {"isic_id": "ISIC_4", "diagnosis_1": "Benign", "diagnosis_2": "Benign soft tissue proliferations - Vascular"},
    ])
    df = load_dataset(tmp_path)
    assert _class_by_id(df) == {"ISIC_1": "nv", "ISIC_2": "", "ISIC_3": "", "ISIC_4": "vasc"}
    unknown = [p for p in df.attrs["problems"] if p["reason"] == "unknown diagnosis"]
    assert [(p["id"], "weird lesion" in p["detail"]) for p in unknown] == [("ISIC_3", True)]
    assert len(df) == 4  # kept for benign/malignant
    report = scan_dataset(tmp_path, balance=False)
    assert report["diagnoses_left_out"] == {"squamous cell carcinoma, invasive": 1, "weird lesion": 1}
    assert report["problem_counts"] == {"unknown diagnosis": 1}
    assert main(["data", "scan", str(tmp_path), "--no-balance"]) == 0
    out = capsys.readouterr().out
    assert "unknown diagnosis: ISIC_3 ('weird lesion'" in out
    assert "not one of the seven (left out of the diagnosis task): 1 squamous cell carcinoma, invasive, " \
           "1 weird lesion" in out


# ---------------------------------------------------------------- several folders as one

@pytest.fixture(scope="module")
def two_folders(tmp_path_factory):
    """HAM10000 (fixture) and an isic-cli folder sharing two ids and one lesion."""
    root = tmp_path_factory.mktemp("union")
    ham = make_ham(root / "ham")
    rows = [  # ISIC_0000001 is poorer here than in HAM, ISIC_0000007 richer (patient, skin type)
        {"isic_id": "ISIC_0000001", "benign_malignant": "benign", "diagnosis": "nevus"},
        {"isic_id": "ISIC_0000007", "benign_malignant": "malignant", "diagnosis": "melanoma", "age_approx": "60",
         "sex": "male", "anatom_site_general": "posterior torso", "lesion_id": "HAM_0000006", "patient_id": "P9",
         "image_type": "dermoscopic", "source": "MSK", "copyright_license": "CC-0", "fitzpatrick_skin_type": "II"},
        {"isic_id": "ISIC_0000101", "benign_malignant": "malignant", "diagnosis": "melanoma", "age_approx": "61",
         "lesion_id": "HAM_0000006", "image_type": "dermoscopic"},  # the same lesion as two HAM images
        *({"isic_id": f"ISIC_00002{k:02d}", "benign_malignant": "benign", "diagnosis": dx,
           "lesion_id": f"L{k}", "image_type": "dermoscopic"}
          for k, dx in enumerate(["nevus", "seborrheic keratosis", "dermatofibroma", "vascular lesion"] * 3)),
    ]
    isic = root / "isic"
    _write_isic(isic, rows)
    return isic, ham


def test_several_folders_join_on_the_isic_id_keeping_the_richest_row(two_folders):
    isic, ham = two_folders
    a, b = load_dataset(isic, verify=False), load_dataset(ham, verify=False)
    union = load_datasets([isic, ham])
    assert union["isic_id"].is_unique
    assert set(union["isic_id"]) == set(a["isic_id"]) | set(b["isic_id"])
    assert union.attrs["merged"] == 2 and len(union) == len(a) + len(b) - 2
    row = union.set_index("isic_id")
    assert row.loc["ISIC_0000001", "lesion_id"] == "HAM_0000001"  # HAM's row had more
    assert row.loc["ISIC_0000001", "attribution"] == "HAM10000"
    assert row.loc["ISIC_0000007", ["patient_id", "fitzpatrick_skin_type"]].tolist() == ["P9", "II"]
    folders = [(f["n_images"], f["n_kept"]) for f in union.attrs["folders"]]
    assert folders == [(len(a), len(a) - 1), (len(b), len(b) - 1)]


def test_a_lesion_split_across_folders_stays_in_one_split(two_folders):
    isic, ham = two_folders
    df = prepare([isic, ham], balance=False, seed=0, stratify="dx")
    assert df["isic_id"].is_unique and group_overlap(df) == 0
    lesion = df[df["lesion_id"] == "HAM_0000006"]
    assert set(lesion["isic_id"]) == {"ISIC_0000007", "ISIC_0000008", "ISIC_0000101"}  # from both folders
    assert lesion["split"].nunique() == 1


def test_scan_of_several_folders_reports_the_union(two_folders, capsys):
    isic, ham = two_folders
    assert main(["data", "scan", str(isic), str(ham), "--json", "--no-balance"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["merged"] == 2 and [f["layout"] for f in report["folders"]] == ["isic-cli", "ham10000"]
    assert report["layout"] == "isic-cli + ham10000"
    union = load_datasets([isic, ham])
    usable = union[union["image_path"] != ""]
    assert sum(report["diagnoses"].values()) == int(diagnosis_class(usable).isin(DIAGNOSIS_CLASSES).sum())
    per_split = pd.DataFrame(report["diagnosis_splits"])
    assert per_split.sum(axis=1).to_dict() == report["diagnoses"]
    assert report["diagnosis_group_overlap"] == 0
    assert main(["data", "scan", str(isic), str(ham)]) == 0
    out = capsys.readouterr().out
    assert "2 folders joined on the ISIC id: 2 rows were in more than one folder" in out
    assert "diagnosis split" in out


def test_scan_of_a_missing_folder_among_several_is_a_sentence(two_folders, tmp_path, capsys):
    isic, _ = two_folders
    assert main(["data", "scan", str(isic), str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err


# ---------------------------------------------------------------- patient metadata

def test_metadata_features_by_hand():
    table = pd.DataFrame({"age_approx": ["70", "", 30.0], "sex": ["male", "", "FEMALE"],
                          "anatom_site_general": ["back", "", "elbow"]})
    x = metadata_features(table)
    assert x.shape == (3, len(METADATA_FEATURES)) and x.dtype == np.float32
    col = {name: x[:, i] for i, name in enumerate(METADATA_FEATURES)}
    np.testing.assert_allclose(col["age"], [1.0, 0.0, -1.0])  # (age - 50) / 20; unknown: 0 ...
    np.testing.assert_array_equal(col["age_missing"], [0, 1, 0])  # ... and flagged as missing
    np.testing.assert_array_equal(col["sex_male"], [1, 0, 0])
    np.testing.assert_array_equal(col["sex_female"], [0, 0, 1])
    np.testing.assert_array_equal(col["sex_unknown"], [0, 1, 0])
    np.testing.assert_array_equal(col["site_posterior torso"], [1, 0, 0])  # HAM's "back"
    np.testing.assert_array_equal(col["site_unknown"], [0, 1, 1])  # blank, and a name no vocabulary has
    assert x[:, 2:5].sum(axis=1).tolist() == [1, 1, 1] and x[:, 5:].sum(axis=1).tolist() == [1, 1, 1]


def test_metadata_needs_its_columns():
    with pytest.raises(DataError, match="no sex, anatom_site_general column"):
        metadata_features(pd.DataFrame({"age_approx": [3.0]}))


def test_patient_table_checks_every_value():
    row = patient_table(45, "Female", "back").iloc[0]
    assert (row["age_approx"], row["sex"], row["anatom_site_general"]) == (45.0, "female", "posterior torso")
    assert patient_table().iloc[0].tolist()[1:] == ["", ""] and np.isnan(patient_table().iloc[0, 0])
    for kw, message in (({"age": -3}, "between 0 and 120"), ({"sex": "x"}, "male, female"),
                        ({"site": "elbow"}, "Unknown anatomic site 'elbow'")):
        with pytest.raises(DataError, match=message):
            patient_table(**kw)


def test_ham_sites_are_read_as_isic_general_sites(tmp_path):
    df = load_dataset(make_ham(tmp_path), verify=False)
    assert set(df["anatom_site_general"]) == {"posterior torso"}  # HAM's localization "back"


# ---------------------------------------------------------------- multi-class figures by hand

Y = np.array([0, 0, 1, 1, 2, 2, 2])
P = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.2, 0.5, 0.3], [0.1, 0.8, 0.1],
              [0.5, 0.1, 0.4], [0.1, 0.2, 0.7], [0.2, 0.2, 0.6]])


def test_multiclass_figures_by_hand():
    # predicted: a, b, b, b, a, c, c -> confusion rows (truth) a: 1 1 0, b: 0 2 0, c: 1 0 2
    assert mc.confusion(Y, P, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert mc.balanced_accuracy(Y, P) == pytest.approx((1 / 2 + 2 / 2 + 2 / 3) / 3)
    rows = {r["class"]: r for r in mc.per_class(Y, P, ["a", "b", "c"])}
    assert [rows[c]["sensitivity"] for c in "abc"] == pytest.approx([0.5, 1.0, 2 / 3])
    assert [rows[c]["specificity"] for c in "abc"] == pytest.approx([4 / 5, 4 / 5, 1.0])
    # a: 0.7 beats all 5 negatives, 0.3 beats 4 of them -> 9/10; b likewise; c separates fully
    assert [rows[c]["auc"] for c in "abc"] == pytest.approx([0.9, 0.9, 1.0])
    assert mc.macro_auc(Y, P) == pytest.approx((0.9 + 0.9 + 1.0) / 3)
    # top-label confidence .7 .6 .5 .8 .5 .7 .6, right 1 0 1 1 0 1 1: bins 6, 7, 8 miss by .1, .3, .2
    assert mc.top_label_ece(Y, P) == pytest.approx((2 * 0.1 + 2 * 0.3 + 0.2) / 7)
    report = mc.evaluate_multiclass(Y, P, ["a", "b", "c"], malignant=["a", "c"], n_boot=200)
    assert report["accuracy"] == pytest.approx(5 / 7) and report["n"] == 7
    # p(a) + p(c) = .8 .4 .5 .2 .9 .8 .8 against truth a or c: the 0.4 loses to 0.5 only -> 9/10
    assert report["malignant_auc"] == pytest.approx(0.9)
    assert report["confusion_normalised"][2] == pytest.approx([1 / 3, 0, 2 / 3])
    low, high = report["intervals"]["balanced_accuracy"]
    assert low <= report["balanced_accuracy"] <= high
    json.dumps(report)  # JSON-ready


def test_multiclass_subgroups_by_hand():
    import pandas as pd

    meta = pd.DataFrame({"sex": ["female"] * 4 + ["male"] * 3, "age_approx": [25, 35, None, 65, 70, 75, 30]})
    rows = {(r["group"], r["value"]): r for r in mc.subgroup_rows(meta, Y, P, malignant_columns=[0, 2], min_count=3)}
    assert set(rows) == {("sex", "female"), ("sex", "male"), ("age band", "20-39"), ("age band", "60-79")}
    # female: images 0-3, truth a a b b, predicted a b b b -> sensitivity a 1/2, b 2/2
    assert rows["sex", "female"]["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    # p(a) + p(c) for images 0-3: .8 .4 .5 .2 against a a b b -> .4 loses to .5: 3/4
    assert rows["sex", "female"]["malignant_auc"] == pytest.approx(0.75)
    # male: images 4-6 are all c: one side only, no AUC; predicted a c c -> 2/3
    assert rows["sex", "male"]["malignant_auc"] is None and rows["sex", "male"]["n"] == 3
    assert rows["sex", "male"]["balanced_accuracy"] == pytest.approx(2 / 3)
    assert rows["age band", "20-39"]["n"] == 3  # 25, 35, 30; the unknown age is left out


def test_multiclass_figures_refuse_mismatched_input():
    with pytest.raises(DataError, match="7 labels need 7 rows"):
        mc.balanced_accuracy(Y, P[:5])


# ---------------------------------------------------------------- ISIC 2018 Task 3 CSV

def _dirichlet_predictions(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(7), rng.integers(0, 7, n - 7)])  # every class present
    alpha = np.ones((n, 7)) + 2.5 * np.eye(7)[y]
    return y, np.array([rng.dirichlet(a) for a in alpha])


def test_isic2018_csv_format(tmp_path):
    y, p = _dirichlet_predictions(20, 0)
    path = mc.write_isic2018_predictions_csv([f"ISIC_{i:07d}" for i in range(20)], 3 * p, tmp_path / "p.csv")
    table = pd.read_csv(path)
    assert list(table.columns) == ["image", "MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    np.testing.assert_allclose(table.iloc[:, 1:].sum(axis=1), 1.0, atol=1e-5)  # rows normalised
    np.testing.assert_allclose(table.iloc[:, 1:].to_numpy(), p, atol=1e-6)
    truth = pd.read_csv(mc.write_isic2018_truth_csv(table["image"], y, tmp_path / "t.csv"))
    assert truth.iloc[:, 1:].to_numpy().argmax(axis=1).tolist() == y.tolist()
    with pytest.raises(DataError, match="7 class probabilities"):
        mc.write_isic2018_predictions_csv(["a"], [[0.5, 0.5]], tmp_path / "x.csv")
    with pytest.raises(DataError, match="2 image ids but 1 rows"):
        mc.write_isic2018_predictions_csv(["a", "b"], p[:1], tmp_path / "x.csv")
    with pytest.raises(DataError, match="non-negative"):
        mc.write_isic2018_predictions_csv(["a"], -p[:1], tmp_path / "x.csv")


def test_isic2018_csv_agrees_with_the_official_scorer(tmp_path):
    pytest.importorskip("isic_challenge_scoring")
    from test_evaluation import _run_scorer

    y, p = _dirichlet_predictions(140, 1)
    ids = [f"ISIC_{i:07d}" for i in range(140)]
    pred = mc.write_isic2018_predictions_csv(ids, p, tmp_path / "pred.csv")
    truth = mc.write_isic2018_truth_csv(ids, y, tmp_path / "truth.csv")
    score = _run_scorer(truth, pred)
    written = pd.read_csv(pred).iloc[:, 1:].to_numpy()  # what the scorer read (6 decimals)
    assert score["aggregate"]["balanced_accuracy"] == pytest.approx(mc.balanced_accuracy(y, written))
    ours = {r["class"].upper(): r["auc"] for r in mc.per_class(y, written, list(DIAGNOSIS_CLASSES))}
    assert score["per_category"]["auc"] == pytest.approx(ours, abs=1e-9)
    assert score["macro_average"]["auc"] == pytest.approx(mc.macro_auc(y, written), abs=1e-9)
