"""ISIC data as people have it: read any layout, normalise, filter, balance and split.

`readers` finds and reads dataset folders (five layouts, both ISIC schemas) into one table;
`policy` decides which rows are usable and splits them without leaking a lesion; `synthetic`
draws the built-in demo dataset. The names below are the public API.
"""

from skinml.data.policy import (
    DIAGNOSIS_CLASSES,
    DataPolicy,
    apply_policy,
    balance,
    diagnosis_class,
    group_key,
    group_overlap,
    labels_of,
    prepare,
    scan_dataset,
    split_counts,
    split_fingerprint,
    split_grouped,
)
from skinml.data.readers import (
    ALL_LABELS,
    COLUMNS,
    LABELS,
    LAYOUTS,
    SPLITS,
    check_image,
    default_data_dir,
    detect_layout,
    image_sizes,
    load_dataset,
    load_datasets,
)

__all__ = [
    "ALL_LABELS", "COLUMNS", "DIAGNOSIS_CLASSES", "LABELS", "LAYOUTS", "SPLITS", "DataPolicy", "apply_policy",
    "balance",
    "check_image", "default_data_dir", "detect_layout", "diagnosis_class", "group_key", "group_overlap",
    "image_sizes", "labels_of", "load_dataset", "load_datasets", "prepare", "scan_dataset", "split_counts",
    "split_fingerprint", "split_grouped",
]
