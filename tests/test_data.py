"""The data layer: five layouts, both ISIC schemas, the policy, grouped splits, problems."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures_layouts import (
    CLASS_EXPECTED_LABELS,
    CLASS_EXPECTED_LEFT_OUT,
    CLASS_EXPECTED_PROBLEMS,
    EXPECTED_LABELS,
    EXPECTED_LEFT_OUT,
    EXPECTED_PROBLEMS,
    HAM_EXPECTED_LABELS,
    HAM_EXPECTED_LEFT_OUT,
    HAM_EXPECTED_PROBLEMS,
    make_archive_json,
    make_class_folders,
    make_ham,
    make_isic_cli,
    problem_keys,
    write_image,
)

from skinml import data
from skinml.data.policy import DataPolicy, apply_policy, group_key
from skinml.data.readers import COLUMNS, load_dataset
from skinml.errors import DataError

ISIC_LAYOUTS = {
    "isic-cli": lambda p: make_isic_cli(p, schema="new"),
    "isic-cli-images": lambda p: make_isic_cli(p, schema="legacy", images_dir=True),
    "archive-json": make_archive_json,
}


@pytest.fixture(scope="module", params=[
    ("isic-cli", "new", False), ("isic-cli", "legacy", False),
    ("isic-cli-images", "new", True), ("isic-cli-images", "legacy", True)],
    ids=["flat-new", "flat-legacy", "images-new", "images-legacy"])
def isic_folder(request, tmp_path_factory):
    layout, schema, images_dir = request.param
    root = make_isic_cli(tmp_path_factory.mktemp(f"{layout}-{schema}"), schema, images_dir)
    return layout, root


@pytest.fixture(scope="module")
def archive_dir(tmp_path_factory):
    return make_archive_json(tmp_path_factory.mktemp("archive"))


@pytest.fixture(scope="module")
def ham_dir(tmp_path_factory):
    return make_ham(tmp_path_factory.mktemp("ham"))


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory):
    return make_class_folders(tmp_path_factory.mktemp("classes"))


def usable(df, policy=DataPolicy()):
    kept, left_out = apply_policy(df, policy)
    return kept["benign_malignant"].value_counts().to_dict(), left_out


def test_isic_cli_both_schemas(isic_folder):
    layout, root = isic_folder
    df = load_dataset(root)
    assert df.attrs["layout"] == layout
    assert list(df.columns[:len(COLUMNS)]) == COLUMNS
    assert len(df) == 24 and df["isic_id"].is_unique
    assert df["age_approx"].dtype == float and df["width"].dtype.kind == "i"
    labels, left_out = usable(df)
    assert labels == EXPECTED_LABELS and left_out == EXPECTED_LEFT_OUT
    assert problem_keys(df.attrs["problems"]) == EXPECTED_PROBLEMS
    assert len(df.attrs["problems"]) == len(EXPECTED_PROBLEMS)
    row = df.set_index("isic_id").loc["B4"]
    assert row["diagnosis"] == "seborrheic keratosis" and np.isnan(row["age_approx"])
    assert df.set_index("isic_id").loc["B3", ["lesion_id", "patient_id"]].tolist() == ["L3", "P1"]
    assert set(df["attribution"]) >= {"SONIC", "MSK-1"}
    assert df.loc[df["isic_id"] == "I1", "benign_malignant"].item() == "indeterminate"
    assert df.loc[df["isic_id"] == "A1", "age_approx"].isna().item()
    assert set(df["anatom_site_general"]) <= {"head/neck", "lower extremity"}
    good = df[df["image_path"] != ""]
    assert (good["width"] == 64).all() and (good["height"] == 64).all()


def test_archive_json_nested(archive_dir):
    df = load_dataset(archive_dir)
    assert df.attrs["layout"] == "archive-json"
    assert len(df) == 24
    labels, left_out = usable(df)
    assert labels == EXPECTED_LABELS and left_out == EXPECTED_LEFT_OUT
    assert problem_keys(df.attrs["problems"]) == EXPECTED_PROBLEMS
    b3 = df.set_index("isic_id").loc["B3"]
    assert (b3["attribution"], b3["copyright_license"], b3["age_approx"]) == ("MSK-2", "CC-0", 50.0)
    assert "part_a" in b3["image_path"] and "deeper" in df.set_index("isic_id").loc["M1", "image_path"]


def test_archive_json_unreadable_file_is_a_problem(tmp_path):
    make_archive_json(tmp_path)
    (tmp_path / "part_a" / "broken.json").write_text("{not json")
    df = load_dataset(tmp_path)
    assert ("path", "broken", "unreadable metadata") in problem_keys(df.attrs["problems"])
    assert len(df) == 24


def test_ham10000(ham_dir):
    df = load_dataset(ham_dir)
    assert df.attrs["layout"] == "ham10000"
    labels, left_out = usable(df)
    assert labels == HAM_EXPECTED_LABELS and left_out == HAM_EXPECTED_LEFT_OUT
    assert problem_keys(df.attrs["problems"]) == HAM_EXPECTED_PROBLEMS
    by_id = df.set_index("isic_id")
    assert by_id.loc["ISIC_0000010", ["benign_malignant", "diagnosis", "image_type"]].tolist() == [
        "malignant", "actinic keratosis", "dermoscopic"]  # confocal dx_type is still dermoscopy
    assert by_id.loc["ISIC_0000004", "diagnosis"] == "pigmented benign keratosis"
    assert by_id.loc["ISIC_0000009", "benign_malignant"] == "malignant"
    assert by_id.loc["ISIC_0000001", "lesion_id"] == "HAM_0000001"
    assert set(df["attribution"]) == {"HAM10000"} and by_id.loc["ISIC_0000003", "age_approx"] == 30.0


def test_class_folders(class_dir):
    df = load_dataset(class_dir)
    assert df.attrs["layout"] == "class-folders"
    labels, left_out = usable(df)
    assert labels == CLASS_EXPECTED_LABELS and left_out == CLASS_EXPECTED_LEFT_OUT
    assert problem_keys(df.attrs["problems"]) == CLASS_EXPECTED_PROBLEMS
    assert (df["image_type"] == "").all()  # unknown type is not dropped as clinical


def test_class_folders_without_split_folders(tmp_path):
    for label, n in (("benign", 3), ("Malignant", 2)):
        for k in range(n):
            write_image(tmp_path / label / f"{label}{k}.png", seed=k)
    df = load_dataset(tmp_path)
    assert df["benign_malignant"].value_counts().to_dict() == {"benign": 3, "malignant": 2}
    assert df.attrs["problems"] == []


def test_not_a_dataset(tmp_path):
    with pytest.raises(DataError, match="No ISIC dataset"):
        load_dataset(tmp_path)
    with pytest.raises(DataError, match="not a folder"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "metadata.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="no image id column"):
        load_dataset(tmp_path)


def test_policy_filters(isic_folder):
    df = load_dataset(isic_folder[1])
    kept, left_out = apply_policy(df, DataPolicy(exclude=(("source", "sonic"),)))
    assert left_out["attribution = sonic"] == 2 and "SONIC" not in set(kept["attribution"])
    every_type, _ = apply_policy(df, DataPolicy(dermoscopic_only=False))
    assert "C1" in set(every_type["isic_id"]) and "C1" not in set(kept["isic_id"])
    gan, gan_left_out = apply_policy(df, DataPolicy.for_gan())
    assert gan["benign_malignant"].value_counts().to_dict() == {
        "benign": 8, "malignant": 7, "indeterminate": 2, "unknown": 2}
    assert gan_left_out == {"image missing or unreadable": 4, "not dermoscopic": 1}
    with pytest.raises(DataError, match="no such column"):
        apply_policy(df, DataPolicy(exclude=(("colour", "x"),)))


def test_unsafe_ids_never_reach_the_filesystem(tmp_path):
    (tmp_path / "images").mkdir()
    write_image(tmp_path / "secret.jpg")  # outside images/, reachable only by escaping
    pd.DataFrame({"isic_id": ["../secret", "/etc/passwd", "a\\b", ""],
                  "benign_malignant": "benign"}).to_csv(tmp_path / "images" / "metadata.csv", index=False)
    df = load_dataset(tmp_path / "images")
    assert len(df) == 0
    assert [p["reason"] for p in df.attrs["problems"]] == ["unsafe id"] * 4


def synthetic_table(n_patients=120, seed=0) -> pd.DataFrame:
    """Patients with 1-3 lesions of 1-3 images each; a third of the rows have no patient id."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        for lesion in range(rng.integers(1, 4)):
            label = "malignant" if rng.random() < 0.3 else "benign"
            for _ in range(rng.integers(1, 4)):
                rows.append({"isic_id": f"ISIC_{len(rows):07d}", "image_path": "x.jpg",
                             "benign_malignant": label, "lesion_id": f"L{p}_{lesion}",
                             "patient_id": f"P{p}" if p % 3 else ""})
    return pd.DataFrame(rows)


def test_grouped_split_has_no_patient_or_lesion_overlap():
    df = data.split_grouped(synthetic_table(), seed=3)
    for column in ("patient_id", "lesion_id"):
        known = df[df[column] != ""]
        assert (known.groupby(column)["split"].nunique() == 1).all(), column
    assert data.group_overlap(df) == 0
    share = df["split"].value_counts(normalize=True)
    assert abs(share["train"] - 0.7) < 0.06 and abs(share["val"] - 0.2) < 0.06
    malignant = df.groupby("split")["benign_malignant"].apply(lambda s: (s == "malignant").mean())
    assert malignant.max() - malignant.min() < 0.12  # stratified
    again = data.split_grouped(synthetic_table(), seed=3)
    assert (again["split"] == df["split"]).all()
    assert not (data.split_grouped(synthetic_table(), seed=4)["split"] == df["split"]).all()


def test_a_per_image_split_would_leak():
    """Why grouping matters: the thesis's per-image split puts lesions in two splits."""
    df = synthetic_table()
    rng = np.random.default_rng(0)
    df["split"] = rng.choice(["train", "val", "test"], size=len(df), p=[0.7, 0.2, 0.1])
    assert data.group_overlap(df) > 0


def test_group_key_prefers_patient_then_lesion():
    df = pd.DataFrame({"isic_id": ["a", "b", "c", "d"], "lesion_id": ["", "L", "", "M"],
                       "patient_id": ["P", "", "", ""]})
    assert group_key(df).tolist() == ["patient:P", "lesion:L", "image:c", "lesion:M"]


def test_group_key_joins_images_linked_by_a_patient_or_a_lesion():
    """b shares lesion L with a, whose patient P also had lesion K (c): one group, named P."""
    df = pd.DataFrame({"isic_id": ["a", "b", "c", "d", "e"], "lesion_id": ["L", "L", "K", "M", ""],
                       "patient_id": ["P", "", "P", "", ""]})
    assert group_key(df).tolist() == ["patient:P", "patient:P", "patient:P", "lesion:M", "image:e"]
    df["split"] = ["train", "test", "train", "val", "val"]
    assert data.group_overlap(df) == 1  # b's lesion is also in train


def test_balance_takes_all_of_the_rarer_label():
    df = synthetic_table()
    out = data.balance(df, seed=1)
    counts = out["benign_malignant"].value_counts()
    assert counts["benign"] == counts["malignant"] == (df["benign_malignant"] == "malignant").sum()
    assert out.equals(data.balance(df, seed=1)) and not out.equals(data.balance(df, seed=2))


def test_prepare_and_scan_on_demo(demo_dir):
    df = data.prepare(demo_dir, seed=0)
    assert set(df["split"]) == {"train", "val", "test"} and data.group_overlap(df) == 0
    counts = df["benign_malignant"].value_counts()
    assert counts["benign"] == counts["malignant"]
    report = data.scan_dataset(demo_dir)
    assert report["labels"] == {"benign": 31, "malignant": 29} and report["problems"] == []
    assert sum(sum(c.values()) for c in report["splits"].values()) == 58


def test_image_sizes(tmp_path):
    sizes = [(600, 450), (600, 450), (1024, 768), (64, 64)]
    for k, (w, h) in enumerate(sizes):
        (tmp_path / "benign").mkdir(exist_ok=True)
        from PIL import Image
        Image.new("RGB", (w, h), (200, 150, 120)).save(tmp_path / "benign" / f"i{k}.jpg")
    df = load_dataset(tmp_path)
    expected = [{"width": 600, "height": 450, "count": 2}, {"width": 64, "height": 64, "count": 1},
                {"width": 1024, "height": 768, "count": 1}]
    assert data.image_sizes(df).to_dict("records") == expected
    headers_only = data.image_sizes(df.drop(columns=["width", "height"]))
    assert headers_only.to_dict("records") == expected


def test_progress_is_reported(demo_dir):
    seen = []
    load_dataset(demo_dir, on_progress=lambda f, logs: seen.append(f))
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def test_default_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SKINML_DATA", str(tmp_path))
    assert data.default_data_dir() == tmp_path
    monkeypatch.setenv("SKINML_DATA", str(tmp_path / "missing"))
    monkeypatch.setenv("SKINML_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data.readers, "ISIC_SAMPLE", tmp_path / "nowhere")
    demo = data.default_data_dir()
    assert demo == tmp_path / "cache" / "demo" and (demo / "metadata.csv").is_file()


def test_demo_dataset_is_written_once(tmp_path, monkeypatch):
    from skinml.data.synthetic import ATTRIBUTION, demo_dataset_dir

    monkeypatch.setenv("SKINML_CACHE", str(tmp_path))
    first = demo_dataset_dir(n=10, size=32)
    stamp = (first / "metadata.csv").stat().st_mtime_ns
    assert demo_dataset_dir(n=10, size=32) == first
    assert (first / "metadata.csv").stat().st_mtime_ns == stamp
    df = load_dataset(first)
    assert len(df) == 10 and set(df["attribution"]) == {ATTRIBUTION}
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


@pytest.mark.realdata
def test_real_isic_sample(isic_sample):
    df = data.prepare(isic_sample, seed=0)
    assert df.attrs["layout"] == "isic-cli-images" and df.attrs["problems"] == []
    assert df["benign_malignant"].value_counts().to_dict() == {"benign": 2443, "malignant": 2443}
    assert data.split_counts(df)["test"] == {"benign": 244, "malignant": 244}
    known = df[df["lesion_id"] != ""]
    assert (known.groupby("lesion_id")["split"].nunique() == 1).all()


def test_tiny_sets_are_still_stratified():
    df = pd.DataFrame({"isic_id": [f"i{k}" for k in range(14)], "lesion_id": "", "patient_id": "",
                       "benign_malignant": ["benign"] * 7 + ["malignant"] * 7})
    counts = data.split_counts(data.split_grouped(df, seed=0))
    assert counts == {s: {"benign": n, "malignant": n} for s, n in zip(data.SPLITS, (5, 1, 1))}


def test_archive_json_without_name_uses_the_file_stem(tmp_path):
    write_image(tmp_path / "ISIC_0000001.jpg")
    (tmp_path / "ISIC_0000001.json").write_text(
        '{"meta": {"clinical": {"benign_malignant": "indeterminate/malignant", "age_approx": null}}}')
    df = load_dataset(tmp_path)
    assert df[["isic_id", "benign_malignant"]].values.tolist() == [["ISIC_0000001", "indeterminate"]]
    assert df.attrs["problems"] == []
