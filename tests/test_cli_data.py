"""`python -m skinml data scan|sizes`: exact counts and every planted problem, on each layout."""

from __future__ import annotations

import json
import subprocess
import sys

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
)

from skinml.cli import main

LAYOUTS = {
    "isic-cli": (lambda p: make_isic_cli(p, "new"), EXPECTED_LABELS, EXPECTED_LEFT_OUT, EXPECTED_PROBLEMS),
    "isic-cli-images": (lambda p: make_isic_cli(p, "legacy", images_dir=True), EXPECTED_LABELS,
                        EXPECTED_LEFT_OUT, EXPECTED_PROBLEMS),
    "archive-json": (make_archive_json, EXPECTED_LABELS, EXPECTED_LEFT_OUT, EXPECTED_PROBLEMS),
    "ham10000": (make_ham, HAM_EXPECTED_LABELS, HAM_EXPECTED_LEFT_OUT, HAM_EXPECTED_PROBLEMS),
    "class-folders": (make_class_folders, CLASS_EXPECTED_LABELS, CLASS_EXPECTED_LEFT_OUT,
                      CLASS_EXPECTED_PROBLEMS),
}


@pytest.fixture(scope="module", params=list(LAYOUTS))
def layout_dir(request, tmp_path_factory):
    make, *expected = LAYOUTS[request.param]
    return request.param, make(tmp_path_factory.mktemp(request.param)), expected


def scan_json(capsys, *args) -> dict:
    assert main(["data", "scan", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_scan_json_exact_counts(layout_dir, capsys):
    layout, root, (labels, left_out, problems) = layout_dir
    report = scan_json(capsys, root)
    assert report["layout"] == layout
    assert report["labels"] == labels
    assert report["left_out"] == left_out
    assert problem_keys(report["problems"]) == problems
    assert len(report["problems"]) == len(problems)
    assert sum(report["problem_counts"].values()) == len(problems)
    assert report["group_overlap"] == 0
    rarer = min(labels.values())
    assert {label: sum(report["splits"][s][label] for s in report["splits"])
            for label in labels} == {label: rarer for label in labels}


def test_scan_options(capsys, tmp_path):
    root = make_isic_cli(tmp_path, "new")
    report = scan_json(capsys, root, "--exclude", "attribution=SONIC", "--no-balance")
    assert report["labels"] == {"benign": 6, "malignant": 7}
    assert report["left_out"]["attribution = SONIC"] == 2
    assert sum(sum(c.values()) for c in report["splits"].values()) == 13
    report = scan_json(capsys, root, "--include-unknown", "--all-image-types")
    assert report["labels"] == {"benign": 9, "malignant": 7, "indeterminate": 2, "unknown": 2}
    assert report["left_out"] == {"image missing or unreadable": 4}
    assert report["policy"]["dermoscopic_only"] is False


def test_scan_errors_are_sentences(capsys, tmp_path):
    assert main(["data", "scan", str(tmp_path / "missing"), "--json"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    make_isic_cli(tmp_path, "new")
    assert main(["data", "scan", str(tmp_path), "--exclude", "SONIC", "--json"]) == 2
    assert "COLUMN=VALUE" in capsys.readouterr().err


def test_scan_readable_summary(capsys, tmp_path):
    root = make_ham(tmp_path)
    assert main(["data", "scan", str(root)]) == 0
    out = capsys.readouterr().out
    assert "layout ham10000" in out and "usable: 6 benign, 5 malignant" in out
    assert "problems: 10" in out and "unsafe id: ../evil" in out
    assert "in more than one split: 0" in out


def test_sizes(capsys, demo_dir):
    assert main(["data", "sizes", str(demo_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"width": 64, "height": 64, "count": 60}]
    assert main(["data", "sizes", str(demo_dir)]) == 0
    assert "64 x 64" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.realdata
def test_real_isic_sample_scan(isic_sample):
    """The real entry point, as a user types it."""
    out = subprocess.run([sys.executable, "-m", "skinml", "data", "scan", str(isic_sample), "--json"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    report = json.loads(out)
    assert report["labels"] == {"benign": 2447, "malignant": 2443}
    assert report["n_images"] == report["n_files"] == 4890
    assert report["problems"] == [] and report["left_out"] == {}
    assert report["group_overlap"] == 0
