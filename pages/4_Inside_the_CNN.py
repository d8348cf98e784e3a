"""Inside the CNN: every conv layer's feature maps, channel by channel, and Grad-CAM heatmaps."""

import time

import numpy as np
import streamlit as st
from PIL import Image

from skinml.app import explain_ui as ui
from skinml.app import setup_page, show_error
from skinml.errors import SkinmlError
from skinml.explain.features import scale_channel, tile_channels
from skinml.explain.gradcam import overlay_heatmap

setup_page("Inside the CNN")
st.markdown("Pick a model and an image and watch what each convolutional layer makes of it: every channel "
            "of every layer is a **feature map**, one filter's response at each place in the image. "
            "**Grad-CAM** then shows which places moved the model's answer.")

left, right = st.columns(2)
with left:
    chosen = ui.choose_model_ui("cnn_model", untrained=True)
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
if model_path.startswith(ui.UNTRAINED):
    st.caption("An untrained network (random weights): its maps show what random filters do, and its "
               "Grad-CAM means nothing yet.")

maps = ui.feature_maps_cached(model_path, x)
names = list(maps)

st.subheader("Feature maps")
if names[-1] == "features" and names[0].startswith("member1_"):
    members = len({n.split("_")[0] for n in names if n.startswith("member")})
    st.caption(f"This model is an ensemble of {members} networks that see the same image: the layers of the "
               "first are named `member1_...`, then come the second's, and `features` joins their last maps. "
               "Its answer is the mean of the networks' scores, and its Grad-CAM uses `features`.")
layer = st.select_slider("Layer", names, value=names[0], key="cnn_layer")
acts = maps[layer]
channel = st.slider("Channel", 0, acts.shape[-1] - 1, 0, key="cnn_channel")
st.caption(f"Layer **{layer}** ({names.index(layer) + 1} of {len(names)}): {acts.shape[0]}x{acts.shape[1]} "
           f"pixels, {acts.shape[-1]} channels. Bright = strong activation (each map scaled to its own range).")

grid_col, one_col = st.columns([3, 2])
with grid_col:
    columns = int(np.ceil(np.sqrt(acts.shape[-1] * 1.5)))
    mosaic = tile_channels(acts, columns=columns)
    zoom = max(1, 640 // mosaic.shape[1])
    st.image(Image.fromarray(mosaic).resize((mosaic.shape[1] * zoom, mosaic.shape[0] * zoom), Image.NEAREST),
             caption=f"All {acts.shape[-1]} channels of {layer}", width="stretch")
with one_col:
    enlarged = st.empty()

    def show_channel(name: str, k: int) -> None:
        big = Image.fromarray(scale_channel(maps[name][..., k])).resize((320, 320), Image.NEAREST)
        enlarged.image(big, caption=f"{name}, channel {k}", width=320)

    show_channel(layer, channel)
    st.image(x, caption="the image as the model sees it", width=160)
    walk = st.radio("Play walks through", ["the channels of this layer", "every layer (channel 0)"],
                    horizontal=True, key="cnn_walk")
    if st.button("▶ Play", key="cnn_play"):
        steps = [(layer, k) for k in range(acts.shape[-1])] if walk.startswith("the channels") \
            else [(n, 0) for n in names]
        for name, k in steps:
            show_channel(name, k)
            time.sleep(0.25)

st.subheader("Grad-CAM: where the model looked")
p = ui.probability_cached(model_path, x)
predicted = "malignant" if p >= clf.threshold else "benign"
other = "benign" if predicted == "malignant" else "malignant"
c1, c2 = st.columns(2)
target = c1.radio("Heatmap for", [f"{predicted} (the side the model chose)", f"{other} (the other class)"],
                  key="cnn_target").split()[0]
alpha = c2.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, key="cnn_alpha")
heat = ui.grad_cam_cached(model_path, x, target)
a, b = st.columns(2)
a.image(photo, caption=f"p(malignant) = {p:.3f}, threshold {clf.threshold:.3f}", width="stretch")
b.image(overlay_heatmap(x, heat, alpha), caption=f"Grad-CAM for {target} (red = most influence)",
        width="stretch")
st.caption("Grad-CAM weighs the last convolutional layer's channels by how much they raise the class score "
           "and keeps the positive part (Selvaraju et al., 2017). It shows influence, not the lesion's outline.")
