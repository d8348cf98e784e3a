"""A classifier run that ended before its end (stopped, failed or interrupted) but kept its best
epoch: its `best.keras` as a model the teaching pages can evaluate and look inside.

Such a run was never finished (`skinml.cnn.finish.finish_run`): no temperature was fitted, no
threshold chosen on validation, no test figures written, no `model/`. `load_unfinished` reads
its best.keras with a model.json made from its config.json and state.json: threshold 0.5,
uncalibrated, and an `unfinished` sentence that says so. A teacher who stops a run to save time
keeps a model to show; resuming the run finishes it properly.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from skinml.errors import ModelError, SkinmlError
from skinml.io import read_json
from skinml.runs.status import run_status

UNFINISHED = ("stopped", "failed", "interrupted")


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether a run kept a best epoch (best.keras) and was never finished (no model/model.keras)."""
    run_dir = Path(run_dir)
    return (run_dir / "best.keras").exists() and not (run_dir / "model" / "model.keras").exists()


def is_unfinished(run_dir: str | Path) -> bool:
    """A classifier run that ended before its end (stopped, failed, interrupted) with a best.keras."""
    return run_status(run_dir) in UNFINISHED and has_checkpoint(run_dir)


def unfinished_label(status: str, epoch, best_epoch) -> str:
    """"stopped at epoch 13 (best epoch 11), not finished: no calibration, threshold 0.5"."""
    best = f" (best epoch {best_epoch})" if best_epoch is not None else ""
    return f"{status} at epoch {epoch}{best}, not finished: no calibration, threshold 0.5"


def unfinished_info(run_dir: str | Path) -> dict:
    """The model.json of an unfinished run's best.keras, from its config.json and state.json."""
    from skinml.cnn.config import TrainConfig
    from skinml.data.policy import DIAGNOSIS_CLASSES, LABELS, MALIGNANT_DIAGNOSES, split_fingerprint

    run_dir = Path(run_dir)
    config = TrainConfig.from_dict(read_json(run_dir / "config.json", {}) or {})
    state = read_json(run_dir / "state.json", {}) or {}
    diagnosis = config.task == "diagnosis"
    sentence = unfinished_label(run_status(run_dir), state.get("epoch", 0), state.get("best_epoch"))
    info = {"name": config.model, "architecture": config.model, "task": config.task,
            "image_size": config.image_size, "resize": config.resize, "threshold": 0.5,
            "threshold_rule": "0.5: the run did not finish, so no threshold was chosen on validation",
            "temperature": 1.0, "tta": False, "version": f"{run_dir.name} (unfinished)",
            "classes": list(DIAGNOSIS_CLASSES if diagnosis else LABELS),
            "unfinished": (f"Run {run_dir.name} {sentence}: these are the weights of its best epoch (best.keras), "
                           "before the finishing step that fits the temperature, chooses the threshold on the "
                           "validation split and measures the test split. Resume it on the Train classifier page "
                           "to finish it."),
            "data": {"seed": config.seed, "balanced": config.balance, "exclude": list(config.exclude),
                     "dermoscopic_only": config.dermoscopic_only, "max_images": config.max_images},
            "config": asdict(config)}
    if diagnosis:
        info["malignant_classes"] = list(MALIGNANT_DIAGNOSES)
    try:  # which images it trained on, so that evaluating on its own data folder uses its test split
        from skinml.cnn.splits import load_splits

        info["data"]["train_ids_sha1"] = split_fingerprint(load_splits(config), "train")
    except (SkinmlError, OSError):
        pass  # its data folder is gone: evaluation then says it uses every image
    return info


def load_unfinished(run_dir: str | Path):
    """The `Classifier` of an unfinished run's best.keras (see the module); ModelError when the run
    has none or it cannot be read."""
    from skinml.cnn.classifier import load_classifier

    run_dir = Path(run_dir)
    if not has_checkpoint(run_dir):
        raise ModelError(f"{run_dir} has no best.keras of an unfinished run to load.")
    classifier = load_classifier(run_dir / "best.keras")
    classifier.info, classifier.metrics, classifier.path = unfinished_info(run_dir), {}, run_dir
    return classifier
