"""From an uploaded file to an honest answer: the one code path of the dashboard and `skinml predict`.

`predict_upload(classifier, data, name)` reads the bytes with the upload rules of
`skinml.images`, resizes them as the model was trained, and returns a `PredictionResult`:
p(malignant) (the mean over the eight flips and quarter turns), their spread, which side of
the model's saved threshold it falls (none for a photo that does not look like dermoscopy),
the dermoscopy check's warnings, whether the model trained on this very photo, and a
heatmap by the method measured best for the model (`heatmap_method_of`; Grad-CAM when it has
not been measured), none for a photo that does not look like dermoscopy. A diagnosis model
gives the probability of each of its diagnoses, ranked, and p(malignant) as the sum over the
malignant ones; it has no threshold. Never a diagnosis: see `skinml.DISCLAIMER`.

Figures for people go through `format_probability` and `format_spread`: whole percents,
never closer to 0% or 100% than 1%, because a model calibrated on a few hundred validation
images cannot back "0.0%" or "99.5%".
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from PIL import Image

from skinml import DISCLAIMER
from skinml.cnn.classifier import Classifier, predict_views
from skinml.cnn.seen import Seen, find_seen
from skinml.data.diagnoses import CLASS_NAMES
from skinml.errors import ModelError
from skinml.explain.gradcam import overlay_heatmap
from skinml.explain.trust import METHODS, best_method, method_maps
from skinml.images.crop import crop_to_lesion
from skinml.images.decode import centre_box, load_image
from skinml.images.upload import read_image, to_rgb
from skinml.ood.detector import OODResult, check_dermoscopy
from skinml.segment.predict import shipped_mask

DISPLAY_SIDE = 512       # longest side of the image kept in a result (for pages and summaries)
WIDE_SPREAD = 0.10       # TTA standard deviation above which the answer is called unstable
NEAR_THRESHOLD = 0.05    # |p - threshold| below which the answer is called borderline
DISAGREEMENT = 0.30      # p(malignant) of the binary and the diagnosis model this far apart: a warning
RED_SHARE = 0.10         # the strongest tenth of a heatmap shows red (`heatmap_for_display`)
PROBABILITY_FLOOR = 0.01  # probabilities below it read "below 1%", above 1 - it "above 99%"
THRESHOLD_SIDES = ("below threshold", "above threshold")  # "above" means p >= threshold

SPREAD_MEANING = ("The spread says how far the probability moves when the same photo is flipped or turned "
                  "(eight views): how steady the model's answer is on this photo. It is not a confidence "
                  "interval of the diagnosis, and not the chance that the model is right: a model can be "
                  "steadily wrong.")
HEATMAP_MEANING = ("The heatmap shows which parts of the image moved the model's score the most, its strongest "
                   "tenth in red; it is not a map of the lesion.")


def format_probability(p: float) -> str:
    """A probability as people should read it: whole percents, "below 1%" and "above 99%" at the ends."""
    if p < PROBABILITY_FLOOR:
        return f"below {PROBABILITY_FLOOR:.0%}"
    if p > 1 - PROBABILITY_FLOOR:
        return f"above {1 - PROBABILITY_FLOOR:.0%}"
    return f"{p:.0%}"


def format_spread(spread: float) -> str:
    """The spread of the eight views in percentage points: "± 4 points", "under 1 point"."""
    points = round(spread * 100)
    return "under 1 point" if points < 1 else f"± {points} point{'s' if points != 1 else ''}"


def seen_sentence(seen: Seen | None) -> str:
    """What it means that the upload is one of the model's own training or tuning images ("" if not)."""
    if seen is None:
        return ""
    how = "its file name" if seen.how == "id" else "its pixels"
    if seen.split == "train":
        return (f"The model trained on this photo ({seen.isic_id}, found by {how}): its answer here is not a test "
                "of the model, because it has seen this lesion's label.")
    return (f"This photo ({seen.isic_id}, found by {how}) is one the model's threshold and calibration were tuned "
            "on: its answer here is not a fair test of the model.")


@dataclass
class PredictionResult:
    """The answer for one upload.

    `image`: uint8 (h, w, 3), the photo reduced to DISPLAY_SIDE; `model_input`: uint8 (S, S, 3)
    as the model saw it (`resize` says how); `p_malignant` in [0, 1]; `views`: float (8,) or
    (1,), p for each test-time view; `uncertainty`: their standard deviation (the spread);
    `threshold_side`: "above threshold" when p_malignant >= threshold, else "below threshold",
    None when the photo does not look like dermoscopy (never a diagnosis); `heatmap_class`:
    the class whose score the heatmap explains ("malignant" above the threshold, "benign"
    below; a diagnosis model's most probable class); `heatmap`: float (S, S) in [0, 1], or
    None (a photo that does not look like dermoscopy, a model that reads metadata);
    `heatmap_method`: its id in `skinml.explain.trust.METHODS`; `seen`: the training image
    this photo is, or None; `mask`: the shipped segmenter's lesion mask, bool (H, W) at the photo's
    size as read (None without a segmenter), which the dermoscopy check used and the page's
    outline reuses. `crop_mode`: "lesion" for a model trained on lesion-centred crops, which then
    reads the photo cut to `crop` (left, top, right, bottom in the photo's pixels; None: the whole
    photo, no lesion found), else "none".
    Diagnosis model (`task` "diagnosis"): `classes` and `class_probabilities` (float (C,), the
    mean over the views); `threshold` and `threshold_side` are None. `patient`: the age, sex
    and site given (None when none); `metadata_used`: whether the model read them.
    """

    name: str
    image: np.ndarray
    model_input: np.ndarray
    p_malignant: float
    views: np.ndarray
    threshold: float | None
    threshold_side: str | None
    heatmap_class: str
    ood: OODResult
    heatmap: np.ndarray | None = None
    heatmap_method: str = "gradcam"
    model_name: str = ""
    model_version: str = ""
    resize: str = "squash"
    seen: Seen | None = None
    warnings: list[str] = field(default_factory=list)
    task: str = "binary"
    classes: tuple[str, ...] = ()
    class_probabilities: np.ndarray | None = None
    malignant_classes: tuple[str, ...] = ()
    patient: dict | None = None
    metadata_used: bool = False
    mask: np.ndarray | None = None
    crop: tuple[int, int, int, int] | None = None
    crop_mode: str = "none"

    @property
    def uncertainty(self) -> float:
        return float(np.std(self.views))

    def ranked(self) -> list[dict]:
        """The diagnoses, most probable first: [{"class", "name", "probability"}] (diagnosis task)."""
        if self.class_probabilities is None:
            return []
        order = np.argsort(-self.class_probabilities, kind="stable")
        return [{"class": self.classes[i], "name": CLASS_NAMES.get(self.classes[i], self.classes[i]),
                 "probability": round(float(self.class_probabilities[i]), 4)} for i in order]

    def to_dict(self) -> dict:
        """The JSON fields of `skinml predict --json` for this file (documented in README.md)."""
        seen = self.seen and {"isic_id": self.seen.isic_id, "split": self.seen.split, "found_by": self.seen.how}
        common = {"file": self.name, "ok": True, "task": self.task, "p_malignant": round(self.p_malignant, 4)}
        if self.task == "diagnosis":
            answer = {"diagnoses": self.ranked(), "malignant_classes": list(self.malignant_classes)}
        else:
            answer = {"threshold_side": self.threshold_side, "threshold": round(self.threshold, 4)}
        return {**common, **answer,
                "uncertainty": round(self.uncertainty, 4) if len(self.views) > 1 else None,
                "patient": self.patient, "metadata_used": self.metadata_used,
                "looks_like_dermoscopy": not self.ood.fired, "lesion_found": self.ood.lesion_found,
                "crop": self.crop_mode, "crop_box": list(self.crop) if self.crop else None,
                "training_image": seen,
                "model_version": self.model_version, "warnings": self.warnings}


def predict_upload(classifier: Classifier, data: bytes, name: str = "", tta: bool = True,
                   heatmap: bool = True, patient: pd.DataFrame | None = None) -> PredictionResult:
    """Predict one uploaded file (its bytes). Raises ImageError when it is not a usable image.

    `patient`: the person's age, sex and site as a one-row table
    (`skinml.data.tabular.patient_table`); only a model trained with metadata reads it, and
    a result from any other model says so in a warning. Safe to call from many threads with
    one shared classifier: every model call holds the classifier's lock, so each caller gets
    the answer it would get alone.
    """
    photo = read_image(data, name)
    mask = shipped_mask(photo)  # computed once: the dermoscopy check, the crop and the page's outline share it
    crop = None
    if crop_of(classifier) == "lesion":  # the model was trained on lesion-centred crops: it reads one
        if mask is None:
            raise ModelError("This model reads lesion-centred crops, but no lesion segmenter is installed "
                             "(skinml/assets/segmenter) to find the lesion.")
        cut, crop = crop_to_lesion(np.asarray(to_rgb(photo)), mask)
        x = load_image(cut, classifier.image_size, classifier.resize)
    else:
        x = load_image(photo, classifier.image_size, classifier.resize)
    batch = x[None].astype("float32") / 255.0
    if tta:
        per_view = predict_views(classifier, batch, patient)[0]  # (8, C)
    else:
        per_view = classifier.predict_proba(batch, metadata=patient)  # (1, C)
    views = classifier.p_malignant(per_view)
    p = float(np.mean(views))
    diagnosis = classifier.task == "diagnosis"
    probabilities = per_view.mean(axis=0)
    top = int(np.argmax(probabilities))
    heatmap_class = classifier.decide(probabilities)  # a diagnosis, or the side of the threshold p falls on
    ood = check_dermoscopy(photo, mask=mask)
    display = Image.fromarray(cut) if crop is not None else photo.copy()  # what the model read, for the heatmap
    display.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
    given = _given(patient)
    result = PredictionResult(
        name=name, image=np.asarray(display), model_input=x, p_malignant=p, views=np.asarray(views, float),
        threshold=None if diagnosis else classifier.threshold,
        threshold_side=None if ood.fired or diagnosis else THRESHOLD_SIDES[p >= classifier.threshold],
        heatmap_class=heatmap_class, ood=ood,
        model_name=str(classifier.info.get("name", "")), model_version=classifier.version,
        resize=classifier.resize, seen=find_seen(classifier.path, name, photo),
        task=classifier.task, classes=classifier.classes if diagnosis else (),
        class_probabilities=probabilities if diagnosis else None,
        malignant_classes=classifier.malignant_classes, patient=given, metadata_used=classifier.uses_metadata,
        mask=mask, crop=crop, crop_mode=crop_of(classifier))
    if heatmap and not classifier.uses_metadata and not ood.fired:  # heatmaps explain image-only models
        index = top if diagnosis else classifier.classes.index(heatmap_class)
        result.heatmap_method = heatmap_method_of(classifier)
        try:
            result.heatmap = method_maps(classifier, x, index, [result.heatmap_method])[
                METHODS[result.heatmap_method][0]]
        except ValueError:  # the measured method does not fit this architecture
            result.heatmap_method = "gradcam"
            result.heatmap = method_maps(classifier, x, index, ["gradcam"])["Grad-CAM"]
    result.warnings = list(ood.warnings)
    if given and not classifier.uses_metadata:
        result.warnings.append(f"The {model_word(result)} reads the image alone: the age, sex and site given did "
                               "not change its answer.")
    if result.seen:
        result.warnings.append(seen_sentence(result.seen))
    if tta and result.uncertainty > WIDE_SPREAD:
        result.warnings.append(f"The answer is unstable: turning or flipping the photo moves the probability "
                               f"by {format_spread(result.uncertainty)} on average.")
    if not ood.fired and not diagnosis and abs(p - classifier.threshold) < NEAR_THRESHOLD:
        result.warnings.append("The probability is close to the model's threshold: a small change in the "
                               "photo could put it on the other side.")
    return result


def crop_of(classifier: Classifier) -> str:
    """What the model reads: "lesion" (a square around the lesion, `TrainConfig.crop`) or "none"
    (the whole photo; every model trained before the option)."""
    return str(((getattr(classifier, "info", None) or {}).get("config") or {}).get("crop", "none"))


def heatmap_method_of(classifier: Classifier) -> str:
    """The id (a key of `skinml.explain.trust.METHODS`) of the heatmap drawn for this model: the
    one its `explanations.json` measured best, Grad-CAM when it has none."""
    return best_method(classifier) or "gradcam"


def model_word(result: PredictionResult) -> str:
    """Which of the clinician's two models gave a result, in words: "binary model (name)"."""
    name = f" ({result.model_name})" if result.model_name else ""
    return f"{'diagnosis' if result.task == 'diagnosis' else 'binary'} model{name}"


def metadata_sentence(result: PredictionResult) -> str:
    """What the model of `result` did with the patient's age, sex and site, naming it; always true."""
    model = model_word(result)
    if not result.metadata_used:
        return (f"The {model} reads the image alone"
                + (": the age, sex and site given did not change its answer." if result.patient else "."))
    if result.patient:
        given = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in result.patient.items() if v is not None)
        return f"The {model} reads the patient's age, sex and site: its answer used the {given} given."
    return (f"The {model} reads the patient's age, sex and site: none were given, so it answered with them "
            "unknown; giving them can change its answer.")


def disagreement(binary: PredictionResult, dx: PredictionResult) -> str | None:
    """A warning when the binary and the diagnosis model disagree strongly, else None.

    Strongly: their p(malignant) lie DISAGREEMENT or more apart, or the binary model is below its
    threshold while the diagnosis model's most probable diagnosis is a malignant one. None for a
    photo that does not look like dermoscopy (neither number means much there).
    """
    if binary.ood.fired or dx.ood.fired or binary.task == dx.task:
        return None
    top = dx.ranked()[0]
    below = binary.threshold_side == THRESHOLD_SIDES[0]
    if abs(binary.p_malignant - dx.p_malignant) < DISAGREEMENT and not (below and top["class"] in dx.malignant_classes):
        return None
    side = "below" if below else "at or above"
    return (f"The two models disagree: the binary model gives p(malignant) {format_probability(binary.p_malignant)} "
            f"({side} its threshold of {binary.threshold:.0%}), the diagnosis model "
            f"{format_probability(dx.p_malignant)}, its most probable diagnosis {top['name']} "
            f"({format_probability(top['probability'])}). They were trained apart, and where they disagree neither "
            "is the answer: this photo needs a dermatologist's eye.")


def _given(patient: pd.DataFrame | None) -> dict | None:
    """The patient's values that were given, as JSON fields (None when none was)."""
    if patient is None or len(patient) == 0:
        return None
    row = patient.iloc[0]
    age = pd.to_numeric(pd.Series([row.get("age_approx")]), errors="coerce").iloc[0]
    given = {"age": None if pd.isna(age) else float(age), "sex": str(row.get("sex") or "") or None,
             "site": str(row.get("anatom_site_general") or "") or None}
    return given if any(v is not None for v in given.values()) else None


def side_sentence(result: PredictionResult) -> str:
    """Where the probability lies against the threshold, in words (never a verdict)."""
    if result.task == "diagnosis":
        return "A diagnosis model has no threshold: it spreads its probability over its diagnoses."
    if result.threshold_side is None:
        return ("No side of the threshold is given: the photo does not look like the dermoscopy images the model "
                "learned from, so its number says little.")
    where = "at or above" if result.threshold_side == THRESHOLD_SIDES[1] else "below"
    return f"The probability is **{where} the model's threshold** of {result.threshold:.0%}."


def reading(result: PredictionResult, metrics: dict | None = None) -> str:
    """A plain-language reading of a result: what the numbers mean, never a verdict."""
    if result.task == "diagnosis":
        return _diagnosis_reading(result, metrics)
    text = (f"The model gives this image a probability of {format_probability(result.p_malignant)} of showing a "
            "malignant lesion")
    if result.threshold_side is not None:
        where = "at or above" if result.threshold_side == THRESHOLD_SIDES[1] else "below"
        text += f", {where} its threshold of {result.threshold:.0%}."
        test = (metrics or {}).get("test") or {}
        if test.get("sensitivity") is not None and test.get("specificity") is not None:
            text += (f" At that threshold, on {test.get('n', 'its')} held-out test images, it flagged "
                     f"{test['sensitivity']:.0%} of the malignant lesions and cleared {test['specificity']:.0%} "
                     f"of the benign ones: it misses some cancers and raises false alarms.")
    else:
        text = ("This photo does not look like the dermoscopy images the binary model learned from, so its "
                "probability means little and no side of the threshold is given.")
    if result.seen:
        text += " " + seen_sentence(result.seen)
    return text + " Only a dermatologist can examine a lesion; this is not a diagnosis."


def _diagnosis_reading(result: PredictionResult, metrics: dict | None) -> str:
    if result.ood.fired:
        return ("This photo does not look like the dermoscopy images the diagnosis model learned from, so its "
                "probabilities mean little. Only a dermatologist can examine a lesion; this is not a diagnosis.")
    test = (metrics or {}).get("test") or {}
    text = ("The model spreads its probability over seven diagnoses: " + ", ".join(
        f"{d['name']} {format_probability(d['probability'])}" for d in result.ranked()[:3]) + ", the others less. "
        f"Together the malignant ones ({', '.join(CLASS_NAMES.get(c, c) for c in result.malignant_classes)}) add "
        f"up to {format_probability(result.p_malignant)}.")
    if test.get("balanced_accuracy") is not None:
        text += (f" On {test.get('n', 'its')} held-out test images its most probable diagnosis was right for "
                 f"{test['balanced_accuracy']:.0%} of the images of a diagnosis, on average over the seven: "
                 "it is often wrong, most of all for the rare diagnoses.")
    if result.seen:
        text += " " + seen_sentence(result.seen)
    return text + " Only a dermatologist can examine a lesion; this is not a diagnosis."


def heatmap_for_display(heatmap: np.ndarray) -> np.ndarray | None:
    """A heatmap float (S, S) rescaled for people: its strongest tenth (RED_SHARE) at 1 (red), the
    rest in proportion below, float32 in [0, 1]; None when the map is flat (one value all over).

    A method normalised by its single largest value (integrated gradients: a few specks) would
    otherwise draw a nearly uniform blue under a caption that says "red = most influence".
    """
    heat = np.asarray(heatmap, "float32")
    low, high = float(heat.min()), float(heat.max())
    if high - low <= 1e-6:
        return None
    top = float(np.quantile(heat, 1 - RED_SHARE))
    scale = top - low if top > low else high - low
    return np.clip((heat - low) / scale, 0, 1).astype("float32")


def heatmap_on_photo(result: PredictionResult, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The heatmap over the displayed photo, at the photo's size and aspect: uint8 (h, w, 3).

    The map is rescaled by `heatmap_for_display` (a flat map is drawn as it is). A model that
    squashed the photo saw all of it, so the heatmap is stretched back; one that
    cropped saw the centred square only, so the heatmap covers that square and nothing else.
    """
    photo = result.image
    scaled = heatmap_for_display(heatmap)
    heatmap = heatmap if scaled is None else scaled
    if result.resize != "crop":
        return overlay_heatmap(photo, heatmap, alpha)
    left, top, right, bottom = centre_box(photo.shape[1], photo.shape[0])
    full = np.zeros(photo.shape[:2], "float32")
    full[top:bottom, left:right] = np.asarray(Image.fromarray(np.asarray(heatmap, "float32"), "F").resize(
        (right - left, bottom - top), Image.Resampling.BILINEAR))
    return overlay_heatmap(photo, full, alpha)


def heatmap_is_empty(heatmap: np.ndarray | None) -> bool:
    """True when the map shows nothing: no region raised the class's score (a map of zeros, as
    Grad-CAM gives), or every pixel has the same value."""
    return heatmap is not None and (float(np.max(heatmap)) <= 0 or heatmap_for_display(heatmap) is None)


def _png_data_uri(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _answer_rows(result: PredictionResult, side: str) -> str:
    """The summary table's rows of the model's answer: its threshold, or its diagnoses ranked."""
    if result.task == "diagnosis":
        return "".join(f"<tr><td>Probability of {html.escape(d['name'])}</td>"
                       f"<td>{format_probability(d['probability'])}</td></tr>" for d in result.ranked())
    return (f"<tr><td>Model threshold</td><td>{result.threshold:.0%}</td></tr>"
            f"<tr><td>Position against the threshold</td><td>{side}</td></tr>")


def build_summary_html(result: PredictionResult, metrics: dict | None = None, made: datetime | None = None,
                       notes: list[str] | tuple[str, ...] = (),
                       outline: tuple[np.ndarray, list[str]] | None = None) -> str:
    """A self-contained HTML page (images inline) summarising one result, for download: when
    (`made`, default now), which model, the page's figures, the photo and its heatmap at the
    same size (the page's method and scale), and the cautions; `notes` are further warnings
    (the two models' disagreement); `outline`, the page's outlined photo (uint8 (h, w, 3)) and its
    ABCD sentences, drawn as the page drew them. A photo that does not look like dermoscopy gets
    its warnings first and the figures after them, under a heading that says they mean little."""
    esc = html.escape
    made = made or datetime.now()
    lesion = ""
    if outline is not None:
        photo, sentences = outline
        lines = "".join(f"<li>{esc(line.replace('**', ''))}</li>" for line in sentences)
        lesion = (f'<h2>The lesion\'s outline and the ABCD measures</h2><figure><img src="{_png_data_uri(photo)}" '
                  f'alt="the lesion\'s outline"><figcaption>the segmenter\'s outline of the lesion (green)'
                  f"</figcaption></figure><ul>{lines}</ul>")
    heat = ""
    if result.heatmap is not None and not heatmap_is_empty(result.heatmap):
        label = METHODS.get(result.heatmap_method, ("Grad-CAM",))[0]
        heat = (f'<figure><img src="{_png_data_uri(heatmap_on_photo(result, result.heatmap))}" '
                f'alt="{esc(label)} heatmap"><figcaption>{esc(label)} for the {esc(result.heatmap_class)} score '
                "(red = its strongest tenth)</figcaption></figure>")
    items = "".join(f"<li>{esc(w)}</li>" for w in [*result.warnings, *notes]) or "<li>None.</li>"
    side = (f"{'at or above' if result.threshold_side == THRESHOLD_SIDES[1] else 'below'} the model's threshold"
            if result.threshold_side else "not given: the photo does not look like dermoscopy")
    spread = format_spread(result.uncertainty) if len(result.views) > 1 else "not measured (one view)"
    probability = format_probability(result.p_malignant)
    shown = probability if result.ood.fired else f"<b>{probability}</b>"
    table = f"""<table><tr><td>Probability of malignancy</td><td>{shown}</td></tr>
<tr><td>Spread over 8 flips and turns</td><td>{spread}</td></tr>
{_answer_rows(result, side)}
<tr><td>Looks like dermoscopy</td><td>{'no' if result.ood.fired else 'yes'}</td></tr>
<tr><td>A photo the model learned from</td><td>{esc(seen_sentence(result.seen)) or 'not that we can tell'}</td></tr>
</table>"""
    warnings = f'<h2>Warnings</h2><div class="warn"><ul>{items}</ul></div>'
    body = (f"{warnings}\n<h2>The model's numbers anyway (they mean little here)</h2>\n{table}" if result.ood.fired
            else f"{table}\n{warnings}")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>skinml summary</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto;padding:0 1em}}
figure{{display:inline-block;width:45%;margin:4px;vertical-align:top}} figure img{{width:100%}}
td{{padding:2px 8px;vertical-align:top}} .warn{{background:#fff3cd;padding:.5em 1em}} small{{color:#555}}</style>
</head><body>
<h1>skinml: result for {esc(result.name or 'an uploaded photo')}</h1>
<p><strong>Not a medical device. {esc(DISCLAIMER)}</strong></p>
<p>Made {made:%Y-%m-%d at %H:%M} (local time) with the model
<b>{esc(result.model_name or 'classifier')}</b>, version {esc(result.model_version)}.</p>
<figure><img src="{_png_data_uri(result.image)}" alt="the photo"><figcaption>the photo</figcaption></figure>
{heat}
{body}
<h2>Reading</h2><p>{esc(reading(result, metrics))}</p>
{lesion}
<h2>Caution</h2><p>{esc(SPREAD_MEANING)}</p><p>{esc(HEATMAP_MEANING)}</p>
<p><small>{esc(DISCLAIMER)}</small></p></body></html>"""
