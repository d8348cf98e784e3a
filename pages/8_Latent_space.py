"""The latent space: samples with seeds, walks between two of them, arithmetic, benign to malignant."""

import numpy as np
import streamlit as st

from skinml.app import gan_ui as ui
from skinml.app import setup_page
from skinml.data import LABELS
from skinml.gan import latent

setup_page("Latent space")
gen = ui.generator_ui(conditional=False, key="latent_gen")
dim = gen.spec.latent_dim
label_of = (lambda n: np.zeros(n, "int32")) if gen.spec.conditional else (lambda n: None)

st.subheader("Samples and their seeds")
start = st.number_input("First seed", 0, 10**6, 0, step=16)
seeds = list(range(int(start), int(start) + 16))
images = gen.generate(latent.sample_latents(seeds, dim), label_of(16))
cols = st.columns(8)
for i, (seed, im) in enumerate(zip(seeds, ui.as_uint8(images))):
    cols[i % 8].image(im, caption=f"seed {seed}", width="stretch")

tab_walk, tab_math, tab_class = st.tabs(["Walk between two", "Vector arithmetic", "Benign → malignant"])
with tab_walk:
    c1, c2, c3, c4 = st.columns(4)
    a = c1.selectbox("From seed", seeds, index=0)
    b = c2.selectbox("To seed", seeds, index=1)
    method = c3.radio("Interpolation", latent.METHODS, index=1, horizontal=True,
                      help="slerp follows the sphere where Gaussian latents live; lerp cuts through it")
    steps = c4.slider("Steps", 4, 32, 12)
    path = latent.interpolate(latent.latent_for_seed(a, dim), latent.latent_for_seed(b, dim), steps, method)
    walk = gen.generate(path, label_of(steps))
    gif = latent.to_gif(walk)
    norms = " → ".join(f"{np.linalg.norm(path[i]):.1f}" for i in (0, steps // 2, -1))
    st.image(gif, caption=f"{method} from seed {a} to seed {b} (norms {norms})")
    st.download_button("Download GIF", gif, file_name=f"walk_{a}_{b}_{method}.gif", mime="image/gif")

with tab_math:
    st.write("Choose seeds for groups A, B and C: the image of mean(A) − mean(B) + mean(C).")
    ga = st.multiselect("A", seeds, default=seeds[:2])
    gb = st.multiselect("B", seeds, default=seeds[2:4])
    gc = st.multiselect("C", seeds, default=seeds[4:6])
    groups = [(g, s) for g, s in ((ga, 1), (gb, -1), (gc, 1)) if g]
    if groups:
        z = latent.combine_groups([latent.sample_latents(g, dim) for g, _ in groups], [s for _, s in groups])
        st.image(ui.as_uint8(gen.generate(z[None], label_of(1)))[0], caption="A − B + C", width=256)

with tab_class:
    cgen = ui.generator_ui(conditional=True, key="latent_cgen")
    seed = st.number_input("Latent seed", 0, 10**6, 7)
    walk = latent.walk_labels(cgen.model, latent.latent_for_seed(seed, cgen.spec.latent_dim), steps=9)
    cols = st.columns(9)
    for i, im in enumerate(ui.as_uint8(walk)):
        cols[i].image(im, caption=LABELS[0] if i == 0 else (LABELS[1] if i == 8 else ""), width="stretch")
    st.image(latent.to_gif(walk), caption="the same latent, benign → malignant")
