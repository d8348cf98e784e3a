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
    SKINML_TRAINING_NICE  how much lower the CPU priority of a training process is than the
                       dashboard's (0-19, default 19: a training takes the CPU the visitors leave).
    SKINML_TF_THREADS  TensorFlow's threads in the dashboard, per pool (default: the cores this
                       process may run on, which is fewer than the machine's in a container).
    SKINML_CACHE       decoded images and the built-in demo (default: ~/.cache/skinml).

The limits below bound the memory and time any one input can cost, whatever it holds.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from skinml import SHARED_DATA
from skinml.errors import DataError, SkinmlError, shown

MAX_WALK_ENTRIES = 200_000           # files and folders a dataset folder's walk visits at most
MAX_IMAGE_FILE_BYTES = 50_000_000    # an image file (upload, CLI argument, dataset image)
MAX_DECODED_BYTES = 100_000_000      # width x height x channels x bytes per channel of a decoded image
# What a decoder needs besides the pixels: a progressive JPEG's coefficients, a WebP's copies.
MAX_DECODER_BYTES = 250_000_000
MAX_RECORD_BYTES = 1_000_000        # one JSON record of the old archive layout (an ISIC record is a few kB)
MAX_METADATA_FIELDS = 2_000         # different fields in a folder's JSON records: more is not a dataset
MAX_TABLE_BYTES = 256_000_000        # a metadata table (metadata.csv, HAM10000_metadata.csv, a JSON record)
# Rows of a metadata table: each costs about 2.4 kB once read and checked (a 2,000,000-row table
# took 5 GB and 9 minutes); the ISIC archive's largest collections hold a few hundred thousand images.
MAX_TABLE_ROWS = 500_000
# Pixels of a lesion mask (HAM10000's are 600x450; the largest ISIC photos about 6000x4000).
MAX_MASK_PIXELS = 30_000_000
# What the server decodes at once, summed over every upload and dataset image in flight (each one's
# worst case, `skinml.images.decode.decoding`): 8 worst-case uploads at once took 1.8 GB more.
MAX_DECODING_AT_ONCE = 600_000_000
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


def training_niceness() -> int:
    """How many steps lower (`nice`) a training process's CPU priority is than the dashboard's
    ($SKINML_TRAINING_NICE, 0 to 19, default 19): the server answers its visitors first."""
    value = os.environ.get("SKINML_TRAINING_NICE", "").strip() or "19"
    if not value.isdigit() or int(value) > 19:
        raise SkinmlError(f"SKINML_TRAINING_NICE={value!r} is not a niceness from 0 to 19.")
    return int(value)


def tf_threads() -> int:
    """TensorFlow's threads per pool in the dashboard ($SKINML_TF_THREADS, default the cores this
    process may run on)."""
    value = os.environ.get("SKINML_TF_THREADS", "").strip()
    if value and (not value.isdigit() or int(value) < 1):
        raise SkinmlError(f"SKINML_TF_THREADS={value!r} is not a whole number of threads.")
    return int(value) if value else len(os.sched_getaffinity(0))


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
        raise DataError(f"{shown(text)} is not a path a folder can have: type the path of a folder "
                        "that holds a dataset.") from None
    roots = data_roots()
    if not any(resolved.is_relative_to(root) for root in roots):
        folders = ", ".join(str(root) for root in roots if root.is_dir()) or "none exists yet"
        raise DataError(f"{shown(text)} is outside the data folders this server shares ({folders}): "
                        "choose a dataset inside one of them, or ask the teacher to add it "
                        "(SKINML_DATA_ROOTS).")
    return resolved


def check_data_folder(path: str | Path) -> Path:
    """The resolved folder `path` when it is a folder under one of `data_roots()`, else DataError."""
    folder = inside_data_roots(path)
    text = str(path).strip()
    try:
        is_folder = folder.is_dir()
    except OSError:  # a name too long for the file system, a folder that cannot be listed
        is_folder = False
    if not is_folder:
        raise DataError(f"{shown(text)} is not a folder: type the path of a folder that holds a dataset.")
    return folder


def read_file(path: str | Path, max_bytes: int, error: type[SkinmlError] = SkinmlError,
              inside: str | Path | None = None) -> bytes:
    """The bytes of the regular file `path`, or `error` with a sentence: never more than `max_bytes`
    read, never a wait on a pipe or a device (a FIFO, /dev/zero, a socket is refused at once).

    With `inside` (a dataset or mask folder), `path` must resolve inside that folder: a link that
    leads out of it is refused before anything is read, so no sentence ever quotes a file from
    elsewhere on the server.
    """
    if inside is not None:
        check_inside(path, inside, error)
    name = shown(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise error(f"There is no file '{name}'.") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise error(f"'{name}' cannot be read ({getattr(exc, 'strerror', None) or 'not a file name'}).") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"'{name}' is a folder, not a file.")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"'{name}' is not an ordinary file (it is a pipe, a device or a socket): "
                        "only ordinary files are read.")
        if info.st_size > max_bytes:
            raise error(_too_big(name, info.st_size, max_bytes))
        with os.fdopen(fd, "rb") as f:
            fd = None  # closed with f
            data = f.read(max_bytes + 1)  # + 1: a file that grew since fstat is caught too
    except OSError as exc:  # /proc/self/mem: a "regular" file whose read fails
        raise error(f"'{name}' cannot be read ({exc.strerror or type(exc).__name__}).") from None
    finally:
        if fd is not None:
            os.close(fd)
    if len(data) > max_bytes:
        raise error(_too_big(name, len(data), max_bytes))
    return data


def check_inside(path: str | Path, folder: str | Path, error: type[SkinmlError] = DataError) -> Path:
    """The resolved `path` when it lies inside `folder` (links resolved), else `error`: a table,
    mask or image of a dataset is read only from inside its own folder."""
    try:
        resolved, root = Path(path).resolve(), Path(folder).resolve()
    except (OSError, RuntimeError, ValueError):
        raise error(f"'{shown(path)}' cannot be read: it is a link that cannot be followed.") from None
    if not resolved.is_relative_to(root):
        raise error(f"'{shown(path)}' is a link that leads out of {shown(root)}: only files inside the "
                    "folder are read.")
    return resolved


def _too_big(name: str, size: int, max_bytes: int) -> str:
    return f"'{name}' is {size / 1e6:,.1f} MB: more than the {max_bytes / 1e6:,.0f} MB accepted."


def check_output_file(path: str | Path, inputs=(), error: type[SkinmlError] = SkinmlError) -> Path:
    """`path` checked as a file a command is about to write (before any work starts), else `error`
    with a sentence. Refused: an existing folder, anything but an ordinary file (a device, a pipe,
    /proc), a path inside one of `inputs` (the command's data folders and files: a dataset's
    metadata.csv is never replaced by results), an existing file under the data roots, a folder that
    cannot be written into. The file itself is then written whole or not at all (`skinml.io.write_atomic`).
    """
    text = str(path).strip()
    if not text:
        raise error("Name the file to write.")
    try:
        target = Path(text).expanduser()
        resolved = target.resolve()
        exists = target.exists() or target.is_symlink()
        info = os.stat(resolved) if resolved.exists() else None
    except (OSError, RuntimeError, ValueError):
        raise error(f"'{shown(text)}' is not a path a file can have.") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise error(f"'{shown(text)}' is a folder: name a file to write.")
    if exists and (info is None or not stat.S_ISREG(info.st_mode)):
        raise error(f"'{shown(text)}' exists and is not an ordinary file (a device, a pipe or a broken link): "
                    "it is never replaced. Name another file.")
    for item in inputs:
        try:
            source = Path(item).expanduser().resolve()
        except (OSError, RuntimeError, ValueError):
            continue
        if resolved == source or resolved.is_relative_to(source) and source.is_dir():
            raise error(f"'{shown(text)}' is {'an input' if resolved == source else 'inside an input folder'} "
                        "of this command: write the results elsewhere, so no data is replaced.")
    root = next((r for r in data_roots() if resolved.is_relative_to(r)), None)
    if exists and root is not None:
        raise error(f"'{shown(text)}' is a file of a data folder ({shown(root)}): it is never replaced by "
                    "results. Name another file.")
    folder = resolved.parent
    while not folder.exists() and folder != folder.parent:  # folders still to be made: probe the first that is
        folder = folder.parent
    try:  # a real probe: /proc and read-only folders refuse it here, not after the work
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{resolved.name}.", suffix=".tmp")
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise error(f"Cannot write into {shown(folder)} ({exc.strerror or type(exc).__name__}): "
                    "name a file in a folder you can write to.") from None
    return resolved
