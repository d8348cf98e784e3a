"""Inside the CNN: every conv layer's feature maps, Grad-CAM per class, four explanation methods side by side
with the lesion outline, their measured trust, the bias test (lesion removed / lesion only) and the
weight-randomisation check."""

import time

import numpy as np
import streamlit as st

from skinml.app import explain_ui as ui
from skinml.app import plain, setup_page, show_error
from skinml.app.bias_ui import bias_ui
from skinml.app.classifiers import UNTRAINED, choose_model_ui
from skinml.app.session import current_dataset
from skinml.cnn.ensemble import ensemble_size
from skinml.data.diagnoses import CLASS_NAMES
from skinml.errors import SkinmlError
from skinml.explain.features import scale_channel, tile_channels
from skinml.explain.gradcam import overlay_heatmap
from skinml.explain.trust import explanations_table, masks_sentence
from skinml.plots.explain import plot_perturbation_curves
from skinml.predict import format_probability

setup_page("Inside the CNN")
st.markdown("Pick a model and an image and watch what each convolutional layer makes of it: every channel "
            "of every layer is a **feature map**, one filter's response at each place in the image. "
            "**Grad-CAM** and three other methods then show which places moved the model's answer, "
            "beside the lesion's outline where a dermatologist drew one, with measures of how far to trust "
            "them and a check that they depend on what the model learned.")

left, right = st.columns(2)
with left:
    chosen = choose_model_ui("cnn_model", untrained=True, unfinished=True)
with right:
    picked = ui.choose_image_ui("cnn_image")
if chosen is None or picked is None:
    st.stop()
model_path, clf = chosen
try:
    photo, x = ui.read_for_model(picked[1], picked[0], clf.image_size, clf.resize)
except SkinmlError as exc:
    show_error(exc)
    st.stop()
if model_path.startswith(UNTRAINED):
    st.caption("An untrained network (random weights): its maps show what random filters do, and its "
               "Grad-CAM means nothing yet.")

maps = ui.feature_maps_cached(model_path, x)
groups = ui.layer_groups(clf.model, list(maps))

st.subheader("Feature maps")
members = ensemble_size(clf.model)
if members > 1:
    st.caption(f"This model is an ensemble of {members} networks that see the same image: pick one below, or "
               "the joined features, where their last maps meet. Its answer is the mean of the networks' "
               "scores, and its Grad-CAM uses the joined features.")
c1, c2 = st.columns(2)
network = c1.selectbox("Network", list(groups), key="cnn_network") if len(groups) > 1 else next(iter(groups))
blocks = groups[network]
block = c2.selectbox("Block", list(blocks), key=f"cnn_block_{network}") if len(blocks) > 1 else next(iter(blocks))
layer = blocks[block][0] if len(blocks[block]) == 1 else st.select_slider(
    "Layer", blocks[block], value=blocks[block][0], key=f"cnn_layer_{network}_{block}",
    format_func=ui.short_layer_name)
names = [n for layers in blocks.values() for n in layers]  # this network's layers, for "Play"
acts = maps[layer]
channel = st.slider("Channel", 0, acts.shape[-1] - 1, 0, key="cnn_channel")
st.caption(f"Layer **{layer}** ({names.index(layer) + 1} of {len(names)} in {network}): "
           f"{acts.shape[0]}x{acts.shape[1]} pixels, {acts.shape[-1]} channels. Bright = strong activation "
           "(each map scaled to its own range).")

grid_col, one_col = st.columns([3, 2])
with grid_col:
    mosaic = tile_channels(acts, columns=int(np.ceil(np.sqrt(acts.shape[-1] * 1.5))))
    st.image(ui.zoomed(mosaic, 640), caption=f"All {acts.shape[-1]} channels of {layer}", width="stretch")
with one_col:
    enlarged = st.empty()

    def show_channel(name: str, k: int) -> None:
        enlarged.image(ui.zoomed(scale_channel(maps[name][..., k]), 320), caption=f"{name}, channel {k}", width=320)

    show_channel(layer, channel)
    st.image(x, caption="the image as the model sees it", width=160)
    walk = st.radio("Play walks through", ["the channels of this layer", "every layer of this network (channel 0)"],
                    horizontal=True, key="cnn_walk")
    if st.button("▶ Play", key="cnn_play"):
        steps = [(layer, k) for k in range(acts.shape[-1])] if walk.startswith("the channels") \
            else [(n, 0) for n in names]
        for name, k in steps:
            show_channel(name, k)
            time.sleep(0.25)

st.subheader("Grad-CAM: where the model looked")
probabilities = ui.class_probabilities_cached(model_path, x)
if clf.task == "diagnosis":
    top = clf.classes[int(np.argmax(probabilities))]
    answer = ", ".join(f"{plain(CLASS_NAMES.get(c, c))} {format_probability(p)}"
                       for p, c in sorted(zip(probabilities, clf.classes), reverse=True)[:3])
    st.caption(f"A diagnosis model: its {len(clf.classes)} classes' probabilities, highest first: {answer}. "
               "Choose the class whose score a heatmap explains.")
else:
    top = clf.decide(probabilities)
    answer = f"p(malignant) {probabilities[1]:.0%}, threshold {clf.threshold:.0%}"
if clf.uses_metadata:
    st.info("This model also reads the patient's age, sex and site: the heatmaps below explain models that "
            "read the image alone.")
    bias_ui(model_path, clf, x, ui.lesion_mask(current_dataset(), picked[0], clf.image_size, clf.resize)[0])
    st.stop()
choice = ui.heatmap_ui(top, key="cnn", photo=ui.photo_id(picked[1]), classes=clf.classes, names=CLASS_NAMES)
shown_class = plain(CLASS_NAMES.get(choice.target, choice.target))
heat = ui.heatmap_cached(model_path, x, choice)
a, b = st.columns(2)
a.image(photo, caption=answer, width="stretch")
b.image(overlay_heatmap(x, heat, choice.alpha), caption=f"{choice.method} for the {shown_class} score "
        "(red = most influence)", width="stretch")
st.caption("Grad-CAM weighs the last convolutional layer's channels by how much they raise the class score "
           "and keeps the positive part (Selvaraju et al., 2017). It shows influence, not the lesion's outline.")

st.subheader("Four explanations of the same answer")
st.markdown("Each method asks *what moved the score* in its own way: **Grad-CAM** at the last feature maps, "
            "**HiResCAM** one stage earlier (finer, without averaging the gradients), **occlusion** by greying "
            "out one patch at a time and watching the score fall, **integrated gradients** pixel by pixel along "
            "a path from a black image. Where they disagree, none of them is the truth.")
mask, mask_note = ui.lesion_mask(current_dataset(), picked[0], clf.image_size, clf.resize)
maps = ui.method_maps_ui(model_path, x, choice.index)
for column, (label, heatmap) in zip(st.columns(len(maps)), maps.items()):
    if heatmap is None:
        column.caption(f"{label}: does not fit this architecture (it needs feature maps twice the size of the "
                       "last ones).")
    else:
        column.image(ui.outline(overlay_heatmap(x, heatmap, choice.alpha), mask),
                     caption=f"{label}, {shown_class} score", width="stretch")
st.caption(mask_note)

st.subheader("How far to trust them, measured")
report = None if model_path.startswith(UNTRAINED) else ui.explanations_report(
    model_path, ui.explanations_stamp(model_path))
if report is None:
    st.info("No measures for this model yet. Compute them on held-out images against their lesion outlines "
            "(a dataset's masks, else the lesion segmenter's) with "
            "`python -m skinml explain-eval --model <model folder> "
            "--data <dataset folder> --save`: it writes `explanations.json` beside the model, and this page "
            "shows it.")
else:
    best, sentence = ui.trust_for(model_path)
    st.markdown(f"Measured on **{report['n']}** held-out images the model never trained on, each explained for "
                "the class the model predicted. **Pointing game**: how often the map's peak fell inside the "
                "lesion outline. **Share inside**: how much of the map's weight lies in the lesion. "
                "**Deletion area**: blur the most salient pixels first and watch the probability fall (lower is "
                "better). **Rank correlation**: how alike the map stays when the model's top blocks are "
                "re-initialised (lower is better: a map that survives random weights shows the image, not the "
                "model). Each figure is a mean with its 95% interval.")
    st.table(explanations_table(ui.model_folder(model_path)))  # wraps its long headers (a grid cut its last column)
    st.caption(plain(masks_sentence(report)))
    if best:
        st.caption(f"Best by the pointing game: **{plain(report['methods'][best]['label'])}**. {plain(sentence or '')}")
    kind = st.radio("Curve", ["deletion", "insertion"], horizontal=True, key="cnn_curve")
    st.plotly_chart(plot_perturbation_curves(report, kind), key="cnn_curve_chart")

bias_ui(model_path, clf, x, mask)

st.subheader("Sanity check: randomise the weights")
st.markdown("If a heatmap barely changes when the model's learned weights are replaced by random ones, it shows "
            "the image (edges, dark blobs), not what the model learned (Adebayo et al., 2018). The check "
            "re-initialises the output layer first, then each block below it, one more at a time.")
r1, r2 = st.columns(2)
check_method = r1.selectbox("Method", ["Grad-CAM", "HiResCAM", "integrated gradients"], key="cnn_rand_method")
if r2.toggle("Run the check on this image", key="cnn_rand_run",
             help="Each step re-initialises more of a copy of the model and recomputes the map: up to a minute on "
                  "a CPU for the shipped model (ten blocks, two networks), then kept for the next visit."):
    strip = ui.randomisation_cached(model_path, x, choice.index, ui.HEATMAP_METHODS[check_method])
    if strip is None:
        st.info(f"{check_method} does not fit this architecture: choose another method.")
        st.stop()
    step = st.select_slider("Blocks re-initialised, from the top down", list(range(len(strip))), value=1,
                            key="cnn_rand_step",
                            format_func=lambda k: "none (trained)" if k == 0 else f"down to {strip[k][0]}")
    c1, c2 = st.columns(2)
    c1.image(overlay_heatmap(x, strip[0][1], choice.alpha), caption=f"{check_method}, trained model", width="stretch")
    block, randomised, correlation = strip[step]
    c2.image(overlay_heatmap(x, randomised, choice.alpha),
             caption=f"{check_method}, re-initialised down to {block}" if step else f"{check_method}, trained model",
             width="stretch")
    st.caption(f"Rank correlation with the trained map: **{correlation:.2f}** (1 = the same ordering of pixels, "
               "0 = unrelated). It should fall as more of the model is randomised.")
