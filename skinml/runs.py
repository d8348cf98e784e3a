"""Run directories: the one place that names, writes, reads, starts and stops training runs.

Classifier runs (`skinml.cnn.train`) and GAN runs (`skinml.gan.train`) share this layout
under one root (`runs_root()`: $SKINML_RUNS, else `runs/`):

    config.json   the resolved settings, with "kind": "classifier" or "gan"
    state.json    the last complete epoch and what goes with it (the commit point of an epoch)
    status        running, finished, failed or stopped; a sentence on the next line
    pid           the training process (a session leader: stopping signals its whole group)
    owner         who started it from the dashboard (a session id), else "operator"
    .lock         held by the training process for its whole life: one process per run
    console.txt   what the process printed, when the dashboard started it

`launch` starts at most `settings.max_runs()` training processes at once under one root and
records who asked; only that dashboard session, or the operator (the command line, the
teacher), may stop or resume a run (`stop(..., by=...)`). Every process `launch` starts ends
with the process that started it: SIGTERM at its exit (`stop_children`), and the child
watches its parent (`exit_with_parent`) in case the parent is killed outright.

Every file is written to a temporary name in the same folder, flushed to disk and renamed
(`write_atomic`), so a run killed at any moment leaves each file whole, old or new.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from skinml import settings
from skinml.errors import ModelError, SkinmlError, shown
from skinml.settings import runs_root

STATUSES = ("running", "finished", "failed", "stopped")
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
OPERATOR = "operator"  # who acts when no dashboard session asks: the command line, the teacher
PARENT_ENV = "SKINML_PARENT_PID"  # set by `launch`: the pid the child must not outlive


# ---------------------------------------------------------------- atomic files

def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write text or bytes so that `path` is always either the old or the new whole file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600: shipped files must be readable by every user
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str | Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, default=str))


def read_json(path: str | Path, default=None):
    """The JSON in `path`, or `default` when the file is missing or not whole JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return default


def _save_atomic(path: Path, suffix: str, save) -> None:
    """Call `save(tmp)` for a temporary file with `suffix` next to `path`, then rename it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=suffix)
    os.close(fd)
    try:
        save(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_model_atomic(model, path: str | Path, compact: bool = False) -> None:
    """`model.save` to a temporary .keras file in the same folder, then rename over `path`.

    With `compact`, the weights are rounded to float16 precision (they stay float32, so the
    model computes exactly as before on the rounded values) and the archive, which Keras
    writes uncompressed, is rewritten deflated: the rounded weights compress to about 57%.
    Keras loads either archive.
    """
    def save(tmp: str) -> None:
        if not compact:
            model.save(tmp)
            return
        weights = model.get_weights()
        model.set_weights(half_precision(weights))
        try:
            model.save(tmp)
        finally:
            model.set_weights(weights)
        _deflate(Path(tmp))

    _save_atomic(Path(path), ".keras", save)


def save_weights_atomic(model, path: str | Path) -> None:
    """`model.save_weights` to a temporary `.weights.h5`, then rename over `path`."""
    _save_atomic(Path(path), ".weights.h5", model.save_weights)


def half_precision(weights: list[np.ndarray]) -> list[np.ndarray]:
    """float32 arrays rounded to the nearest float16 value (kept float32); others unchanged."""
    return [w.astype("float16").astype(w.dtype) if w.dtype == "float32" else w for w in weights]


def _deflate(archive: Path) -> None:
    """Rewrite a zip archive in place with every member deflated."""
    with zipfile.ZipFile(archive) as src:
        members = [(info.filename, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for name, data in members:
            dst.writestr(name, data)


# ---------------------------------------------------------------- naming

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


# ---------------------------------------------------------------- status and lock

def set_status(run_dir: str | Path, status: str, message: str = "") -> None:
    """Write the `status` file: one of STATUSES, then an optional sentence on the next line."""
    if status not in STATUSES:
        raise ValueError(f"Unknown run status {status!r}.")
    write_atomic(Path(run_dir) / "status", status + ("\n" + message if message else "") + "\n")


def status_message(run_dir: str | Path) -> str:
    """The sentence written with the status ("" when none)."""
    try:
        return (Path(run_dir) / "status").read_text().split("\n", 1)[1].strip()
    except (FileNotFoundError, IndexError):
        return ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child not yet reaped by its parent is a zombie: not running
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return True


def _locked(run_dir: Path) -> bool:
    """True when a process holds the run's lock."""
    return _held(run_dir / ".lock")


def _held(lock: Path) -> bool:
    """True when a process holds the file lock `lock`."""
    try:
        with open(lock, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def run_status(run_dir: str | Path) -> str:
    """running, finished, failed, stopped, interrupted (process gone while `running`) or new."""
    run_dir = Path(run_dir)
    try:
        status = (run_dir / "status").read_text().split("\n")[0].strip()
    except (FileNotFoundError, NotADirectoryError):
        return "new"
    if status != "running":
        return status if status in STATUSES else "new"
    if _locked(run_dir):
        return "running"
    try:
        return "running" if _pid_alive(int((run_dir / "pid").read_text())) else "interrupted"
    except (FileNotFoundError, ValueError):
        return "interrupted"


class RunLock:
    """Held by the process that trains a run, for as long as it trains: a second process
    asked to train the same run directory stops at once with a sentence, instead of both
    writing the same files. The operating system releases it when the process dies."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / ".lock"
        self._file = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise ModelError(f"Another process is training {self.path.parent} right now: "
                             "wait for it to finish or stop it first.") from None
        write_atomic(self.path.parent / "pid", f"{os.getpid()}\n")
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()


# ---------------------------------------------------------------- start and stop

_CHILDREN: dict[str, subprocess.Popen] = {}  # kept so finished children are reaped, not zombies


def run_owner(run_dir: str | Path) -> str:
    """Who started the run: a dashboard session id, or OPERATOR (also for runs started elsewhere)."""
    try:
        return (Path(run_dir) / "owner").read_text().strip() or OPERATOR
    except (FileNotFoundError, NotADirectoryError):
        return OPERATOR


def _check_owner(run_dir: Path, by: str, action: str) -> None:
    if by != OPERATOR and run_owner(run_dir) != by:
        raise ModelError(f"Only the visitor who started {run_dir.name} can {action} it (or the teacher, "
                         "on the server): it is not yours.")


@contextmanager
def _root_lock(root: Path):
    """One launch at a time under a runs root, so that two clicks cannot both pass the cap."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".launch.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def running_runs(root: str | Path | None = None) -> list[Path]:
    """The run directories under `root` whose training process is running now."""
    root = Path(root) if root else runs_root()
    found = root.iterdir() if root.is_dir() else []
    return sorted(d for d in found if d.is_dir() and run_status(d) == "running")


BRIEF_LOCK = ".brief.lock"  # held while a brief job (`run_brief`) runs: it takes one place of the run cap


def _places_taken(root: Path) -> int:
    """Training processes running under `root`, plus one while a brief job runs there."""
    return len(running_runs(root)) + _held(root / BRIEF_LOCK)


def _cap_sentence(taken: int, limit: int) -> str:
    return (f"{taken} training run{'s' if taken != 1 else ''} or measurement{'s' if taken != 1 else ''} already "
            f"running on this server, the most it allows at once ({limit}): wait until "
            f"{'one' if taken != 1 else 'it'} finishes, then start yours.")


def check_cap(owner: str = OPERATOR, root: str | Path | None = None) -> None:
    """ModelError (a sentence) when `owner` may not start a process under `root` now: training is
    switched off for visitors, or the run cap is reached. What `launch` checks, for a page to ask
    before it writes anything."""
    root = Path(root) if root else runs_root()
    if owner != OPERATOR and not settings.visitors_may_train():
        raise ModelError("Training from the dashboard is switched off on this server (SKINML_TRAINING=off): "
                         "the finished runs and models are still here to explore.")
    taken, limit = _places_taken(root), settings.max_runs()
    if taken >= limit:
        raise ModelError(_cap_sentence(taken, limit))


def run_brief(command: list[str], timeout_s: float, owner: str = OPERATOR, root: str | Path | None = None,
              cwd: str | Path | None = None) -> str:
    """Run a short job (a speed measurement) in a child process under the run cap and return what
    it printed. It takes one place of `settings.max_runs()` while it runs (`launch` counts it),
    one at a time under a root; its memory goes back to the system when it ends, and it is killed
    (its whole group) after `timeout_s` seconds. ModelError (a sentence) when refused or failed."""
    root = Path(root) if root else runs_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / BRIEF_LOCK, "a") as held:
        with _root_lock(root):
            check_cap(owner, root)
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ModelError("Another visitor is measuring the training speed right now: try again in a "
                                 "minute.") from None
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       stdin=subprocess.DEVNULL, start_new_session=True, text=True,
                                       cwd=str(cwd) if cwd else None, env={**os.environ, PARENT_ENV: str(os.getpid())})
            try:
                out, err = process.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise ModelError(f"The measurement took more than {timeout_s:.0f} s and was stopped: the machine is "
                                 "busy, try again later.") from None
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
    if process.returncode:
        last = (err.strip().splitlines() or ["no message"])[-1]
        raise ModelError(f"The measurement failed ({shown(last)}).")
    return out


def launch(command: list[str], run_dir: str | Path, cwd: str | Path | None = None,
           owner: str = OPERATOR) -> Path:
    """Start `command` as the training process of `run_dir`, in a session of its own.

    `owner` is the dashboard session that asks (OPERATOR for the command line). Refused with
    a ModelError when visitors may not train, when the run was started by someone else, or
    when `settings.max_runs()` runs already run under the same root. Its output goes to
    `console.txt`; the pid, the owner and status "running" are written at once, so a reader
    sees the run as running before the process has started up. A running run is not
    started twice. The process ends when this one does (`stop_children`, `exit_with_parent`).
    """
    run_dir = Path(run_dir).resolve()
    if owner != OPERATOR and not settings.visitors_may_train():
        check_cap(owner, run_dir.parent)  # the sentence that training is switched off
    with _root_lock(run_dir.parent):
        if run_status(run_dir) == "running":
            return run_dir
        if (run_dir / "status").exists():  # started before: only its owner resumes it
            _check_owner(run_dir, owner, "resume")
        check_cap(owner, run_dir.parent)
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "console.txt", "ab") as console:
            process = subprocess.Popen(command, stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True, cwd=str(cwd) if cwd else None,
                                       env={**os.environ, PARENT_ENV: str(os.getpid())})
        write_atomic(run_dir / "pid", f"{process.pid}\n")
        write_atomic(run_dir / "owner", f"{owner}\n")
        set_status(run_dir, "running")
    if not _CHILDREN:
        atexit.register(stop_children)
    _CHILDREN[str(run_dir)] = process
    return run_dir


def remove_unstarted(run_dir: str | Path, created: bool) -> None:
    """Take back a run folder whose launch was refused: its config.json, and the folder itself when
    this launch `created` it and nothing else is in it. Never touches a run that has started."""
    run_dir = Path(run_dir)
    if (run_dir / "status").exists():
        return
    (run_dir / "config.json").unlink(missing_ok=True)
    if created:
        try:
            run_dir.rmdir()
        except OSError:  # something else is in it: left alone
            pass


def stop(run_dir: str | Path, by: str, wait_s: float = 10.0) -> bool:
    """Stop a running run for `by` (its owner's session id, or OPERATOR): SIGTERM to its process
    group, SIGKILL after `wait_s` seconds. Returns True if the run was running; ModelError when
    `by` may not stop it.

    Only a process that leads its own session (as `launch` starts them) is signalled, never
    a pid that happens to be written in the folder.
    """
    run_dir = Path(run_dir).resolve()
    for process in list(_CHILDREN.values()):
        process.poll()
    if run_status(run_dir) != "running":
        return False
    _check_owner(run_dir, by, "stop")
    try:
        pid = int((run_dir / "pid").read_text())
        if os.getpgid(pid) != pid:
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.time() + wait_s
        while time.time() < deadline and run_status(run_dir) == "running":
            time.sleep(0.1)
            if str(run_dir) in _CHILDREN:
                _CHILDREN[str(run_dir)].poll()
        if run_status(run_dir) == "running":
            os.killpg(pid, signal.SIGKILL)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        pass
    if run_status(run_dir) in ("running", "interrupted"):
        set_status(run_dir, "stopped", "Stopped before the end; start it again to resume.")
    return True


def stop_children(wait_s: float = 10.0) -> None:
    """Stop every training process this process launched (at its exit, and when the dashboard
    shuts down): SIGTERM to each group, SIGKILL to those still there after `wait_s` seconds."""
    alive = [p for p in _CHILDREN.values() if p.poll() is None]
    for process in alive:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.time() + wait_s
    for process in alive:
        try:
            process.wait(max(0.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def stop_on_sigterm() -> None:
    """In a training process: turn SIGTERM (the Stop button) into KeyboardInterrupt, so the
    run ends as "stopped" through the same path as Ctrl+C."""
    def interrupt(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def exit_with_parent(poll_s: float = 1.0, grace_s: float = 60.0) -> None:
    """In a process that `launch` started: end when the process that launched it is gone.

    A thread compares the parent pid with the one `launch` recorded; once the parent has died
    (even by SIGKILL, which runs no clean-up), it sends this process SIGTERM (a clean stop,
    see `stop_on_sigterm`) and SIGKILL to its group `grace_s` seconds later. Nothing happens
    in a process started some other way (no SKINML_PARENT_PID).
    """
    expected = os.environ.get(PARENT_ENV, "")
    if not expected.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(expected):
            time.sleep(poll_s)
        print("the process that started this run has ended: stopping", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="skinml-exit-with-parent", daemon=True).start()


# ---------------------------------------------------------------- reading runs

def load_history(run_dir: str | Path, name: str = "history.csv") -> pd.DataFrame:
    """A run's per-epoch table (`history.csv`, or `losses.csv` of a GAN); empty when none yet."""
    try:
        return pd.read_csv(Path(run_dir) / name)
    except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame()


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
