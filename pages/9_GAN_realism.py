"""How real do generated lesions look? PCA, KID/FID, precision/recall, two-sample test, memorisation."""

import json

import numpy as np
import streamlit as st

from skinml.app import gan_ui as ui
from skinml.app import setup_page, show_error
from skinml.app.data_ui import data_dir
from skinml.errors import SkinmlError
from skinml.gan.latent import sample_latents
from skinml.plots.gan import plot_image_pairs, plot_pca_overlay
from skinml.quality.realism import nearest_training_images, pca_overlay

setup_page("GAN realism")
st.write("The thesis judged its GAN by one PCA plot. Here are that plot and numbers that can be "
         "compared between generators.")
gen = ui.generator_ui(conditional=False, key="real_gen")
n = st.slider("Images of each kind", 20, 400, 60, step=20)

try:
    held, train = ui.real_images(data_dir(), gen.spec.image_size, n)
except SkinmlError as exc:
    show_error(exc)
    st.stop()
n = len(held)  # held plays the images the generator never saw, train its training images
fake = gen.generate(sample_latents(range(n), gen.spec.latent_dim),
                    np.arange(n) % 2 if gen.spec.conditional else None)
if gen.info.get("demo"):
    st.warning("These figures are for the untrained demo generator: they show how the measures read.")

st.plotly_chart(plot_pca_overlay(pca_overlay(held, fake), "Pixels (flattened, min-max scaled, as in the thesis)"),
                width="stretch")

if st.button("Compute the full report (KID, FID, precision/recall, two-sample test)"):
    with st.spinner("Measuring ..."):
        report, source = ui.realism_report(held, fake, train)
    st.caption(f"Feature space: {source}; {report['n_real']} real and {report['n_fake']} generated images "
               "(FID is biased upwards on small samples; KID is not). The real images are a random sample of the "
               "data folder, which may include the generator's own training images: the shipped generators' "
               "model cards give the figures against images they never saw.")
    st.dataframe(ui.report_table(report), hide_index=True, width="stretch")
    st.download_button("Download the report (JSON)", json.dumps(report, indent=2, default=float), "gan_report.json",
                       mime="application/json")

st.subheader("Memorisation: each generated image and its nearest training image")
idx, dist = nearest_training_images(fake[:8], train)
st.plotly_chart(plot_image_pairs(fake[:8], train[idx], [f"d={d:.3f}" for d in dist]), width="stretch")
st.caption("Distance: RMS pixel difference at 32 px. A copy of a training image scores near 0.")
