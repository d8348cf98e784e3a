"""A model's life: run directories, their status and lock, training processes, finishing,
cards, shipping and recipes. The one owner of a run from config to shipped folder.

Classifier runs (`skinml.cnn.train`), GAN runs (`skinml.gan.train`) and the device run's jobs
(`train/gpu_run.py`) share this layout under one root (`runs_root()`: $SKINML_RUNS, else `runs/`):

    config.json   the resolved settings, with "kind": "classifier" or "gan"
    state.json    the last complete epoch and what goes with it (the commit point of an epoch)
    status        running, finished, failed or stopped; a sentence on the next line
    pid           the training process (a session leader: stopping signals its whole group)
    owner         who started it from the dashboard (a session id), else "operator"
    .lock         held by the training process for its whole life: one process per run
    console.txt   what the process printed, when the dashboard started it

Modules: `status` (STATUSES, the lock, `running`: the one status block of every trainer),
`process` (launch, stop), `store` (names, `load_run`, `list_runs`), `train` (`fit_classifier`,
`fit_gan`: config, lock, status, resume), `estimate` (a run's time), `unfinished` (a stopped
run's best epoch as a model to evaluate), `finish` (runs into one model), `cards` (model cards
generated from a folder's files), `ship` (a complete model folder, swapped in atomically),
`recipes` (`make NAME`: train/recipes/NAME.toml to skinml/assets/NAME).
Files are written through `skinml.io` (temporary file, flush, rename). This package imports no
Keras at import time: the heavy modules are imported by name (`skinml.runs.train`, ...).
"""

from skinml.runs.process import (
    BRIEF_LOCK,
    OPERATOR,
    PARENT_ENV,
    check_cap,
    exit_with_parent,
    launch,
    launch_training,
    remove_unstarted,
    run_brief,
    run_owner,
    running_runs,
    stop,
    stop_children,
    stop_on_sigterm,
    train_command,
)
from skinml.runs.status import STATUSES, RunLock, pid_alive, run_log, run_status, running, set_status, status_message
from skinml.runs.store import check_run_name, list_runs, load_history, load_run, new_run_dir, run_dir_named, run_kind
from skinml.settings import runs_root

__all__ = [
    "BRIEF_LOCK", "OPERATOR", "PARENT_ENV", "check_cap", "remove_unstarted", "run_brief",
    "STATUSES", "RunLock", "check_run_name", "exit_with_parent", "launch", "launch_training",
    "list_runs", "load_history", "load_run", "new_run_dir", "pid_alive", "run_dir_named", "run_kind", "run_log",
    "run_owner", "run_status", "running", "running_runs", "runs_root", "set_status", "status_message", "stop",
    "stop_children", "stop_on_sigterm", "train_command",
]
