"""Ship a model: write a complete model folder beside the old one, then swap it in.

`ship(source, dest)` takes a finished run (a classifier run with `model/`, an ensemble run, a
GAN run with `generator/`) or a model folder (`model.json` or `gan.json`) and writes a fresh
folder `.<name>.new-*` beside `dest` with everything the model's pages read: the weights, the
resolved config, the metrics and held-out predictions, the training-photo index and the
explanation measures of a classifier, the realism measures and run record of a generator,
`shipped.json` (the recipe, the command and the runs that made it) and a card generated from
those files (`skinml.runs.cards`). Then `dest` is renamed aside and the new folder renamed into
its place, and the old one deleted: nothing of an earlier model stays beside the new one.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from skinml.errors import ModelError
from skinml.io import copy_atomic, read_json, shown_path, write_json
from skinml.runs.cards import write_card

# The files of each kind of model folder, and where a finished run keeps them (relative to the
# run); the first names the weights, which tell the kinds apart. A new kind adds its table here
# (and its card to `skinml.runs.cards.CARDS`).
LAYOUTS = {
    "classifier": {"model.keras": "model/model.keras", "model.json": "model/model.json",
                   "metrics.json": "model/metrics.json", "training_images.npz": "model/training_images.npz",
                   "explanations.json": "model/explanations.json", "predictions.csv": "predictions.csv",
                   # measured on the shipped folder (bias test, patient data, the examples' heatmaps)
                   "bias.json": "model/bias.json", "patient_data.json": "model/patient_data.json",
                   "example_maps.npz": "model/example_maps.npz"},
    "generator": {"generator.keras": "generator/generator.keras", "gan.json": "generator/gan.json",
                  "realism.json": "realism.json", "config.json": "config.json", "state.json": "state.json",
                  "losses.csv": "losses.csv", "gan_augment.json": "gan_augment.json"},
}


def source_files(source: Path) -> dict[str, Path]:
    """{file name in the shipped folder: its path in `source`} for the files `source` has;
    ModelError when `source` is neither a finished run nor a model folder of a kind in LAYOUTS."""
    source = Path(source)
    for table in LAYOUTS.values():
        weights, in_run = next(iter(table.items()))
        if (source / in_run).exists():  # a finished run
            return {name: source / where for name, where in table.items() if (source / where).exists()}
        if (source / weights).exists():  # a model folder
            return {name: source / name for name in table if (source / name).exists()}
    raise ModelError(f"{source} is neither a finished run (model/ or generator/) nor a model folder "
                     "(model.keras or generator.keras): nothing to ship.")


def ship(source: str | Path, dest: str | Path, record: dict | None = None, measure=None) -> Path:
    """Ship `source` (a finished run or a model folder) as the model folder `dest`; returns `dest`.

    `record` goes into shipped.json (recipe, command, runs, device, notes, targets); with
    `measure`, `measure(folder)` runs on the new folder before its card is written (it may add
    files: explanation measures, realism). Shipping a folder onto itself rewrites it from its
    own files (its shipped.json kept, updated by `record`). The swap is two renames in one
    folder: at every moment `dest` is the whole old or the whole new model, except between the
    two renames (a process killed there leaves the old folder as `.<name>.old-*` beside it).
    """
    source, dest = Path(source).resolve(), Path(dest).resolve()
    files = source_files(source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.new-"))
    try:
        fresh.chmod(0o755)
        for name, path in files.items():
            copy_atomic(path, fresh / name)
        previous = read_json(source / "shipped.json", {})  # a model folder keeps its provenance
        write_json(fresh / "shipped.json", {**(previous or {}), **(record or {}), "source": shown_path(source),
                                            "shipped": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                            "skinml_version": _version(), "files": sorted(files)})
        if measure is not None:
            measure(fresh)
        write_card(fresh)
        swap_in(fresh, dest)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return dest


def swap_in(fresh: Path, dest: Path) -> None:
    """Put the folder `fresh` where `dest` is (both in one parent folder) and delete the old one."""
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.old-"))
        old.rmdir()
        dest.rename(old)
    fresh.rename(dest)
    if old is not None:
        shutil.rmtree(old)


def _version() -> str:
    import skinml

    return skinml.__version__
