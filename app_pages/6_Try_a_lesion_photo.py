"""The clinician's page: a lesion photo in, a probability with its threshold, spread and heatmap out;
with a diagnosis model, the diagnoses ranked and p(malignant) as their sum beside it."""

from dataclasses import replace

import streamlit as st

from skinml.app import explain_ui as ui
from skinml.app import plain, setup_page, show_error
from skinml.app.classifiers import choose_model_ui
from skinml.app.segment_ui import TEACHING, abcd_sentences, lesion_outline_ui
from skinml.errors import SkinmlError
from skinml.evaluation import load_patient_data, patient_data_sentence
from skinml.plots.explain import plot_diagnoses
from skinml.predict import (
    HEATMAP_MEANING,
    SPREAD_MEANING,
    build_summary_html,
    disagreement,
    format_probability,
    format_spread,
    heatmap_is_empty,
    heatmap_on_photo,
    metadata_sentence,
    reading,
    seen_sentence,
    side_sentence,
)

setup_page("Try a lesion photo", icon="🩺")

picked = ui.choose_image_ui("try_image", camera=True, dataset=False, upload_first=True)
with st.expander("Model"):
    chosen = choose_model_ui("try_model", task="binary")
    diagnosis = choose_model_ui("try_diagnosis_model", task="diagnosis", optional=True)
reads = {task: m[1].uses_metadata for task, m in (("binary", chosen), ("diagnosis", diagnosis)) if m}
said = "; ".join(f"the {task} model {'reads' if r else 'does not read'} them" for task, r in reads.items())
with st.expander(f"About the patient (optional{': ' + said if said else ''})"):
    try:
        patient = ui.patient_ui("try_patient")
    except SkinmlError as exc:
        show_error(exc)
        patient = None
st.caption("Photos are processed in memory and never saved. Or choose **Example** above to see how the page reads.")
if chosen is None or picked is None:
    st.stop()
model_path, clf = chosen
name, data = picked
try:  # the binary model's probability first; the diagnosis model, the heatmap and the outline after it
    result = ui.predict_cached(model_path, data, name, tta=True, patient=patient)
except SkinmlError as exc:
    show_error(exc)
    st.stop()

if result.ood.fired:
    st.error("### ⚠️ This does not look like a dermoscopy image\n" + "\n".join(f"- {w}" for w in result.ood.warnings[1:])
             + "\n\nThe models only learned from dermoscopy images (taken through a dermoscope, close up, "
               "evenly lit): such a photo gets no side of the threshold and no heatmap, and their numbers are "
               "tucked away below.")
if result.seen:
    st.warning(seen_sentence(result.seen), icon="🎓")
for warning in result.warnings[len(result.ood.warnings) + bool(result.seen):]:
    st.warning(warning)

fired = result.ood.fired
figures = st.expander("The models' numbers anyway (they mean little here)") if fired else st.container()
with figures:
    c1, c2, c3 = st.columns(3)
    c1.metric("Probability of malignancy", format_probability(result.p_malignant),
              help="p(malignant): the mean over the eight flips and quarter turns of the photo, in whole percents "
                   "and never closer to 0% or 100% than 1%: the model's calibration cannot back finer figures.")
    c2.metric("Model threshold", f"{result.threshold:.0%}",
              help="Chosen on the model's validation split; where the probability lies against it is all the "
                   "page says, never a diagnosis.")
    c3.metric("Spread (8 flips and turns)", format_spread(result.uncertainty), help=SPREAD_MEANING)
    st.markdown(side_sentence(result))
    if result.patient:  # the table given, the same for both models
        st.caption(metadata_sentence(result))
st.info(reading(result, clf.metrics))
st.caption(SPREAD_MEANING)
conflict_slot = st.empty()  # the two models' disagreement, once the diagnosis model has answered
st.caption(f"Answer for {plain(name)}")  # after the probability, before the slower parts are computed

ui.after_the_answers()  # the slower parts wait while another visitor's photo is being answered
try:
    dx = diagnosis and ui.predict_cached(diagnosis[0], data, name, tta=True, patient=patient)
except SkinmlError as exc:
    show_error(exc)
    st.stop()
conflict = dx and disagreement(result, dx)
if conflict:
    conflict_slot.warning(conflict, icon="⚖️")
if dx:
    with figures:
        st.subheader("Diagnoses, as a seven-class model ranks them")
        d1, d2 = st.columns([3, 2])
        d1.plotly_chart(plot_diagnoses(dx.ranked()), key="try_diagnoses_chart")
        d2.metric("p(malignant), the binary model", format_probability(result.p_malignant))
        d2.metric("p(malignant), the diagnosis model", format_probability(dx.p_malignant),
                  help="The sum of the probabilities of its malignant diagnoses (melanoma, basal cell carcinoma, "
                       "actinic keratosis / intraepithelial carcinoma). Two models trained apart: where they "
                       "disagree, neither is the answer.")
        d2.caption(f"Model: {plain(dx.model_name or diagnosis[1].model.name)}, version {plain(dx.model_version)}. "
                   + metadata_sentence(dx))
        cost = dx.metadata_used and patient_data_sentence(load_patient_data(ui.model_folder(diagnosis[0])), patient)
        if cost:
            (st.info if patient is not None else st.warning)(cost, icon="🧾")
        for warning in dx.warnings:
            if warning not in result.warnings:
                st.warning(warning)
        st.info(reading(dx, diagnosis[1].metrics))

best, trust = ui.trust_for(model_path)
method = ui.heatmap_method(best)
st.subheader(f"Where the model looked ({method})")
choice = heat = None
if fired:
    st.info("No heatmap is drawn: it would explain a number that means little for a photo that does not look "
            "like dermoscopy.")
elif clf.uses_metadata:
    st.info("The binary model also reads the patient's age, sex and site: heatmaps explain models that read the "
            "image alone, so none is drawn.")
else:  # computed here, after the probability is on the page; the downloaded summary draws the same map
    choice = ui.heatmap_ui(result.heatmap_class, key="try", photo=ui.photo_id(data), method=method)
    ui.after_the_answers()
    heat = ui.heatmap_cached(model_path, result.model_input, choice)
    if heat is None:  # the measured method does not fit this architecture
        choice = replace(choice, method="Grad-CAM")
        heat = ui.heatmap_cached(model_path, result.model_input, choice)
    if heat is not None:
        result = replace(result, heatmap=heat, heatmap_method=ui.HEATMAP_METHODS[choice.method],
                         heatmap_class=choice.target)
a, b = st.columns(2)
a.image(result.image, caption=plain(name), width="stretch", output_format="JPEG")  # PNG took the server 0.1 s
if result.crop_mode == "lesion":
    st.caption("This model reads a square around the lesion (it was trained on such crops): the photo above is "
               "what it read" + ("." if result.crop else ", whole, because no lesion was found."))
if heat is not None:
    if heatmap_is_empty(heat):
        b.info(f"{choice.method} is flat for the {choice.target} score: no region of this photo moved it more "
               "than another.")
    else:
        b.image(heatmap_on_photo(result, heat, choice.alpha),
                caption=f"{choice.method} for the {choice.target} score: red = its strongest tenth", width="stretch",
                output_format="JPEG")
if choice is None:
    pass
elif trust and choice.method == method:
    st.caption(f"Why {method}: of the methods measured for this model it pointed inside the lesion most often. "
               + plain(trust))
elif trust:
    st.caption(HEATMAP_MEANING + f" The method measured best for this model, {method}, does not fit its architecture.")
else:
    st.caption(HEATMAP_MEANING + " Its methods have not been measured against lesion outlines for this model "
               "(`python -m skinml explain-eval --save`), so Grad-CAM is shown.")

lesion = None
if fired:  # one story: no outline or ABCD measures of something that does not look like a lesion photo
    st.info("No lesion outline is drawn: this photo does not look like a dermoscopy image.")
else:
    ui.after_the_answers()
    lesion = lesion_outline_ui(data, name, key="try_outline", mask=result.mask)  # the check's mask, reused
outline = (lesion["outlined"], [*abcd_sentences(lesion["abcd"]), TEACHING]) if lesion else None

notes = [conflict] if conflict else []
# written when clicked, not on every visit: the photos' encoding was a seventh of the server's time under load
st.download_button("Download a summary (HTML)",
                   lambda: build_summary_html(result, clf.metrics, notes=notes, outline=outline),
                   file_name="skinml-summary.html", mime="text/html", key="try_download")
if dx:
    st.download_button("Download the diagnosis model's summary (HTML)",
                       lambda: build_summary_html(dx, diagnosis[1].metrics, notes=notes, outline=outline),
                       file_name="skinml-diagnosis-summary.html", mime="text/html", key="try_download_diagnosis")
st.caption(f"Model: {result.model_name or clf.model.name}, version {result.model_version}.")
