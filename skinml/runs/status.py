"""A run's status and lock: one process trains a run, and its `status` file says how it ended.

`running(run_dir)` is the one block every trainer (classifier, GAN, the device run's jobs)
runs inside: it holds the run's lock, writes "running", and ends with "finished", "stopped"
(Ctrl+C, SIGTERM) or "failed" with the error's sentence.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from skinml.errors import ModelError, SkinmlError
from skinml.io import write_atomic

STATUSES = ("running", "finished", "failed", "stopped")


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


def pid_alive(pid: int) -> bool:
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


def is_locked(run_dir: Path) -> bool:
    """True when a process holds the run's lock."""
    return is_held(run_dir / ".lock")


def is_held(lock: Path) -> bool:
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
    if is_locked(run_dir):
        return "running"
    try:
        return "running" if pid_alive(int((run_dir / "pid").read_text())) else "interrupted"
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


def run_log(run_dir: str | Path) -> Callable[[str], None]:
    """A `log(message)` that prints a timed line to stderr and appends it to the run's `log.txt`."""
    path = Path(run_dir) / "log.txt"

    def log(message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        print(line, file=sys.stderr, flush=True)
        with open(path, "a") as f:
            f.write(line + "\n")

    return log


@contextmanager
def running(run_dir: str | Path, log: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the run's lock and keep its `status` true while the block trains it.

    "running" on entry; "finished" when the block ends; "stopped" on KeyboardInterrupt (Ctrl+C,
    or SIGTERM through `stop_on_sigterm`); "failed" with the error's sentence on any other
    error (a SkinmlError's own sentence, else the exception's type and text). The error goes on.
    """
    run_dir = Path(run_dir)
    log = log or (lambda message: None)
    with RunLock(run_dir):
        set_status(run_dir, "running")
        try:
            yield
        except KeyboardInterrupt:
            set_status(run_dir, "stopped", "Stopped before the end; start it again to resume.")
            log("stopped")
            raise
        except Exception as exc:
            set_status(run_dir, "failed", str(exc) if isinstance(exc, SkinmlError) else f"{type(exc).__name__}: {exc}")
            log(f"failed: {type(exc).__name__}: {exc}")
            raise
        set_status(run_dir, "finished")
        log("finished")
