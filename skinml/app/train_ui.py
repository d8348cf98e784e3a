"""Streamlit pieces of the training page: settings, launching and stopping runs, live curves.

Training runs in a separate process (`python -m skinml train --run-dir RUN`, its own session), which
writes its run directory; the page only reads that directory. A rerun, a page change or a
closed tab therefore never stops or restarts a run; the Stop button signals that one
process group only.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from skinml import runs, settings
from skinml.app import RUN_STATUS_ICONS, plain, session_id
from skinml.cnn.config import OPTIMIZERS, SCHEDULES, THESIS_SETTINGS, TrainConfig
from skinml.cnn.models import METADATA_MODELS, MODELS, PRETRAINED
from skinml.errors import ModelError
from skinml.images.augment import STRENGTHS as AUGMENTS
from skinml.io import read_json, write_json
from skinml.runs import list_runs, load_history, new_run_dir, run_status

MONITORS = {"binary": ("val_auc", "val_accuracy", "val_sensitivity", "val_loss"),
            "diagnosis": ("val_balanced_accuracy", "val_accuracy", "val_loss")}
META_MODEL = sorted(METADATA_MODELS)[0]  # skinml_resnet_meta: images and the patient's age, sex and site
# What the task choice means: (TrainConfig.task, the model it fixes or None for the model picker).
TASK_CHOICES = {
    "benign / malignant": ("binary", None),
    "diagnosis (7 classes)": ("diagnosis", None),
    "diagnosis from image + metadata": ("diagnosis", META_MODEL),
}


def launch_training(config: TrainConfig) -> Path:
    """Write the run's config.json and start the training process; returns the run directory."""
    config.check()
    for folder in filter(None, config.data.split(os.pathsep)):
        settings.check_data_folder(folder)  # only the server's data folders
    run_dir = Path(config.run_dir) if config.run_dir else new_run_dir(config.model)
    if (run_dir / "config.json").exists():
        raise ModelError(f"{run_dir} already holds a run: pick another name, or resume that run.")
    runs.check_cap(session_id(), run_dir.parent)  # a refused Start leaves no folder behind
    try:
        created = not run_dir.exists()
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"Cannot create the run folder {run_dir} ({exc.strerror}): pick another name, "
                         "or set SKINML_RUNS to a folder you can write to.") from None
    write_json(run_dir / "config.json",
               {"kind": "classifier", **dataclasses.asdict(dataclasses.replace(config, run_dir=str(run_dir)))})
    try:
        return resume_training(run_dir)
    except ModelError:  # refused after all (another click took the last place): take back what was written
        runs.remove_unstarted(run_dir, created)
        raise


def resume_training(run_dir: str | Path) -> Path:
    """Start (or resume) the process for an existing run directory, unless it is running; this
    session becomes its owner (ModelError when the cap is reached or the run is someone else's)."""
    return runs.launch_training(run_dir, owner=session_id())


def stop_training(run_dir: str | Path, wait_s: float = 10.0) -> bool:
    """SIGTERM the run's process group (then SIGKILL after `wait_s`); True if it was running.
    ModelError when this session did not start it."""
    return runs.stop(run_dir, by=session_id(), wait_s=wait_s)


def task_ui(key: str = "train") -> tuple[str, str | None]:
    """The task picker: (TrainConfig.task, the model the choice fixes, or None)."""
    label = st.radio("Task", list(TASK_CHOICES), horizontal=True, key=f"{key}_task",
                     help="benign / malignant: one probability (p(malignant)) and a threshold. diagnosis: the "
                          "seven HAM10000 classes (mel, nv, bcc, akiec, bkl, df, vasc), best epoch by balanced "
                          "accuracy; images of other diagnoses are left out. image + metadata: the diagnosis "
                          f"task with {META_MODEL}, which also reads the patient's age, sex and body site.")
    return TASK_CHOICES[label]


def models_for(task: str) -> list[str]:
    """The image-only architectures a run of `task` can train: every one for benign/malignant,
    those whose builder takes `classes` (a softmax head) for the diagnosis task."""
    import inspect

    return sorted((n for n, build in MODELS.items() if n not in METADATA_MODELS
                   and (task == "binary" or "classes" in inspect.signature(build).parameters)),
                  key=lambda n: (not n.startswith("skinml"), n))


def model_ui(key: str = "train", fixed: str | None = None, task: str = "binary") -> str:
    """The model picker (outside the settings form, so its defaults follow the choice); `fixed`
    (a task that needs one architecture) names the model instead of offering a choice."""
    if fixed:
        st.markdown(f"Model: **`{fixed}`** (images and the patient's metadata; missing values are "
                    "encoded as missing)")
        return fixed
    names = models_for(task)
    if task != "binary":
        st.caption(f"The diagnosis task needs a softmax head: {', '.join(names)} "
                   f"{'has' if len(names) == 1 else 'have'} one (the thesis's CNNs end in one sigmoid unit).")
    return st.selectbox("Model", names, key=f"{key}_model" + ("" if task == "binary" else f"_{task}"),
                        help="thesis_*: the thesis's five CNNs (their settings start from the thesis's "
                             "recipe); skinml_*: our stronger designs, trained from scratch; "
                             "efficientnetb0_imagenet: transfer learning, needs internet once for its "
                             "ImageNet weights.")


def settings_ui(data_dir: str, model: str, key: str = "train", task: str = "binary") -> TrainConfig:
    """Widgets for a TrainConfig of `model` for `task`; the thesis models start from the thesis's recipe."""
    base = dataclasses.replace(TrainConfig(), **THESIS_SETTINGS) if model.startswith("thesis") else TrainConfig()
    if model in PRETRAINED:  # fine-tuning: ImageNet size, small learning rate
        base = dataclasses.replace(base, image_size=224, learning_rate=1e-4, warmup_epochs=1)
        st.caption("Transfer learning: Keras downloads the ImageNet weights once (about 16 MB); with no "
                   "internet the run stops with a message saying so.")
    c1, c2, c3, c4 = st.columns(4)
    image_size = c1.select_slider("Image size (px)", [32, 64, 96, 128, 160, 192, 224, 256], value=base.image_size,
                                  key=f"{key}_size_{model}")
    epochs = c2.number_input("Epochs", 1, 500, base.epochs, key=f"{key}_epochs_{model}")
    batch = c3.select_slider("Batch size", [8, 16, 32, 64, 128], value=base.batch_size, key=f"{key}_batch_{model}")
    max_images = c4.number_input("Use at most (images, 0 = all)", 0, 100_000, 0, step=100, key=f"{key}_max")
    with st.expander("Optimiser, augmentation, stopping, threshold"):
        c1, c2, c3 = st.columns(3)
        optimizer = c1.selectbox("Optimiser", OPTIMIZERS, OPTIMIZERS.index(base.optimizer), key=f"{key}_opt_{model}")
        lr = c1.number_input("Learning rate", 1e-5, 1.0, base.learning_rate, format="%.5f", key=f"{key}_lr_{model}")
        schedule = c1.selectbox("Schedule", SCHEDULES, SCHEDULES.index(base.schedule), key=f"{key}_sched_{model}")
        augment = c2.selectbox("Augmentation", AUGMENTS, AUGMENTS.index(base.augment), key=f"{key}_aug_{model}")
        smoothing = c2.slider("Label smoothing", 0.0, 0.3, base.label_smoothing, 0.05, key=f"{key}_ls_{model}")
        weights = c2.selectbox("Class weights", ("balanced", "none"), ("balanced", "none").index(base.class_weight),
                               key=f"{key}_cw_{model}")
        crop = c2.selectbox("The model reads", ("none", "lesion"), key=f"{key}_crop",
                            format_func={"none": "the whole photo", "lesion": "a square around the lesion"}.get,
                            help="A square around the lesion: each photo is cut around its outline (the dataset's "
                                 "mask, else the lesion segmenter's) before training, and every photo the model "
                                 "is later asked about is cut the same way.")
        monitor = c3.selectbox("Best epoch by", MONITORS[task], key=f"{key}_mon_{task}",
                               help="The thesis used validation accuracy; AUC is the better default."
                               if task == "binary" else "Balanced accuracy (ISIC 2018 Task 3's measure) weighs "
                                                        "every diagnosis the same, rare ones included.")
        patience = c3.number_input("Early-stopping patience (epochs)", 1, 500, base.patience, key=f"{key}_pat_{model}")
        target = 0.0
        if task == "binary":  # a diagnosis model has no threshold
            target = c3.slider("Threshold for validation sensitivity (0 = 0.5)", 0.0, 0.99, 0.0, 0.01,
                               key=f"{key}_sens")
        seed = c3.number_input("Seed", 0, 10_000, 0, key=f"{key}_seed")
    return TrainConfig(data=data_dir, task=task, model=model, image_size=int(image_size), epochs=int(epochs),
                       batch_size=int(batch), optimizer=optimizer, learning_rate=float(lr), schedule=schedule,
                       warmup_epochs=base.warmup_epochs, weight_decay=base.weight_decay, augment=augment,
                       label_smoothing=float(smoothing), class_weight=weights, monitor=monitor,
                       patience=int(patience), target_sensitivity=float(target), max_images=int(max_images),
                       seed=int(seed), crop=crop)


def run_view(run_dir: str | Path) -> None:
    """Status, progress, live curves and the last log lines of one run (no widgets)."""
    from skinml.plots.eval import plot_history

    run_dir = Path(run_dir)
    status = run_status(run_dir)
    config = read_json(run_dir / "config.json", {})
    state = read_json(run_dir / "state.json", {}) or {}
    history = load_history(run_dir)
    epochs = int(config.get("epochs", 1))
    done = int(state.get("epoch", 0))
    message = runs.status_message(run_dir)
    st.markdown(f"**{RUN_STATUS_ICONS.get(status, '')} {plain(run_dir.name)}**: {status}, epoch {done} of {epochs}"
                + (f", best {plain(config.get('monitor', ''))} {state['best_score']:.3f} at epoch {state['best_epoch']}"
                   if state.get("best_epoch") else ""))
    if status == "failed" and message:
        st.error(plain(message))
    elif status == "interrupted":
        st.warning("The training process ended without finishing (killed?). Resume continues "
                   "after its last complete epoch.")
    progress = read_json(run_dir / "progress.json", {}) or {}
    inside = 0.0
    if status == "running" and progress.get("batches") and progress.get("epoch") == done + 1:
        inside = progress["batch"] / progress["batches"]
        st.caption(f"Epoch {done + 1}: batch {progress['batch']:,} of {progress['batches']:,} "
                   f"({progress['seconds']:.0f} s so far)")
    st.progress(min(1.0, (done + inside) / max(1, epochs)))
    test = (read_json(run_dir / "metrics.json", {}) or {}).get("test") or {}
    note = small_sample_note(test)
    if note:
        st.warning(note)
    if len(history):
        curves = ("loss", "accuracy", "balanced_accuracy") if config.get("task") == "diagnosis" \
            else ("loss", "accuracy", "auc")
        st.plotly_chart(plot_history(history, curves, best_epoch=state.get("best_epoch")), width="stretch",
                        key=f"history_{run_dir.name}_{len(history)}")
    else:
        st.caption("No complete epoch yet: the first one includes reading the images and compiling the model.")
    log = run_dir / "log.txt"
    if log.exists():
        st.code("\n".join(log.read_text().splitlines()[-6:]) or "(empty log)", language=None, wrap_lines=True)


def live_run_ui(run_dir: str | Path) -> str:
    """`run_view` refreshed every 2 s while the run is running; returns its status."""
    status = run_status(run_dir)
    every = 2 if status == "running" else None

    @st.fragment(run_every=every)
    def view():
        run_view(run_dir)
        if every and run_status(run_dir) != "running":
            st.rerun()  # the run just ended: redraw the whole page once (buttons, tables)

    view()
    return status


def thesis_reference() -> pd.DataFrame | None:
    """The thesis's table next to its five CNNs retrained by skinml and the shipped default.

    Reads `skinml/assets/thesis_runs.csv` (written by train/train_thesis_models.py) and the
    shipped classifier's metrics; None when the table is not there.
    """
    from skinml import ASSETS
    from skinml.cnn.classifier import read_info

    path = ASSETS / "thesis_runs.csv"
    if not path.exists():
        return None
    table = pd.read_csv(path)
    info, m = read_info()  # the shipped classifier
    if m:
        row = {"model": f"{info.get('name', 'skinml_resnet')} (shipped, threshold {m['threshold']:.0%})",
               "val_accuracy": m["val"]["accuracy"], "val_sensitivity": m["val"]["sensitivity"],
               "best_epoch": m.get("best_epoch"), "epochs_run": m.get("epochs_run"), "val_auc": m["val"]["auc"],
               "test_accuracy": m["test"]["accuracy"], "test_auc": m["test"]["auc"],
               "train_seconds": m.get("train_seconds")}
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
    return table


def runs_table() -> pd.DataFrame:
    """list_runs() for the page (newest first), with the dataset and data rules each run used and
    its test split's size and AUC interval."""
    from skinml.app.session import rules_text
    from skinml.data.policy import DataPolicy

    runs = list_runs(kind="classifier")
    extra = []
    for path in runs["path"]:
        config = read_json(Path(path) / "config.json", {}) or {}
        test = (read_json(Path(path) / "metrics.json", {}) or {}).get("test") or {}
        rules = DataPolicy(dermoscopic_only=bool(config.get("dermoscopic_only", True)),
                           exclude=tuple(tuple(r.split("=", 1)) for r in config.get("exclude", ())))
        diagnosis = config.get("task") == "diagnosis"
        low, high = (test.get("intervals") or {}).get("macro_auc" if diagnosis else "auc", (None, None))
        folders = [Path(f).name for f in (config.get("data") or "").split(os.pathsep) if f]
        extra.append({"task": "diagnosis" if diagnosis else "benign / malignant",
                      "data": " + ".join(folders) or "default folder", "rules": rules_text(rules),
                      "test_images": test.get("n"),
                      "test_auc_95%": f"{low:.2f} to {high:.2f}" if low is not None else None,
                      "test_balanced_accuracy": test.get("balanced_accuracy") if diagnosis else None,
                      "test_macro_auc": test.get("macro_auc") if diagnosis else None})
    columns = ["task", "data", "rules", "test_images", "test_auc_95%", "test_balanced_accuracy", "test_macro_auc"]
    extra = pd.DataFrame(extra, columns=columns, index=runs.index)
    table = pd.concat([runs, extra], axis=1)
    first = ("run", "task", "model", "status", "data", "rules", "epochs", "best_epoch")
    return table[[c for c in first if c in table] + [c for c in table if c not in first]]


def small_sample_note(test: dict) -> str:
    """A warning when a run's test figures rest on few images (see `skinml.metrics.binary.small_sample`),
    "" otherwise. `test`: the run's metrics.json "test" part."""
    from skinml.metrics.binary import small_sample_warning

    if not test.get("n"):
        return ""
    if "per_class" in test:  # a diagnosis run: its rare classes
        rare = [f"{r['class']} ({r['n']})" for r in test["per_class"] if r.get("n", 0) < 10]
        return (f"Few test images of {', '.join(rare)}: the sensitivity and AUC of these classes are very "
                "uncertain, and so is the balanced accuracy that averages them.") if rare else ""
    n_malignant = int(test.get("n_malignant", 0))
    interval = (test.get("intervals") or {}).get("auc")
    return small_sample_warning(n_malignant, int(test["n"]) - n_malignant, test.get("auc"), interval)


def plan_ui(config: TrainConfig, n_train: int, key: str = "train") -> None:
    """How much work the chosen settings are: images, batches, and an estimate of the time."""
    from skinml.runs import estimate

    speed = estimate.speed_from_runs(config.model) or st.session_state.get(
        f"{key}_speed_{config.model}_{config.batch_size}")
    plan = estimate.plan(config, n_train, speed)
    per_epoch = f"{plan.batches_per_epoch:,} batch{'es' if plan.batches_per_epoch != 1 else ''}"
    text = (f"**{plan.n_train:,} training images** · {per_epoch} of {config.batch_size} per epoch · "
            f"{plan.epochs} epoch{'s' if plan.epochs != 1 else ''} = {plan.batches:,} "
            f"batch{'es' if plan.batches != 1 else ''}")
    if plan.seconds is not None:
        text += (f" · **about {_duration(plan.seconds)}** on this machine ({plan.source}: about "
                 f"{_duration(speed.startup_seconds)} to start, read the images, compile and finish, then the "
                 "epochs; early stopping may end it sooner)")
    st.markdown(text)
    if plan.seconds is None and st.button("Estimate the time (trains a few batches, about 10 s)",
                                          key=f"{key}_estimate"):
        with st.spinner("Training a few batches on random images, in a process of its own ..."):
            try:  # never in the server's process: a child under the run cap (see estimate.measure_speed_apart)
                st.session_state[f"{key}_speed_{config.model}_{config.batch_size}"] = \
                    estimate.measure_speed_apart(config, owner=session_id())
            except ModelError as exc:
                st.error(plain(exc))
                return
        st.rerun()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
