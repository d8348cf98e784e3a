"""Deployment settings: what a dashboard visitor may open and start, and the limits on every input.

A teacher who puts the dashboard on a shared server sets these in the environment of
`streamlit run` (README, "On a shared server"); each is read when it is needed, so a test
or an operator can change one without a restart.

    SKINML_DATA_ROOTS  the folders the dashboard may open, separated by ':' (os.pathsep).
                       Default: ../shared/data next to the checkout when it exists and
                       ~/skinml-data. The built-in demo and $SKINML_DATA are always allowed.
    SKINML_RUNS        the one folder that holds training runs (default: runs/).
    SKINML_MAX_RUNS    training processes at once on this server (default: 1).
    SKINML_TRAINING    "on" (default) or "off": whether dashboard visitors may start training.
    SKINML_CACHE       decoded images and the built-in demo (default: ~/.cache/skinml).

The limits below bound the memory and time any one input can cost, whatever it holds.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from skinml import SHARED_DATA
from skinml.errors import DataError, SkinmlError

MAX_WALK_ENTRIES = 200_000           # files and folders a dataset folder's walk visits at most
MAX_IMAGE_FILE_BYTES = 50_000_000    # an image file (upload, CLI argument, dataset image)
MAX_DECODED_BYTES = 100_000_000      # width x height x channels x bytes per channel of a decoded image
# What a decoder needs besides the pixels: a progressive JPEG's coefficients, a WebP's copies.
MAX_DECODER_BYTES = 250_000_000
MAX_RECORD_BYTES = 1_000_000        # one JSON record of the old archive layout (an ISIC record is a few kB)
MAX_METADATA_FIELDS = 2_000         # different fields in a folder's JSON records: more is not a dataset
MAX_TABLE_BYTES = 256_000_000        # a metadata table (metadata.csv, HAM10000_metadata.csv, a JSON record)
HOME_DATA = Path("~/skinml-data")    # the data folder under the user's home, a default root


def _on(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "on", "true", "yes"):
        return True
    if value in ("0", "off", "false", "no"):
        return False
    raise SkinmlError(f"{name}={value!r} is not understood: write on or off.")


def cache_root() -> Path:
    """Where skinml keeps decoded images and the built-in demo: $SKINML_CACHE, else ~/.cache/skinml."""
    return Path(os.environ.get("SKINML_CACHE") or Path.home() / ".cache" / "skinml").expanduser()


def runs_root() -> Path:
    """Where runs live: $SKINML_RUNS, else `runs/` in the working directory."""
    return Path(os.environ.get("SKINML_RUNS") or "runs")


def max_runs() -> int:
    """How many training processes may run at once on this server ($SKINML_MAX_RUNS, default 1)."""
    value = os.environ.get("SKINML_MAX_RUNS", "").strip() or "1"
    if not value.isdigit():
        raise SkinmlError(f"SKINML_MAX_RUNS={value!r} is not a whole number of training runs.")
    return int(value)


def visitors_may_train() -> bool:
    """Whether dashboard visitors may start training runs ($SKINML_TRAINING, default on)."""
    return _on("SKINML_TRAINING", True)


def data_roots() -> list[Path]:
    """The folders the dashboard may open (resolved): $SKINML_DATA_ROOTS, else ../shared/data when
    present and ~/skinml-data; always the built-in demo and $SKINML_DATA."""
    configured = os.environ.get("SKINML_DATA_ROOTS", "")
    roots = [Path(p) for p in configured.split(os.pathsep) if p.strip()] if configured.strip() \
        else [SHARED_DATA, HOME_DATA]
    roots.append(cache_root() / "demo")
    if os.environ.get("SKINML_DATA"):
        roots.append(Path(os.environ["SKINML_DATA"]))
    return [root.expanduser().resolve() for root in roots]


def inside_data_roots(path: str | Path) -> Path:
    """The resolved `path` when it lies under one of `data_roots()` (whether or not it exists),
    else DataError. Links are resolved first: a link inside a root that leads elsewhere is refused."""
    text = str(path).strip()
    if not text:
        raise DataError("Type the path of a folder that holds a dataset.")
    try:  # a NUL byte, an over-long name or a loop of links is a typing error, not a bug
        resolved = Path(text).expanduser().resolve()
        resolved.exists()  # raises for a name too long for the file system
    except (ValueError, OSError, RuntimeError):
        raise DataError(f"{_shown(text)} is not a path a folder can have: type the path of a folder "
                        "that holds a dataset.") from None
    roots = data_roots()
    if not any(resolved.is_relative_to(root) for root in roots):
        shown = ", ".join(str(root) for root in roots if root.is_dir()) or "none exists yet"
        raise DataError(f"{_shown(text)} is outside the data folders this server shares ({shown}): "
                        "choose a dataset inside one of them, or ask the teacher to add it "
                        "(SKINML_DATA_ROOTS).")
    return resolved


def _shown(text: str, limit: int = 120) -> str:
    """`text` as a message may quote it: control characters as escapes, at most `limit` characters."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[:limit] + "..."


def check_data_folder(path: str | Path) -> Path:
    """The resolved folder `path` when it is a folder under one of `data_roots()`, else DataError."""
    folder = inside_data_roots(path)
    text = str(path).strip()
    try:
        is_folder = folder.is_dir()
    except OSError:  # a name too long for the file system, a folder that cannot be listed
        is_folder = False
    if not is_folder:
        raise DataError(f"{_shown(text)} is not a folder: type the path of a folder that holds a dataset.")
    return folder


def read_file(path: str | Path, max_bytes: int, error: type[SkinmlError] = SkinmlError) -> bytes:
    """The bytes of the regular file `path`, or `error` with a sentence: never more than `max_bytes`
    read, never a wait on a pipe or a device (a FIFO, /dev/zero, a socket is refused at once)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise error(f"There is no file '{path}'.") from None
    except OSError as exc:
        raise error(f"'{path}' cannot be read ({exc.strerror}).") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"'{path}' is a folder, not a file.")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"'{path}' is not an ordinary file (it is a pipe, a device or a socket): "
                        "only ordinary files are read.")
        if info.st_size > max_bytes:
            raise error(_too_big(path, info.st_size, max_bytes))
        with os.fdopen(fd, "rb") as f:
            fd = None  # closed with f
            data = f.read(max_bytes + 1)  # + 1: a file that grew since fstat is caught too
    finally:
        if fd is not None:
            os.close(fd)
    if len(data) > max_bytes:
        raise error(_too_big(path, len(data), max_bytes))
    return data


def _too_big(path, size: int, max_bytes: int) -> str:
    return f"'{path}' is {size / 1e6:,.1f} MB: more than the {max_bytes / 1e6:,.0f} MB accepted."
