"""Streamlit pieces of the data views: cached loaders, dataset chooser, policy widgets, grids."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from skinml import data, settings
from skinml.app import mtime_stamp, plain
from skinml.data.policy import DataPolicy
from skinml.errors import DataError, shown

AUGMENT_STRENGTHS = ("thesis", "light", "strong")


def folders_of(root: str | Path) -> list[str]:
    """The folders of a dataset choice: one, or several joined by os.pathsep (read as one dataset)."""
    return [f.strip() for f in str(root).split(os.pathsep) if f.strip()]


def folder_stamp(root: str) -> int:
    """Changes when a folder or its metadata changes, so the cache re-reads it."""
    return mtime_stamp([path for folder in folders_of(root) for path in
                        (Path(folder), *(Path(folder) / n for n in ("metadata.csv", "HAM10000_metadata.csv",
                                                                    "images")))])


@st.cache_data(show_spinner="Reading and checking the images ...", max_entries=8)
def _load_table(root: str, stamp: int) -> pd.DataFrame:
    folders = folders_of(root)
    return data.load_datasets(folders) if len(folders) > 1 else data.load_dataset(folders[0])


def load_table(root: str | Path) -> pd.DataFrame:
    """`data.load_dataset` (several folders joined by os.pathsep: `data.load_datasets`, one row per
    ISIC id) cached per choice (attrs: layout, problems, and for several folders `folders` and
    `merged`); DataError (a sentence) for a folder outside the server's data roots or one that
    cannot be read."""
    folders = folders_of(root)
    if not folders:
        settings.check_data_folder("")  # the sentence that asks for a folder
    for folder in folders:
        settings.check_data_folder(folder)
    return _load_table(os.pathsep.join(folders), folder_stamp(os.pathsep.join(folders)))


@st.cache_data(max_entries=8)
def load_sizes(root: str, stamp: int) -> pd.DataFrame:
    return data.image_sizes(_load_table(root, stamp))


@st.cache_data(max_entries=16, show_spinner=False)
def metadata_figures(root: str, stamp: int, policy: DataPolicy | None = None) -> list:
    """The Data page's metadata charts (labels, age, diagnosis, source, sex, site) of the dataset, or
    of the images `policy` keeps: built once per choice and shared, since Plotly Express took
    seconds for them on every visit of a loaded machine."""
    from skinml.plots.data import plot_age, plot_counts, plot_labels

    table = _load_table(root, stamp)
    shown = data.apply_policy(table, policy)[0] if policy is not None else table
    return [plot_labels(shown), plot_age(shown), plot_counts(shown, "diagnosis"),
            plot_counts(shown, "attribution", "Images per source"), plot_counts(shown, "sex"),
            plot_counts(shown, "anatom_site_general", "Images per anatomic site")]


@st.cache_data(max_entries=32)
def load_split(root: str, stamp: int, policy: DataPolicy, balance: bool, seed: int, task: str = "binary"):
    """The policy's table split as a training run of `task` splits it: (table, left_out).

    binary: balanced (optional), stratified by label. diagnosis: `data.policy.diagnosis_split`
    (every usable image split, stratified by diagnosis class, then only the images of one of
    the seven; a `dx` column), as `skinml.cnn.splits.load_splits` does for a run."""
    from skinml.data.policy import diagnosis_split

    kept, left_out = data.apply_policy(_load_table(root, stamp), policy)
    if task == "diagnosis":
        return diagnosis_split(kept, seed), left_out
    chosen = data.balance(kept, seed) if balance else kept
    return data.split_grouped(chosen, seed=seed), left_out


def diagnosis_split_table(split: pd.DataFrame) -> pd.DataFrame:
    """Images per split (rows train, val, test, total) and diagnosis class (columns, the seven
    in DIAGNOSIS_CLASSES order, then total) of a `load_split(..., task="diagnosis")` table."""
    table = pd.crosstab(split["split"], split["dx"]).reindex(index=list(data.SPLITS),
                                                             columns=list(data.DIAGNOSIS_CLASSES), fill_value=0)
    table.loc["total"] = table.sum()
    return table.assign(total=table.sum(axis=1)).astype(int)


def diagnosis_left_out(kept: pd.DataFrame) -> dict[str, int]:
    """Usable images per diagnosis name that is none of the seven classes ("(none given)" for no
    diagnosis), most first: what the diagnosis task leaves out."""
    from skinml.data.policy import diagnosis_summary

    return diagnosis_summary(kept)[1]


def union_table(table: pd.DataFrame) -> pd.DataFrame | None:
    """Per folder of a joined dataset: its layout, its rows, the rows of the union that come
    from it (the row with the most metadata wins where folders share an ISIC id); None for
    one folder."""
    folders = table.attrs.get("folders")
    if not folders or len(folders) < 2:
        return None
    return pd.DataFrame([{"folder": f["root"], "layout": f["layout"], "images": f["n_images"],
                          "kept in the union": f["n_kept"]} for f in folders])


@st.cache_data(show_spinner="Writing the built-in synthetic demo ...")
def demo_dir() -> str:
    from skinml.data.synthetic import demo_dataset_dir

    return str(demo_dataset_dir())


def has_synthetic_images(table: pd.DataFrame) -> bool:
    """Whether a data table holds skinml's synthetic lesions (drawn, not real; see skinml.data.synthetic)."""
    from skinml.data.synthetic import ATTRIBUTION

    return bool(table["attribution"].eq(ATTRIBUTION).any())


def data_dir() -> str:
    """The folder chosen on any page (session state "data_dir"), else the default one (the
    built-in demo when the default is not among the server's data folders)."""
    if not st.session_state.get("data_dir"):
        st.session_state["data_dir"] = first_data_dir()
    return st.session_state["data_dir"]


def first_data_dir() -> str:
    """The folder a new session starts on: the default one, else the built-in demo (no session needed)."""
    default = str(data.default_data_dir())
    return demo_dir() if open_folder(default) else default


def dataset_options() -> dict[str, str]:
    """Label -> folder: the current choice, the datasets found in the server's data folders
    (`shared_datasets`), the demo."""
    options = {f"{folder.name} ({folder})" + (", with lesion outlines" if masks else ""): str(folder)
               for folder, masks in shared_datasets()}
    options["Built-in synthetic demo (ABCD-rule lesions, not real)"] = demo_dir()
    current = data_dir()
    if current not in options.values():
        options = {f"Chosen folder ({current})": current, **options}  # selectbox options are plain text
    return options


def _has_images(folder: Path) -> bool:
    return any(next(folder.glob(pattern), None) for pattern in ("*.jpg", "*/*.jpg", "*.png", "*/*.png"))


MAX_OFFERED = 20  # datasets listed from the data folders; any other is typed


def shared_datasets() -> list[tuple[Path, bool]]:
    """(folder, has a masks folder beside it) for each dataset directly inside a data root
    (`settings.data_roots()`, the demo's aside): a folder with a table (.csv) at its top and
    images at its top or one level down, not a masks folder (`-segmentations`). Sorted by name,
    at most MAX_OFFERED."""
    found = []
    demo = settings.cache_root().resolve() / "demo"
    for root in settings.data_roots():
        if root == demo or not root.is_dir():
            continue
        try:
            children = sorted(child for child in root.iterdir() if child.is_dir())
        except OSError:
            continue
        for child in children:
            if child.name.endswith("-segmentations") or not any(child.glob("*.csv")) or not _has_images(child):
                continue
            found.append((child, (root / f"{child.name}-segmentations").is_dir()))
            if len(found) == MAX_OFFERED:
                return found
    return found


def choose_dataset_ui(key: str = "dataset") -> str | None:
    """A choice of known folders plus a path box (several folders joined by os.pathsep are read as
    one dataset); returns the choice, or None after an error."""
    options = dataset_options()
    labels = list(options)
    current = data_dir()
    index = next((k for k, label in enumerate(labels) if options[label] == current), 0)
    label = st.selectbox("Dataset", labels, index=index, key=f"{key}_choice")
    typed = st.text_input("... or a folder path", value="", key=f"{key}_path",
                          placeholder=f"/path/to/isic-download (any of the five layouts); several folders as one "
                                      f"dataset: /path/a{os.pathsep}/path/b",
                          help=f"Folders joined by '{os.pathsep}' are read as one dataset, joined on the ISIC id: "
                               "an image found in several folders counts once, and the row with the most "
                               "metadata is kept.")
    root = typed.strip() or options[label]
    error = open_folder(root)
    if error:
        st.error(plain(error))
        return None
    st.session_state["data_dir"] = root
    return root


def open_folder(root: str | Path) -> str:
    """"" when `root` is a dataset folder this server shares and skinml reads, else the sentence
    that says why not (outside the data roots, not a folder, no dataset, an unreadable table).

    The table is read (and cached) here, so a folder that would fail on a page is never chosen.
    """
    try:
        load_table(root)
    except DataError as exc:
        return str(exc)
    except OSError as exc:  # a file of the folder that cannot be read (a link into /proc): a sentence too
        return f"{shown(root)} cannot be read as a dataset ({exc.strerror or type(exc).__name__})."
    return ""


def policy_ui(df: pd.DataFrame, key: str = "policy", start: DataPolicy | None = None) -> DataPolicy:
    """Widgets for `DataPolicy`: labels kept, dermoscopic only, sources and values excluded; they
    start from `start` (the session's rules) when the page is opened."""
    start = start or DataPolicy()
    c1, c2, c3 = st.columns(3)
    labels = c1.multiselect("Labels kept", data.ALL_LABELS, default=list(start.include_labels), key=f"{key}_labels",
                            help="The classifier uses benign and malignant; the GAN may keep all.")
    dermoscopic = c2.checkbox("Dermoscopic images only", value=start.dermoscopic_only, key=f"{key}_dermoscopic",
                              help="The thesis dropped clinical (non-dermoscopic) photos.")
    sources = sorted(v for v in df["attribution"].unique() if v)
    excluded = c3.multiselect("Exclude sources", sources, key=f"{key}_sources",
                              default=[v for c, v in start.exclude if c == "attribution" and v in sources],
                              help="The thesis dropped SONIC: its stickers let a model cheat.")
    extra = st.text_input("Exclude other values (COLUMN=VALUE, comma separated)", key=f"{key}_extra",
                          value=", ".join(f"{c}={v}" for c, v in start.exclude if c != "attribution"),
                          placeholder="diagnosis=seborrheic keratosis, sex=male")
    pairs = [("attribution", s) for s in excluded]
    for item in filter(None, (x.strip() for x in extra.split(","))):
        column, sep, value = item.partition("=")
        if not sep or column.strip() not in df.columns:
            st.warning(f"Ignored '{plain(item)}': write COLUMN=VALUE with a column of the table.")
            continue
        pairs.append((column.strip(), value.strip()))
    return DataPolicy(include_labels=tuple(labels), dermoscopic_only=dermoscopic, exclude=tuple(pairs))


def image_grid_ui(df: pd.DataFrame, n: int = 12, columns: int = 6, seed: int = 0) -> None:
    """A grid of `n` random readable images of `df`, captioned with label and diagnosis."""
    readable = df[df["image_path"] != ""]
    if readable.empty:
        st.info("No readable image matches this filter.")
        return
    sample = readable.sample(n=min(n, len(readable)), random_state=seed)
    cols = st.columns(columns)
    for k, row in enumerate(sample.itertuples()):
        caption = f"{row.isic_id} · {row.benign_malignant}" + (f" · {row.diagnosis}" if row.diagnosis else "")
        cols[k % columns].image(thumbnail(row.image_path, mtime_stamp([Path(row.image_path)])),
                                caption=plain(caption), width="stretch")


THUMBNAIL_SIDE = 320  # px: a grid cell is at most about 200 px wide


@st.cache_data(max_entries=512, show_spinner=False)
def thumbnail(path: str, stamp: int) -> np.ndarray:
    """uint8 (H, W, 3), at most THUMBNAIL_SIDE px a side, of an image file (`stamp`: its mtime): the
    grid sent every visit full-size dermoscopy photos, megabytes each, decoded and resized anew."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        return np.asarray(image)


@st.cache_data(show_spinner="Augmenting ...", max_entries=16)
def augment_examples(path: str, strength: str, n: int = 7, size: int = 160, seed: int = 0) -> list[np.ndarray]:
    """The image and `n` augmented versions: uint8 (size, size, 3) each (imports Keras)."""
    from skinml.images.augment import build_augmenter
    from skinml.images.decode import load_image

    image = load_image(path, size)
    batch = np.repeat(image[None].astype("float32") / 255.0, n, axis=0)
    augmented = np.asarray(build_augmenter(strength, seed=seed)(batch, training=True))
    return [image, *(np.clip(a * 255, 0, 255).round().astype(np.uint8) for a in augmented)]


def augmentation_preview_ui(df: pd.DataFrame, key: str = "augment") -> None:
    """One image and several augmented versions (the same layers training uses)."""
    readable = df[df["image_path"] != ""]
    if readable.empty:
        st.info("No readable image to augment.")
        return
    c1, c2, c3 = st.columns([3, 2, 1])
    image_id = c1.selectbox("Image", readable["isic_id"].head(200), key=f"{key}_image")
    strength = c2.radio("Augmentation", AUGMENT_STRENGTHS, horizontal=True, key=f"{key}_strength")
    seed = int(c3.number_input("Seed", 0, 10_000, 0, key=f"{key}_seed"))
    if not st.toggle("Show augmented versions (loads Keras)", key=f"{key}_on"):
        return
    path = readable.loc[readable["isic_id"] == image_id, "image_path"].iloc[0]
    try:
        images = augment_examples(path, strength, seed=seed)
    except ImportError as exc:
        st.info(f"The augmentation preview needs Keras ({exc}).")
        return
    cols = st.columns(len(images))
    for k, (col, image) in enumerate(zip(cols, images)):
        col.image(image, caption="original" if k == 0 else f"augmented {k}", width="stretch")
