"""Shared fixtures: synthetic datasets and the real-data folder (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SKINML_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def data_roots(tmp_path_factory) -> str:
    """The dashboard opens only folders under its data roots (skinml.settings): the tests' datasets
    live under pytest's temporary folder, so that folder is one, with the real sample's."""
    roots = os.pathsep.join([str(tmp_path_factory.getbasetemp()), str(SHARED_DATA)])
    os.environ["SKINML_DATA_ROOTS"] = roots
    return roots


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """A synthetic ISIC folder in the isic-cli layout: 60 images of 64 px, half malignant."""
    from skinml.data.synthetic import write_demo_dataset

    return write_demo_dataset(tmp_path_factory.mktemp("demo"), n=60, size=64, seed=1)


def shared_folder(name: str, table: str) -> Path:
    """The folder `name` of the real data (../shared/data or SKINML_SHARED_DATA) holding `table`, or skip."""
    path = SHARED_DATA / name
    if not (path / table).exists():
        pytest.skip(f"real data ({path}) is not on this machine: set SKINML_SHARED_DATA to your copy")
    return path


@pytest.fixture(scope="session")
def ham10000() -> Path:
    """HAM10000 as distributed."""
    return shared_folder("ham10000", "HAM10000_metadata.csv")


@pytest.fixture(scope="session")
def isic_sample() -> Path:
    """The real ISIC sample."""
    return shared_folder("isic-sample", "metadata.csv")


@pytest.fixture
def launched():
    """Run directories launched by a test, stopped at its end whatever happened."""
    from skinml import runs

    started: list[Path] = []
    yield started
    for run_dir in started:
        runs.stop(run_dir, by=runs.OPERATOR, wait_s=5)
