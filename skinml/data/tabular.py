"""Patient metadata as numbers a model can read: age, sex and anatomic site, missing as missing.

`metadata_features(table)` turns the data table's `age_approx`, `sex` and
`anatom_site_general` columns into a float32 matrix with one column per name of
`METADATA_FEATURES`:

- `age`: (age - 50) / 20, so most ages fall between -2 and 2; 0 where the age is unknown,
  and then `age_missing` is 1. A model therefore never mistakes "unknown" for "50 years
  old": the indicator tells it the age column carries nothing for that row.
- `sex_male`, `sex_female`, `sex_unknown`: one of the three is 1.
- `site_<name>` for each of ISIC's general sites, and `site_unknown`: one of them is 1.

The same encoding feeds the image + metadata network and the metadata-only scikit-learn
model, so the two see exactly the same information.

`hide_fields` turns chosen fields of encoded rows into "unknown", exactly as if the table had
left them blank; `metadata_dropout` does it at random during training, so that a model also
learns from rows whose age, sex or site (or all three) are unknown, as they are when a user
gives none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skinml.data.readers import GENERAL_SITES, SITE_ALIASES
from skinml.errors import DataError, shown

AGE_CENTRE, AGE_SCALE = 50.0, 20.0
SEXES = ("male", "female")
METADATA_FEATURES = ("age", "age_missing", *(f"sex_{s}" for s in SEXES), "sex_unknown",
                     *(f"site_{s}" for s in GENERAL_SITES), "site_unknown")
METADATA_COLUMNS = ("age_approx", "sex", "anatom_site_general")
UNKNOWN_WORDS = ("unknown", "not given", "none", "n/a", "na")  # what a person types for "I do not know"


def metadata_features(table: pd.DataFrame) -> np.ndarray:
    """float32 (N, len(METADATA_FEATURES)) for the rows of a data table (see the module doc).

    Strings as the image pack's index stores them ("" for unknown) and numbers (NaN for
    unknown) are both read; a site named the HAM10000 way (`back`) counts as its ISIC site.
    """
    missing = [c for c in METADATA_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"The table has no {', '.join(missing)} column: patient metadata needs "
                        f"{', '.join(METADATA_COLUMNS)}.")
    age = pd.to_numeric(table["age_approx"], errors="coerce").to_numpy(dtype="float64")
    known_age = np.isfinite(age)
    sex = table["sex"].fillna("").astype(str).str.strip().str.lower().to_numpy()
    site = table["anatom_site_general"].fillna("").astype(str).str.strip().str.lower()
    site = site.replace(SITE_ALIASES).to_numpy()

    columns = [np.where(known_age, (age - AGE_CENTRE) / AGE_SCALE, 0.0), ~known_age]
    columns += [sex == s for s in SEXES] + [~np.isin(sex, SEXES)]
    columns += [site == s for s in GENERAL_SITES] + [~np.isin(site, GENERAL_SITES)]
    return np.stack(columns, axis=1).astype("float32") if len(table) else \
        np.zeros((0, len(METADATA_FEATURES)), "float32")


FIELDS = ("age", "sex", "site")  # what a user may leave out, one at a time


def _field_columns() -> dict[str, tuple[list[int], int]]:
    """{field: (its value columns, its "unknown" column)} in METADATA_FEATURES."""
    names = list(METADATA_FEATURES)
    return {"age": ([names.index("age")], names.index("age_missing")),
            "sex": ([names.index(f"sex_{s}") for s in SEXES], names.index("sex_unknown")),
            "site": ([names.index(f"site_{s}") for s in GENERAL_SITES], names.index("site_unknown"))}


def hide_fields(features: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """A copy of encoded rows (float32 (N, F), `metadata_features`) with the fields marked in
    `hidden` (bool (N, 3), columns in FIELDS order) set to unknown: the same numbers as the
    encoding of a table where those cells are blank."""
    out = np.array(features, dtype="float32", copy=True)
    hidden = np.asarray(hidden, bool)
    for k, (values, unknown) in enumerate(_field_columns().values()):
        rows = hidden[:, k]
        out[np.ix_(rows, values)] = 0.0
        out[rows, unknown] = 1.0
    return out


def metadata_dropout(features: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Encoded rows (float32 (N, F)) with fields hidden at random (training only): every field of
    a row with probability `rate`, and otherwise each field on its own with probability `rate`.
    So at rate 0.3, 30% of the rows show nothing but the image and about 21% more miss one
    given field. rate 0 returns the rows unchanged."""
    if rate <= 0:
        return features
    n = len(features)
    hidden = (rng.random((n, 1)) < rate) | (rng.random((n, len(FIELDS))) < rate)
    return hide_fields(features, hidden)


def patient_table(age: float | None = None, sex: str | None = None, site: str | None = None) -> pd.DataFrame:
    """One patient's metadata as a one-row data table (None = unknown), checked: a DataError
    names the value that cannot be used (quoted short, control characters escaped). What
    `skinml predict --age --sex --site` passes on. "unknown" is refused with a sentence, not
    silently taken as "not given": leaving the value out is how a value is unknown."""
    if age is not None and not 0 <= float(age) <= 120:
        raise DataError(f"An age must be between 0 and 120 years, not {shown(age)}.")
    sex = (sex or "").strip().lower()
    if sex in UNKNOWN_WORDS:
        raise DataError(f"Sex '{shown(sex)}': leave it out when it is not known (the model then reads it as unknown).")
    if sex and sex not in SEXES:
        raise DataError(f"Sex must be one of {', '.join(SEXES)} (or left out), not '{shown(sex, 40)}'.")
    site = (site or "").strip().lower()
    if site in UNKNOWN_WORDS:
        raise DataError(f"Anatomic site '{shown(site)}': leave it out when it is not known (the model then reads "
                        "it as unknown).")
    site = SITE_ALIASES.get(site, site)
    if site and site not in GENERAL_SITES:
        raise DataError(f"Unknown anatomic site '{shown(site, 40)}': use one of {', '.join(GENERAL_SITES)} "
                        "(or leave it out).")
    return pd.DataFrame({"age_approx": [np.nan if age is None else float(age)], "sex": [sex],
                         "anatom_site_general": [site]})
