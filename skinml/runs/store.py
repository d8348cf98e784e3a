"""Run directories: their names, and reading them back (one run, or a table of all of them)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd

from skinml.errors import ModelError, SkinmlError, shown
from skinml.io import read_json, read_table
from skinml.runs.status import run_status, status_message
from skinml.settings import runs_root

RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_run_name(name: str) -> str:
    """`name` if it is a plain folder name (letters, digits, '.', '_', '-'), else SkinmlError.

    A run is always a folder directly under the runs root: no path, no '..', nothing hidden.
    """
    if not RUN_NAME.fullmatch(name or "") or ".." in name:  # fullmatch: "$" alone lets a final newline through
        raise SkinmlError(f"'{shown(name, 60)}' cannot name a run: use letters, digits, '.', '_' and '-' only "
                          "(at most 100, no folders).")
    return name


def new_run_dir(prefix: str, root: str | Path | None = None) -> Path:
    """A new, not yet existing run directory `<root>/<prefix>-<date>-<time>[-n]`."""
    root = Path(root) if root else runs_root()
    base = f"{check_run_name(prefix)}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir, n = root / base, 1
    while run_dir.exists():
        n += 1
        run_dir = root / f"{base}-{n}"
    return run_dir


def run_dir_named(name: str, root: str | Path | None = None) -> Path:
    """The run directory called `name` under the runs root (checked: it cannot lead elsewhere)."""
    return (Path(root) if root else runs_root()) / check_run_name(name)


def load_history(run_dir: str | Path, name: str = "history.csv") -> pd.DataFrame:
    """A run's per-epoch table (`history.csv`, or `losses.csv` of a GAN); empty when none yet."""
    return read_table(Path(run_dir) / name)


def run_kind(config: dict) -> str:
    """"gan" or "classifier", from a run's config.json."""
    return config.get("kind") or ("gan" if "holdout" in config else "classifier")


def load_run(run_dir: str | Path) -> dict:
    """A run directory's record: name, path, kind, status, config, state, history, metrics."""
    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json")
    if not isinstance(config, dict):
        raise ModelError(f"{run_dir} is not a training run: it has no readable config.json.")
    kind = run_kind(config)
    return {"name": run_dir.name, "path": run_dir, "kind": kind, "status": run_status(run_dir),
            "message": status_message(run_dir), "config": config,
            "state": read_json(run_dir / "state.json", {}) or {},
            "history": load_history(run_dir, "losses.csv" if kind == "gan" else "history.csv"),
            "metrics": read_json(run_dir / "metrics.json", {}) or {}}


def list_runs(root: str | Path | None = None, kind: str | None = None) -> pd.DataFrame:
    """One row per run under `root` (newest first), of one `kind` or all.

    Columns: run, kind, model, status, epochs, best_epoch, val_accuracy, val_sensitivity,
    val_auc, test_auc, test_accuracy, path (the metric columns are empty for GAN runs).
    """
    root = Path(root) if root else runs_root()
    columns = ["run", "kind", "model", "status", "epochs", "best_epoch", "val_accuracy", "val_sensitivity",
               "val_auc", "test_auc", "test_accuracy", "path"]
    rows = []
    found = root.glob("*/config.json") if root.is_dir() else []
    for config_file in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True):
        run_dir = config_file.parent
        config = read_json(config_file)
        if not isinstance(config, dict) or (kind and run_kind(config) != kind):
            continue
        state = read_json(run_dir / "state.json", {}) or {}
        metrics = read_json(run_dir / "metrics.json", {}) or {}
        val, test, best = metrics.get("val", {}), metrics.get("test", {}), state.get("best_logs", {})
        rows.append({"run": run_dir.name, "kind": run_kind(config), "model": config.get("model", ""),
                     "status": run_status(run_dir), "epochs": state.get("epoch", 0),
                     "best_epoch": state.get("best_epoch"),
                     "val_accuracy": val.get("accuracy", best.get("val_accuracy")),
                     "val_sensitivity": val.get("sensitivity", best.get("val_sensitivity")),
                     "val_auc": val.get("auc", best.get("val_auc")),
                     "test_auc": test.get("auc"), "test_accuracy": test.get("accuracy"), "path": str(run_dir)})
    return pd.DataFrame(rows, columns=columns)
