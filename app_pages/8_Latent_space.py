"""The latent space: samples with seeds, walks between two of them, arithmetic, benign to malignant."""

import streamlit as st

from skinml.app import gan_ui as ui
from skinml.app import setup_page
from skinml.gan import latent
from skinml.plots.gan import plot_walk_probabilities

GIF_SIZES = {"128 px (as generated)": 128, "256 px": 256, "512 px (projector)": 512}

setup_page("Latent space")
st.markdown("A generator turns a **latent** vector of random numbers into an image; one **seed** always gives "
            "the same latent, so an image can be found again by its seed.")
gen = ui.generator_ui(conditional=False, key="latent_gen")
key = ui.generator_key(gen)

st.subheader("Samples and their seeds")
start = st.number_input("First seed", 0, 10**6, 0, step=16, key="latent_start")
seeds = list(range(int(start), int(start) + 16))
st.image(ui.samples(gen, key, tuple(seeds)), caption=[f"seed {s}" for s in seeds], width=96)

tab_walk, tab_math, tab_class = st.tabs(["Walk between two", "Vector arithmetic", "Benign → malignant"],
                                        key="latent_tab", on_change="rerun")  # only the open tab runs
if tab_walk.open:
    with tab_walk:
        c1, c2, c3, c4 = st.columns(4)
        a = c1.selectbox("From seed", seeds, index=0, key="latent_a")
        b = c2.selectbox("To seed", seeds, index=1, key="latent_b")
        method = c3.radio("Interpolation", latent.METHODS, index=1, horizontal=True, key="latent_method",
                          help="slerp follows the sphere where Gaussian latents live; lerp cuts through it")
        steps = c4.slider("Steps", 4, 32, 12, key="latent_steps")
        size = GIF_SIZES[st.radio("GIF size", list(GIF_SIZES), index=1, horizontal=True, key="latent_gif_size")]
        frames, gif, norms = ui.walk(gen, key, a, b, steps, method, size)
        st.image(gif, caption=f"{method} from seed {a} to seed {b} (latent norms {norms})", width=size)
        st.download_button("Download the GIF", gif, file_name=f"walk_{a}_{b}_{method}_{size}px.gif",
                           mime="image/gif", key="latent_download")

if tab_math.open:
    with tab_math:
        st.write("Choose seeds for groups A, B and C: the image of mean(A) − mean(B) + mean(C).")
        ga = st.multiselect("A", seeds, default=seeds[:2], key="latent_ga")
        gb = st.multiselect("B", seeds, default=seeds[2:4], key="latent_gb")
        gc = st.multiselect("C", seeds, default=seeds[4:6], key="latent_gc")
        groups = [(tuple(g), s) for g, s in ((ga, 1), (gb, -1), (gc, 1)) if g]
        if groups:
            image = ui.arithmetic(gen, key, tuple(g for g, _ in groups), tuple(s for _, s in groups))
            st.image(image, caption="A − B + C", width=256)

if tab_class.open:
    with tab_class:
        st.write("A conditional generator also takes a label. Here one latent stays fixed while its label "
                 "moves from benign to malignant; the shipped classifier then says how malignant each "
                 "frame looks to it.")
        cgen = ui.generator_ui(conditional=True, key="latent_cgen")
        c1, c2 = st.columns(2)
        seed = c1.number_input("Latent seed", 0, 10**6, 7, key="latent_label_seed")
        size = GIF_SIZES[c2.radio("GIF size", list(GIF_SIZES), index=1, horizontal=True, key="latent_label_size")]
        frames, gif, p, threshold = ui.label_walk(cgen, ui.generator_key(cgen), int(seed), 9, size)
        st.image(frames, caption=["benign", *[""] * 7, "malignant"], width=72)
        left, right = st.columns(2)
        left.image(gif, caption="the same latent, benign → malignant", width=size)
        if p is None:
            right.info("No shipped classifier in this copy of skinml: the class change cannot be measured.")
        else:
            right.plotly_chart(plot_walk_probabilities(p, threshold), width="stretch", key="latent_walk_p")
            right.markdown(ui.walk_reading(p, threshold))
