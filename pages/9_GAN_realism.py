"""How real do generated lesions look? PCA, KID/FID, precision/recall, two-sample test, memorisation."""

import numpy as np
import pandas as pd
import streamlit as st

from skinml.app import gan_ui as ui
from skinml.app import setup_page, show_error
from skinml.gan.latent import sample_latents
from skinml.plots.gan import plot_image_pairs, plot_pca_overlay
from skinml.quality import realism as quality

setup_page("GAN realism")
st.write("The thesis judged its GAN by one PCA plot. Here are that plot and numbers that can be "
         "compared between generators.")
gen = ui.generator_ui(conditional=False, key="real_gen")
n = st.slider("Images of each kind", 20, 400, 60, step=20)


@st.cache_data(show_spinner="Reading real images ...")
def real_images(size: int, n: int):
    from skinml.data.policy import DataPolicy, apply_policy
    from skinml.data.readers import default_data_dir, load_dataset
    from skinml.images.pipeline import load_array

    df, _ = apply_policy(load_dataset(default_data_dir(), verify=False), DataPolicy.for_gan())
    df = df.sample(n=min(len(df), 2 * n), random_state=0)
    return load_array(df["image_path"].tolist(), size=size).astype("float32") / 255.0


try:
    real = real_images(gen.spec.image_size, n)
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()
half = len(real) // 2  # one half plays the held-out set, the other the training set
held, train = real[:half], real[half:]
n = len(held)
fake = gen.generate(sample_latents(range(n), gen.spec.latent_dim),
                    np.arange(n) % 2 if gen.spec.conditional else None)
if gen.info.get("demo"):
    st.warning("These figures are for the untrained demo generator: they show how the measures read.")

pca = quality.pca_overlay(held, fake)
st.plotly_chart(plot_pca_overlay(pca, "Pixels (flattened, min-max scaled, as in the thesis)"),
                use_container_width=True)

if st.button("Compute the full report (KID, FID, precision/recall, two-sample test)"):
    from skinml.cnn.classifier import load_classifier
    from skinml.errors import ModelError

    try:
        feature_model = load_classifier().model
        source = "the shipped classifier"
    except ModelError:
        from skinml.cnn.models import build_model
        feature_model, source = build_model("thesis_base", image_size=gen.spec.image_size), "an untrained thesis_base CNN"
    with st.spinner("Measuring ..."):
        report = quality.realism_report(held, fake, train=train, feature_model=feature_model)
    st.caption(f"Feature space: {source}; {report['n_real']} real and {report['n_fake']} generated images "
               "(FID is biased upwards on small samples; KID is not). The real images are a random sample of the "
               "data folder, which may include the generator's own training images: the shipped generators' "
               "model cards give the figures against images they never saw.")
    rows = {k: v for k, v in report.items() if isinstance(v, (int, float)) and k != "two_sample_best"}
    rows["two-sample accuracy, CNN on pixels (0.5 = indistinguishable)"] = report["two_sample"]["accuracy"]
    if "two_sample_features" in report:
        rows["two-sample accuracy, classifier features"] = report["two_sample_features"]["accuracy"]
    st.table(pd.DataFrame({"value": rows}))
    st.download_button("Report as JSON", pd.Series(report).to_json(), "gan_report.json")

st.subheader("Memorisation: each generated image and its nearest training image")
idx, dist = quality.nearest_training_images(fake[:8], train)
st.plotly_chart(plot_image_pairs(fake[:8], train[idx], [f"d={d:.3f}" for d in dist]), use_container_width=True)
st.caption("Distance: RMS pixel difference at 32 px. A copy of a training image scores near 0.")
