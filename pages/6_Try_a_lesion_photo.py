"""The clinician's page: a lesion photo in, a probability with its threshold, uncertainty and heatmap out."""

import streamlit as st

from skinml import DISCLAIMER
from skinml.app import explain_ui as ui
from skinml.app import plain, setup_page, show_error
from skinml.app.classifiers import choose_model_ui
from skinml.errors import SkinmlError
from skinml.explain.gradcam import overlay_heatmap
from skinml.predict import build_summary_html, reading

setup_page("Try a lesion photo", icon="🩺")
st.warning(f"**Not a medical device.** {DISCLAIMER} This page never gives a diagnosis: it shows what one "
           "model, trained on public dermoscopy images, makes of a photo, and how far to trust it.")

left, right = st.columns(2)
with left:
    chosen = choose_model_ui("try_model")
with right:
    picked = ui.choose_image_ui("try_image", camera=True, dataset=False)
st.caption("Photos are processed in memory and never saved.")
if chosen is None or picked is None:
    st.stop()
model_path, clf = chosen
name, data = picked
try:
    result = ui.predict_cached(model_path, data, name, tta=True)
except SkinmlError as exc:
    show_error(exc)
    st.stop()

if result.ood.fired:
    st.error("### ⚠️ This does not look like a dermoscopy image\n" + "\n".join(f"- {w}" for w in result.ood.warnings[1:])
             + "\n\nThe model only learned from dermoscopy images (taken through a dermoscope, close up, "
               "evenly lit): for anything else its number below means little.")
for warning in result.warnings[len(result.ood.warnings):]:
    st.warning(warning)

test = clf.metrics.get("test") or {}
c1, c2, c3 = st.columns(3)
c1.metric("Probability of malignancy", f"{result.p_malignant:.1%}",
          help="p(malignant): the mean over the eight flips and quarter turns of the photo.")
c2.metric("Model threshold", f"{result.threshold:.0%}",
          help="The model calls a photo 'suspicious' from this probability up; chosen on its validation split.")
c3.metric("Uncertainty (± spread)", f"{result.uncertainty:.1%}",
          help="Standard deviation of the probability over the eight flips and quarter turns.")
side = "at or above" if result.label == "malignant" else "below"
st.markdown(f"The probability is **{side} the threshold**. ")
if test.get("sensitivity") is not None:
    st.markdown(f"What the threshold means: on its held-out test split ({test.get('n', '?')} images) the model "
                f"flagged **{test['sensitivity']:.0%} of malignant lesions** (sensitivity) and cleared "
                f"**{test['specificity']:.0%} of benign ones** (specificity) at this threshold.")
else:
    st.caption("This model has no test-split figures (metrics.json), so how good its threshold is is unknown.")
st.info(reading(result))

st.subheader("Where the model looked (Grad-CAM)")
target, alpha = ui.heatmap_ui(result.label, key="try")
heat = result.heatmap if target == result.label else ui.grad_cam_cached(model_path, result.model_input, target)
a, b = st.columns(2)
a.image(result.image, caption=plain(name), width="stretch")
b.image(overlay_heatmap(result.model_input, heat, alpha), caption=f"Grad-CAM for {target}: red = most influence",
        width="stretch")

st.download_button("Download a summary (HTML)", build_summary_html(result, clf.metrics),
                   file_name="skinml-summary.html", mime="text/html", key="try_download")
st.caption(f"Model: {clf.info.get('name', clf.model.name)}, version {clf.version}.")
