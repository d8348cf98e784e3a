"""Inside the CNN: every conv layer's feature maps, channel by channel, and Grad-CAM heatmaps."""

import time

import numpy as np
import streamlit as st

from skinml.app import explain_ui as ui
from skinml.app import setup_page, show_error
from skinml.app.classifiers import UNTRAINED, choose_model_ui
from skinml.cnn.ensemble import ensemble_size
from skinml.errors import SkinmlError
from skinml.explain.features import scale_channel, tile_channels
from skinml.explain.gradcam import overlay_heatmap

setup_page("Inside the CNN")
st.markdown("Pick a model and an image and watch what each convolutional layer makes of it: every channel "
            "of every layer is a **feature map**, one filter's response at each place in the image. "
            "**Grad-CAM** then shows which places moved the model's answer.")

left, right = st.columns(2)
with left:
    chosen = choose_model_ui("cnn_model", untrained=True)
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
p = ui.probability_cached(model_path, x)
choice = ui.heatmap_ui(clf.side(p), key="cnn", photo=ui.photo_id(picked[1]))
heat = ui.heatmap_cached(model_path, x, choice)
a, b = st.columns(2)
a.image(photo, caption=f"p(malignant) {p:.0%}, threshold {clf.threshold:.0%}", width="stretch")
b.image(overlay_heatmap(x, heat, choice.alpha), caption=f"{choice.method} for the {choice.target} score "
        "(red = most influence)", width="stretch")
st.caption("Grad-CAM weighs the last convolutional layer's channels by how much they raise the class score "
           "and keeps the positive part (Selvaraju et al., 2017). It shows influence, not the lesion's outline.")
