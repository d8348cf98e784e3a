"""Recipes: `train/recipes/NAME.toml` says everything that makes `skinml/assets/NAME`, and
`make(NAME)` runs it: prepare the data, train the runs, finish them into one model, measure
it, write its card and ship the folder atomically.

A recipe (TOML, read with tomllib):

    kind = "classifier"            # a key of KINDS: which trainer, finisher and measures
    description = "..."            # one sentence, for the card's reader
    seeds = [0, 1]                 # one training run per seed; several make an ensemble
    [pack]                         # optional: an image pack made first (skinml.images.pack)
    path = ".gpu/pack128"; data = ["../shared/data/isic-sample", ...]; image_size = 128; quality = 90
    [config]                       # the kind's run settings (TrainConfig or GANConfig fields)
    [finish]                       # compact = true (float16 weights); GANs: realism_images = 1000, yardstick = true
    [ship]                         # explanations = {data, masks, n, n_randomise}; targets = {...}
    [device]                       # a model made on a lent GPU: run = "...", job = "gan_nosn"
    notes = ["..."]                # said on the card (what a recipe cannot say by its settings)

Paths in a recipe are relative to the repository root. The runs `make` trains are named after
the recipe (`make-NAME-seedS` under the runs root), so a `make` stopped at any point resumes
where it stopped. A new kind registers its functions in KINDS (see `Kind`), its folder's files
in `skinml.runs.ship.LAYOUTS` and its card in `skinml.runs.cards.CARDS`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skinml import ASSETS
from skinml.errors import SkinmlError
from skinml.io import shown_path
from skinml.settings import runs_root

REPO = ASSETS.parents[1]  # a checkout: the recipes live in its train/recipes
RECIPES = REPO / "train" / "recipes"
FIELDS = {"kind", "description", "seeds", "pack", "config", "finish", "ship", "device", "notes"}


def load_recipe(name: str | Path) -> dict:
    """The recipe `name` (train/recipes/NAME.toml) or the .toml file at that path, with "name"
    and "path" added. SkinmlError with a sentence for a missing or malformed recipe."""
    path = Path(name) if str(name).endswith(".toml") else RECIPES / f"{name}.toml"
    try:
        recipe = tomllib.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in RECIPES.glob("*.toml")))
        raise SkinmlError(f"No recipe {path}: the recipes are {known or 'none'}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise SkinmlError(f"{path} is not valid TOML: {exc}.") from None
    unknown = sorted(set(recipe) - FIELDS)
    if unknown:
        raise SkinmlError(f"{path}: unknown field(s) {', '.join(unknown)}; a recipe has {', '.join(sorted(FIELDS))}.")
    if recipe.get("kind") not in KINDS:
        raise SkinmlError(f"{path}: kind must be one of {', '.join(KINDS)}, not {recipe.get('kind')!r}.")
    return {**recipe, "name": path.stem, "path": path}


def repo_path(text: str) -> str:
    """A recipe's path, relative to the repository root; "" stays "", several joined by ":" each."""
    return os.pathsep.join(str(REPO / part) if part and not os.path.isabs(part) else part
                           for part in text.split(os.pathsep)) if text else ""


def run_dirs(recipe: dict, root: Path | None = None) -> list[Path]:
    """The run directories of the recipe's training runs, one per seed."""
    root = Path(root) if root else runs_root()
    return [root / f"make-{recipe['name']}-seed{seed}" for seed in recipe.get("seeds", [0])]


def prepare_pack(data: list[str], pack: Path, image_size: int, quality: int = 90) -> Path:
    """An image pack of the union of `data` folders (the GAN's data rules: every label, dermoscopic
    only), with a lesion-grouped train/val/test split stratified by diagnosis: what the device run
    and the diagnosis model train on."""
    from skinml.data.policy import DataPolicy, apply_policy, diagnosis_class, split_grouped
    from skinml.data.readers import load_datasets
    from skinml.images.pack import write_pack

    df, _ = apply_policy(load_datasets(data), DataPolicy.for_gan())
    df["dx"] = diagnosis_class(df)
    df["stratum"] = df["dx"].where(df["dx"] != "", df["benign_malignant"])
    df = split_grouped(df, seed=0, stratify="stratum").drop(columns=["stratum"])
    return write_pack(df, pack, image_size, quality)


def ensure_pack(recipe: dict) -> None:
    """Make the recipe's image pack when it names one that is not there yet."""
    pack = recipe.get("pack")
    if pack and not (Path(repo_path(pack["path"])) / "index.csv").exists():
        prepare_pack([repo_path(d) for d in pack["data"]], Path(repo_path(pack["path"])), pack["image_size"],
                     pack.get("quality", 90))


# ---------------------------------------------------------------- the kinds

@dataclass(frozen=True)
class Kind:
    """How `make` makes a model of one kind: `train(recipe, root) -> [run dirs]` (resumable),
    `finish(recipe, run_dirs, root) -> run dir` (the one model), and `measure(recipe) -> fn`
    (None, or a function of the new model folder run before its card: explanation measures...)."""

    train: Callable[[dict, Path | None], list[Path]]
    finish: Callable[[dict, list[Path], Path | None], Path]
    measure: Callable[[dict], Callable[[Path], None] | None] = lambda recipe: None
    ship: Callable[[dict, Path, Path], Path] | None = None  # a kind that measures and ships itself


def _classifier_config(recipe: dict, run_dir: Path, seed: int):
    from skinml.cnn.config import TrainConfig

    settings = dict(recipe.get("config", {}))
    for key in ("data", "pack"):
        settings[key] = repo_path(settings.get(key, ""))
    return TrainConfig.from_dict({**settings, "seed": seed, "run_dir": str(run_dir)})


def train_classifier_runs(recipe: dict, root: Path | None = None) -> list[Path]:
    from skinml.runs.train import fit_classifier

    ensure_pack(recipe)
    dirs = run_dirs(recipe, root)
    for seed, run_dir in zip(recipe.get("seeds", [0]), dirs):
        fit_classifier(_classifier_config(recipe, run_dir, seed))
    return dirs


def finish_classifier_runs(recipe: dict, dirs: list[Path], root: Path | None = None) -> Path:
    from skinml.runs.finish import finish

    out = (Path(root) if root else runs_root()) / f"make-{recipe['name']}-ensemble"
    return finish(dirs, out=out, compact=recipe.get("finish", {}).get("compact", False))


def measure_classifier(recipe: dict):
    """The measures of the recipe's [ship] table (skinml.runs.measures.measure_folder), or None."""
    settings = recipe.get("ship", {})
    if not any(key in settings for key in ("explanations", "bias", "patient_data", "example_maps")):
        return None

    def measure(folder: Path) -> None:
        from skinml.runs.measures import measure_folder

        measure_folder(folder, settings, resolve=repo_path, command=f"python -m skinml make {recipe['name']}",
                       name=f"skinml/assets/{recipe['name']}")

    return measure


def train_gan_run(recipe: dict, root: Path | None = None) -> list[Path]:
    from skinml.gan.train import GANConfig
    from skinml.runs.train import fit_gan

    ensure_pack(recipe)
    settings = dict(recipe.get("config", {}))
    for key in ("data_dir", "data_npz", "data_pack"):
        settings[key] = repo_path(settings.get(key, ""))
    run_dir = run_dirs(recipe, root)[0]
    config = GANConfig.from_dict({**settings, "seed": recipe.get("seeds", [0])[0], "run_dir": str(run_dir)})
    fit_gan(config)
    return [run_dir]


def finish_gan_run(recipe: dict, dirs: list[Path], root: Path | None = None) -> Path:
    from skinml.runs.finish import finish

    settings = recipe.get("finish", {})
    return finish(dirs, realism_images=settings.get("realism_images", 1000), yardstick=settings.get("yardstick", True))


def train_segmenter_run(recipe: dict, root: Path | None = None) -> list[Path]:
    """Train (or resume) the run of a segmenter recipe ([config]: SegmenterConfig fields)."""
    from skinml.runs.segmenter import fit_segmenter
    from skinml.segment.config import SegmenterConfig

    settings = dict(recipe.get("config", {}))
    for key in ("data", "masks"):
        settings[key] = repo_path(settings.get(key, ""))
    run_dir = run_dirs(recipe, root)[0]
    fit_segmenter(SegmenterConfig.from_dict({**settings, "seed": recipe.get("seeds", [0])[0]}), run_dir)
    return [run_dir]


def ship_segmenter_run(recipe: dict, run_dir: Path, dest: Path) -> Path:
    """The segmenter measures its held-out lesions and writes its own folder and card."""
    from skinml.runs.segmenter import ship_segmenter

    return ship_segmenter(run_dir, dest, n_boot=recipe.get("finish", {}).get("bootstrap", 1000))


KINDS: dict[str, Kind] = {
    "classifier": Kind(train_classifier_runs, finish_classifier_runs, measure_classifier),
    "gan": Kind(train_gan_run, finish_gan_run),
    "segmenter": Kind(train_segmenter_run, lambda recipe, dirs, root: dirs[0], ship=ship_segmenter_run),
}


# ---------------------------------------------------------------- make

def ship_record(recipe: dict, runs: list[Path] | None = None) -> dict:
    """What shipped.json says of a model made by `recipe` (its card's 'How it was made')."""
    return {"recipe": os.path.relpath(recipe["path"], REPO), "command": f"python -m skinml make {recipe['name']}",
            "remake": f"python -m skinml make {recipe['name']}",
            "description": recipe.get("description", ""), "runs": [shown_path(r) for r in runs or []],
            "device": recipe.get("device", {}), "notes": recipe.get("notes", []),
            "targets": recipe.get("ship", {}).get("targets", {})}


def train_recipe(recipe: dict, root: Path | None = None) -> list[Path]:
    """Train (or resume) every run of the recipe; returns their run directories."""
    return KINDS[recipe["kind"]].train(recipe, root)


def make(name: str | Path, dest: str | Path | None = None, root: str | Path | None = None) -> Path:
    """Make the model of recipe `name` from data to shipped folder (default skinml/assets/NAME):
    train its runs, finish them into one model, measure it, write its card, ship it. Returns
    the shipped folder."""
    from skinml.runs.ship import ship

    recipe = load_recipe(name)
    kind = KINDS[recipe["kind"]]
    root = Path(root) if root else None
    dirs = kind.train(recipe, root)
    model_run = kind.finish(recipe, dirs, root)
    if kind.ship is not None:
        return kind.ship(recipe, model_run, Path(dest) if dest else ASSETS / recipe["name"])
    return ship(model_run, Path(dest) if dest else ASSETS / recipe["name"],
                record=ship_record(recipe, [*dirs, *([model_run] if model_run not in dirs else [])]),
                measure=kind.measure(recipe))


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES.glob("*.toml"))



