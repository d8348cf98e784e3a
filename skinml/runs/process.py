"""Start and stop training processes: who may, how many at once, and that none outlives its parent.

`launch` starts at most `settings.max_runs()` training processes at once under one root and
records who asked; only that dashboard session, or the operator (the command line, the
teacher), may stop or resume a run (`stop(..., by=...)`). Every process `launch` starts ends
with the process that started it: SIGTERM at its exit (`stop_children`), and the child
watches its parent (`exit_with_parent`) in case the parent is killed outright. Every process
they start runs at a lower CPU priority than the server (`niced`): a training on the dashboard's
few cores cannot keep its visitors waiting.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from skinml import settings
from skinml.errors import ModelError, shown
from skinml.io import write_atomic
from skinml.runs.status import is_held, run_status, set_status
from skinml.settings import runs_root

REPO = Path(__file__).resolve().parents[2]  # the checkout (or site-packages) holding the package
OPERATOR = "operator"  # who acts when no dashboard session asks: the command line, the teacher
PARENT_ENV = "SKINML_PARENT_PID"  # set by `launch`: the pid the child must not outlive

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


def niced(command: list[str]) -> list[str]:
    """`command` run `settings.training_niceness()` steps below this process's CPU priority:
    `nice -n N command`, so that the process, and every thread and child it starts, yields the
    CPU to the server (the same pid: `nice` replaces itself with the command)."""
    steps, nice = settings.training_niceness(), shutil.which("nice")
    return [nice, "-n", str(steps), *command] if steps and nice else list(command)


def launch(command: list[str], run_dir: str | Path, cwd: str | Path | None = None,
           owner: str = OPERATOR) -> Path:
    """Start `command` as the training process of `run_dir`, in a session of its own.

    `owner` is the dashboard session that asks (OPERATOR for the command line). Refused with
    a ModelError when visitors may not train, when the run was started by someone else, or
    when `settings.max_runs()` runs already run under the same root. Its output goes to
    `console.txt`; the pid, the owner and status "running" are written at once, so a reader
    sees the run as running before the process has started up. A running run is not
    started twice. The process ends when this one does (`stop_children`, `exit_with_parent`)
    and runs at a lower CPU priority than this one (`niced`).
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
            process = subprocess.Popen(niced(command), stdout=console, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True, cwd=str(cwd) if cwd else None,
                                       env={**os.environ, PARENT_ENV: str(os.getpid())})
        write_atomic(run_dir / "pid", f"{process.pid}\n")
        write_atomic(run_dir / "owner", f"{owner}\n")
        set_status(run_dir, "running")
    if not _CHILDREN:
        atexit.register(stop_children)
    _CHILDREN[str(run_dir)] = process
    threading.Thread(target=process.wait, name=f"reap {run_dir.name}", daemon=True).start()  # no zombie
    return run_dir


BRIEF_LOCK = ".brief.lock"  # held while a brief job (`run_brief`) runs: it takes one place of the run cap


def _places_taken(root: Path) -> int:
    """Training processes running under `root`, plus one while a brief job runs there."""
    return len(running_runs(root)) + is_held(root / BRIEF_LOCK)


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
    it printed; it runs at a training's CPU priority (`niced`). It takes one place of
    `settings.max_runs()` while it runs (`launch` counts it), one at a time under a root; its memory
    goes back to the system when it ends, and it is killed (its whole group) after `timeout_s` seconds.
    ModelError (a sentence) when refused or failed."""
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
            process = subprocess.Popen(niced(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
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


def train_command(run_dir: str | Path) -> list[str]:
    """The command that trains (or resumes) the run whose config.json is in `run_dir`, of any kind:
    `python -m skinml train --run-dir RUN --quiet` (started with `cwd=REPO`)."""
    return [sys.executable, "-m", "skinml", "train", "--run-dir", str(Path(run_dir).resolve()), "--quiet"]


def launch_training(run_dir: str | Path, owner: str = OPERATOR) -> Path:
    """`launch` the training process of `run_dir` (its config.json written first) for `owner`."""
    return launch(train_command(run_dir), run_dir, cwd=REPO, owner=owner)


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
