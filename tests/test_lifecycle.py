"""A model's whole life through one runs layer: a recipe made end to end (train, finish, ship,
load, predict), an atomic and complete ship, cards generated from the folder's files, the
registry of kinds, and the four shipped models' recipes."""

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from skinml import ASSETS
from skinml.errors import SkinmlError

REPO = Path(__file__).resolve().parents[1]


def tiny_recipe(folder: Path, data: Path, seeds=(0,)) -> Path:
    path = folder / "tiny.toml"
    path.write_text(f"""
kind = "classifier"
description = "A tiny classifier of synthetic lesions, for the test suite."
seeds = {list(seeds)}
notes = ["Synthetic data: its figures mean nothing."]
[config]
data = "{data}"
model = "thesis_base"
image_size = 32
epochs = 1
batch_size = 8
feed = "array"
augment = "none"
target_sensitivity = 0.9
[finish]
compact = true
""")
    return path


@pytest.fixture(scope="module")
def made(demo_dir, tmp_path_factory):
    """`make` of a tiny recipe into a folder that holds an older model with extra files."""
    from skinml.runs.recipes import make

    work = tmp_path_factory.mktemp("make")
    dest = work / "assets" / "tiny"
    dest.mkdir(parents=True)
    (dest / "explanations.json").write_text('{"model": "an older model"}')  # must not survive the ship
    (dest / "training_images.npz").write_bytes(b"an older index")
    recipe = tiny_recipe(work, demo_dir)
    return make(recipe, dest=dest, root=work / "runs"), recipe, work


def test_make_runs_a_recipe_from_data_to_a_shipped_model_that_loads_and_predicts(made, demo_dir):
    from skinml.cnn.classifier import load_classifier

    dest, recipe, work = made
    assert (work / "runs" / "make-tiny-seed0" / "status").read_text().startswith("finished")
    files = sorted(p.name for p in dest.iterdir())
    assert files == ["MODEL_CARD.md", "metrics.json", "model.json", "model.keras", "predictions.csv", "shipped.json",
                     "training_images.npz"]
    assert not list(dest.parent.glob(".tiny.*"))  # no half-made or old folder left beside it
    clf = load_classifier(dest)
    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32")
    proba = clf.predict_proba(x)
    assert proba.shape == (3, 2) and np.allclose(proba.sum(axis=1), 1)
    assert list(clf.predict(x)) == [clf.classes[int(p >= clf.threshold)] for p in proba[:, 1]]
    shipped = json.loads((dest / "shipped.json").read_text())
    assert shipped["command"] == "python -m skinml make tiny" and shipped["recipe"].endswith("tiny.toml")


def test_the_card_is_generated_from_the_folder_and_names_its_recipe(made):
    from skinml.runs.cards import write_card

    dest, _, _ = made
    card = (dest / "MODEL_CARD.md").read_text()
    metrics = json.loads((dest / "metrics.json").read_text())
    info = json.loads((dest / "model.json").read_text())
    assert f"{metrics['test']['auc']:.3f}" in card and f"{info['threshold']:.3f}" in card
    assert "python -m skinml make tiny" in card and "Synthetic data: its figures mean nothing." in card
    assert "Not recorded in this folder: explanation measures (`explanations.json`)" in card
    assert write_card(dest) == card  # the same files give the same card


def test_shipping_a_folder_onto_itself_rewrites_it_from_its_own_files(made, tmp_path):
    from skinml.runs.ship import ship

    dest, _, _ = made
    copy = tmp_path / "copy"
    ship(dest, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir() if p.name not in ("shipped.json", "MODEL_CARD.md")}
    (copy / "MODEL_CARD.md").write_text("typed by hand")
    ship(copy, copy)
    after = {p.name: p.read_bytes() for p in copy.iterdir() if p.name not in ("shipped.json", "MODEL_CARD.md")}
    assert after == before
    card = (copy / "MODEL_CARD.md").read_text()
    assert "typed by hand" not in card and card.startswith("# Model card: thesis_base")
    assert json.loads((copy / "shipped.json").read_text())["command"] == "python -m skinml make tiny"


def test_ship_refuses_what_is_not_a_model(tmp_path):
    from skinml.runs.ship import ship

    (tmp_path / "empty").mkdir()
    with pytest.raises(SkinmlError, match="nothing to ship"):
        ship(tmp_path / "empty", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_recipes_say_what_is_wrong_with_them(tmp_path):
    from skinml.runs.recipes import load_recipe

    with pytest.raises(SkinmlError, match="No recipe"):
        load_recipe("no-such-model")
    (tmp_path / "bad.toml").write_text('kind = "spaceship"\n')
    with pytest.raises(SkinmlError, match="kind must be one of"):
        load_recipe(tmp_path / "bad.toml")
    (tmp_path / "typo.toml").write_text('kind = "gan"\nseed = [0]\n')
    with pytest.raises(SkinmlError, match="unknown field"):
        load_recipe(tmp_path / "typo.toml")


def test_a_new_kind_plugs_into_make_with_one_registry_entry(tmp_path, monkeypatch):
    from skinml.runs.recipes import KINDS, Kind, make

    source = tmp_path / "run"
    (source / "model").mkdir(parents=True)
    for name in ("model.keras", "model.json", "metrics.json"):  # a model folder as a finished run has it
        (source / "model" / name).write_text("{}")
    calls = []
    monkeypatch.setitem(KINDS, "toy", Kind(train=lambda recipe, root: calls.append("train") or [source],
                                           finish=lambda recipe, dirs, root: calls.append("finish") or dirs[0]))
    (tmp_path / "toy.toml").write_text('kind = "toy"\n')
    monkeypatch.setattr("skinml.runs.ship.write_card", lambda folder: "")
    dest = make(tmp_path / "toy.toml", dest=tmp_path / "out")
    assert calls == ["train", "finish"] and (dest / "model.keras").exists()


@pytest.mark.parametrize("name", ["classifier", "diagnosis", "gan", "cgan"])
def test_every_shipped_model_has_a_recipe_that_matches_its_folder(name):
    from skinml.runs.recipes import load_recipe

    recipe = load_recipe(name)
    folder = ASSETS / name
    config = recipe["config"]
    if recipe["kind"] == "gan":
        info = json.loads((folder / "gan.json").read_text())
        assert (config["model"], config["image_size"], config["spectral_norm"]) == \
            (info["name"], info["image_size"], info["spectral_norm"])
        from train_gpu_run import DEFAULT_JOBS, GAN_MODELS  # the device run's jobs make it

        job = recipe["device"]["job"]
        assert job in DEFAULT_JOBS and GAN_MODELS[job] == (info["name"], {"spectral_norm": False})
    else:
        saved = json.loads((folder / "model.json").read_text())["config"]
        for key, value in config.items():
            if key in saved and key not in ("data", "pack", "time_budget"):
                assert saved[key] == (list(value) if isinstance(value, list) else value), key
    shipped = json.loads((folder / "shipped.json").read_text())
    assert shipped["recipe"] == f"train/recipes/{name}.toml"
    assert f"python -m skinml make {name}" in (folder / "MODEL_CARD.md").read_text()


@pytest.mark.parametrize("name", ["classifier", "diagnosis", "gan", "cgan"])
def test_every_shipped_card_is_the_one_its_files_give(name):
    """No figure is typed into a card: generated again from the folder's files, it is the same text."""
    from skinml.runs.cards import classifier_card, generator_card

    folder = ASSETS / name
    card = (folder / "MODEL_CARD.md").read_text()
    assert card == (generator_card(folder) if (folder / "gan.json").exists() else classifier_card(folder))
    assert "H100" not in card and "/work/" not in json.dumps(json.loads((folder / "shipped.json").read_text()))


@pytest.fixture(autouse=True, scope="module")
def _gpu_run_module():
    """train/gpu_run.py imported as a module (it is a script)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("train_gpu_run", REPO / "train" / "gpu_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["train_gpu_run"] = module
    yield
    sys.modules.pop("train_gpu_run", None)


def test_recipes_are_plain_toml():
    for path in (REPO / "train" / "recipes").glob("*.toml"):
        assert tomllib.loads(path.read_text())["kind"] in ("classifier", "gan", "segmenter")


def test_make_runs_a_gan_recipe_to_a_generator_folder_with_its_realism_and_run_record(tmp_path):
    """The GAN kind end to end: train (resumable run), finish (realism against held-out lesions),
    ship (generator, realism.json, the run record), and the shipped generator generates."""
    from skinml.data.synthetic import make_lesion
    from skinml.gan.latent import sample_latents
    from skinml.gan.models import load_generator
    from skinml.runs.recipes import make

    images = np.stack([make_lesion(i % 2 == 1, 16, seed=i) for i in range(24)])
    groups = np.array([f"lesion:{i // 2}" for i in range(24)])  # two photos per lesion
    np.savez(tmp_path / "tiny.npz", images=images, labels=np.arange(24) % 2, groups=groups)
    (tmp_path / "tinygan.toml").write_text(f"""
kind = "gan"
description = "A tiny generator of synthetic lesions, for the test suite."
[config]
model = "thesis_dcgan"
image_size = 16
width = 0.125
batch_size = 4
epochs = 1
holdout = 0.25
data_npz = "{tmp_path / 'tiny.npz'}"
[finish]
realism_images = 8
yardstick = false
""")
    dest = make(tmp_path / "tinygan.toml", dest=tmp_path / "assets" / "tinygan", root=tmp_path / "runs")
    assert {"generator.keras", "gan.json", "realism.json", "config.json", "state.json", "losses.csv",
            "shipped.json", "MODEL_CARD.md"} <= {p.name for p in dest.iterdir()}
    held = np.load(tmp_path / "runs" / "make-tinygan-seed0" / "holdout.npy")
    assert len(held) == 6 and not set(groups[held]) & set(np.delete(groups, held))  # whole lesions
    realism = json.loads((dest / "realism.json").read_text())
    assert realism["n_real"] == 6 and realism["n_fake"] == 8
    card = (dest / "MODEL_CARD.md").read_text()
    assert "python -m skinml make tinygan" in card and "Not recorded" not in card.split("## How it was made")[1]
    generator = load_generator(dest)
    assert generator.generate(sample_latents(range(2), generator.spec.latent_dim)).shape == (2, 16, 16, 3)


def test_make_writes_every_measure_its_recipe_names_on_the_held_out_images(tmp_path):
    """A recipe's [ship] table names the measures: `make` writes them into the shipped folder (the
    bias test on the images the model neither learned from nor was tuned on, the example
    heatmaps), each saying the command that made it, and the card shows them."""
    import pandas as pd
    from PIL import Image

    from skinml.data.synthetic import write_demo_dataset
    from skinml.runs.recipes import make

    data = write_demo_dataset(tmp_path / "syn", n=60, size=48, seed=3)
    masks = tmp_path / "syn-segmentations"
    masks.mkdir()
    yy, xx = np.mgrid[:48, :48]
    disc = ((yy - 24) ** 2 + (xx - 24) ** 2 < 14 ** 2).astype("uint8") * 255
    for path in data.glob("*.jpg"):
        Image.fromarray(disc).save(masks / f"{path.stem}_segmentation.png")
    recipe = tiny_recipe(tmp_path, data)
    recipe.write_text(recipe.read_text() + f"""
[ship]
bias = {{ data = "{data}", masks = "{masks}", trained_on = ["{data}"], n = 0, bootstrap = 20 }}
example_maps = true
""")
    dest = make(recipe, dest=tmp_path / "assets" / "tiny", root=tmp_path / "runs")

    report = json.loads((dest / "bias.json").read_text())
    split = pd.read_csv(dest / "predictions.csv")
    lesion = pd.read_csv(data / "metadata.csv").set_index("isic_id")["lesion_id"]
    held_out = set(lesion[report["isic_ids"]])
    assert len(held_out) == len(report["isic_ids"])  # one image per lesion
    assert set(lesion[split.loc[split["split"] == "test", "isic_id"]]) <= held_out  # every test lesion
    assert not held_out & set(lesion[split.loc[split["split"] == "val", "isic_id"]])  # nothing it was tuned on
    assert report["command"] == "python -m skinml make tiny"
    assert {"photo", "lesion_removed", "lesion_only"} <= set(report["auc"])
    assert len(np.load(dest / "example_maps.npz").files) > 0
    card = (dest / "MODEL_CARD.md").read_text()
    assert "lesion removed" in card.lower()


def test_a_card_names_folders_relative_to_the_checkout_never_by_a_machines_path(tmp_path):
    from skinml.io import CHECKOUT, shown_path

    assert shown_path(CHECKOUT / ".gpu" / "pack128") == ".gpu/pack128"
    assert shown_path(CHECKOUT.parent / "shared" / "data" / "isic-sample") == "../shared/data/isic-sample"
    assert shown_path(tmp_path / "runs" / "make-tiny-seed0") == "make-tiny-seed0"
    assert shown_path("") == ""
