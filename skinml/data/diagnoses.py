"""The diagnosis vocabularies of ISIC data and the seven classes of the diagnosis task.

Three vocabularies name a lesion's diagnosis:
- HAM10000's `dx` codes (`nv`, `mel`, ...), spelled out by `HAM_DIAGNOSES`;
- the ISIC archive's legacy `diagnosis` field (`nevus`, `seborrheic keratosis`, ...);
- the archive's current hierarchy `diagnosis_1..5`, from `Benign`/`Malignant` at level 1
  down to subtypes such as `Nevus, NOS, Junctional` at level 4 or 5.

Each name (lower case) is either one of the seven HAM10000 classes (`CLASS_OF`), a
diagnosis known to be none of them (`OTHER_DIAGNOSES`: squamous cell carcinoma, scars,
lentigines, ...; they stay out of the diagnosis task rather than being forced into one), or
unknown: the reader reports every unknown name as a problem, it never drops one silently.
"""

from __future__ import annotations

# The seven HAM10000 diagnosis classes, in the column order of ISIC 2018 Task 3.
DIAGNOSIS_CLASSES = ("mel", "nv", "bcc", "akiec", "bkl", "df", "vasc")
MALIGNANT_DIAGNOSES = ("mel", "bcc", "akiec")  # the classes that add up to p(malignant)
CLASS_NAMES = {
    "mel": "melanoma", "nv": "melanocytic nevus", "bcc": "basal cell carcinoma",
    "akiec": "actinic keratosis / intraepithelial carcinoma", "bkl": "benign keratosis",
    "df": "dermatofibroma", "vasc": "vascular lesion",
}

# HAM10000's dx codes, spelled as the ISIC archive's legacy `diagnosis` field spells them.
HAM_DIAGNOSES = {
    "nv": "nevus", "mel": "melanoma", "bkl": "pigmented benign keratosis",
    "bcc": "basal cell carcinoma", "akiec": "actinic keratosis", "df": "dermatofibroma",
    "vasc": "vascular lesion",
}

# Every diagnosis name (lower case) that belongs to one of the seven classes. HAM10000's own
# definitions decide: bkl holds seborrheic keratoses, solar lentigines and lichen planus-like
# keratoses; akiec holds actinic keratoses and intraepithelial carcinoma (Bowen's disease,
# squamous cell carcinoma in situ); vasc holds angiomas, angiokeratomas, pyogenic granulomas.
CLASS_OF = {
    # melanoma
    "melanoma": "mel", "melanoma, nos": "mel", "melanoma invasive": "mel", "melanoma in situ": "mel",
    "melanoma metastasis": "mel", "malignant melanocytic proliferations (melanoma)": "mel",
    # melanocytic nevi
    "nevus": "nv", "blue nevus": "nv",
    # basal cell carcinoma
    "basal cell carcinoma": "bcc",
    # actinic keratosis and intraepithelial carcinoma
    "actinic keratosis": "akiec", "solar or actinic keratosis": "akiec",
    "squamous cell carcinoma in situ": "akiec", "squamous cell carcinoma in situ, bowens disease": "akiec",
    # benign keratoses
    "pigmented benign keratosis": "bkl", "seborrheic keratosis": "bkl", "solar lentigo": "bkl",
    "lichen planus like keratosis": "bkl", "lichenoid keratosis": "bkl",
    # dermatofibroma
    "dermatofibroma": "df",
    # vascular lesions
    "vascular lesion": "vasc", "angioma": "vasc", "hemangioma": "vasc", "angiokeratoma": "vasc",
    "pyogenic granuloma": "vasc", "benign soft tissue proliferations - vascular": "vasc",
}

# Known diagnoses that are none of the seven (and the coarse levels of the current
# hierarchy, too broad to place in a class): left out of the diagnosis task, not reported.
OTHER_DIAGNOSES = frozenset({
    "squamous cell carcinoma", "squamous cell carcinoma, nos", "squamous cell carcinoma, invasive",
    "keratoacanthoma", "atypical melanocytic proliferation", "atypical melanocytic neoplasm",
    "atypical intraepithelial melanocytic proliferation", "aimp", "atypical spitz tumor",
    "lentigo nos", "lentigo simplex", "cafe-au-lait macule", "mucosal melanosis", "scar",
    "verruca", "clear cell acanthoma", "neurofibroma", "adnexal tumor", "acrochordon",
    "fibroepithelial polyp", "angiofibroma", "angiofibroma or fibrous papule", "hidradenoma",
    "trichilemmal or isthmic-catagen or pilar cyst", "other",
    # levels 1 and 2 of the current hierarchy
    "benign", "malignant", "indeterminate", "benign epidermal proliferations",
    "benign melanocytic proliferations", "benign soft tissue proliferations - fibro-histiocytic",
    "benign adnexal epithelial proliferations - follicular", "malignant epidermal proliferations",
    "malignant adnexal epithelial proliferations - follicular",
    "indeterminate epidermal proliferations", "indeterminate melanocytic proliferations",
    "flat melanotic pigmentations - not melanocytic nevus", "inflammatory or infectious diseases",
    "cysts",
})

# Values that mean "no diagnosis given" rather than a diagnosis name.
NO_DIAGNOSIS = frozenset({"", "unknown", "nan", "none"})


def class_of(name: str) -> str:
    """The class code (one of DIAGNOSIS_CLASSES) of one diagnosis name, "" when none applies.

    `Nevus, NOS, Junctional` and other subtypes of the current hierarchy are not listed one by
    one: a name that is not known whole is looked up by its part before the first comma
    (`nevus`), which is how the hierarchy names its subtypes.
    """
    name = str(name).strip().lower()
    if name in CLASS_OF:
        return CLASS_OF[name]
    return CLASS_OF.get(name.split(",")[0].strip(), "") if name not in OTHER_DIAGNOSES else ""


def is_known(name: str) -> bool:
    """Whether a diagnosis name is in skinml's vocabulary (a class, a known other, or none)."""
    name = str(name).strip().lower()
    return name in NO_DIAGNOSIS or name in OTHER_DIAGNOSES or class_of(name) != "" or \
        name.split(",")[0].strip() in OTHER_DIAGNOSES
