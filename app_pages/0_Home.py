"""Home page of the skinml dashboard: what it is, which data and model are loaded, how to get data."""

import streamlit as st

from skinml import DISCLAIMER
from skinml.app import plain, setup_page
from skinml.app.data_ui import data_dir, has_synthetic_images, load_table, open_folder
from skinml.cnn.classifier import SHIPPED_DIR, read_info

setup_page("skinml: deep learning on dermoscopy images", icon="🔬")

st.markdown(
    """
**skinml** teaches deep learning on dermoscopy images of skin lesions from the
[ISIC archive](https://www.isic-archive.com): read and check a dataset, train a CNN that
tells benign from malignant lesions, look inside it (feature maps, Grad-CAM), and generate
new lesion images with a GAN. It grows out of a master's thesis and fixes what the thesis
got wrong (for example, no patient or lesion is ever in two splits).

Use the pages on the left: **Data** shows a dataset, its metadata, filters, splits and
problems. Everything the dashboard does is also `python -m skinml ...` on the command line.
"""
)

st.subheader("Data")
current = data_dir()
typed = st.text_input("Dataset folder", value=current,
                      help="Any of: an isic-cli download (metadata.csv + images), the old archive's "
                           "JPG + JSON pairs, HAM10000, or benign/ and malignant/ folders.")
folder = typed.strip()
if folder != current:
    error = open_folder(folder)
    if error:
        st.error(plain(error))
    else:
        st.session_state["data_dir"] = current = folder
        st.success(f"Opened {plain(folder)}: the other pages now use it.")
if not open_folder(current):
    table = load_table(current)
    counts = table["benign_malignant"].value_counts()
    synthetic = has_synthetic_images(table)
    cols = st.columns(4)
    cols[0].metric("Images", f"{len(table):,}")
    cols[1].metric("Benign", f"{counts.get('benign', 0):,}")
    cols[2].metric("Malignant", f"{counts.get('malignant', 0):,}")
    cols[3].metric("Problems found", len(table.attrs["problems"]))
    st.caption(f"{plain(current)} · layout **{table.attrs['layout']}**"
               + (" · **synthetic images, not real lesions**" if synthetic else ""))

st.subheader("Model")
info, metrics = read_info(SHIPPED_DIR)
if info:
    st.markdown(f"Shipped classifier: **{plain(info.get('name', info.get('architecture', 'classifier')))}**, "
                f"{info.get('image_size', '?')} px input, threshold **{info.get('threshold', 0.5):.0%}**: pages say "
                "whether a photo's probability lies above or below it, never what a lesion is.")
    test = metrics.get("test") or {}
    if test:
        cols = st.columns(4)
        cols[0].metric("Test images", f"{test['n']:,}", help="Its held-out test split: never seen in training.")
        cols[1].metric("AUC", f"{test['auc']:.2f}", help="1 = ranks every malignant lesion above every benign one; "
                                                         "0.5 = chance.")
        cols[2].metric("Sensitivity", f"{test['sensitivity']:.0%}",
                       help="Share of malignant lesions it flags at its threshold.")
        cols[3].metric("Specificity", f"{test['specificity']:.0%}",
                       help="Share of benign lesions it clears at its threshold.")
        st.caption("On its own test split only: other cameras, clinics and skin types may do worse. "
                   "The **Evaluate** page shows every figure; the model card says how it was made.")
else:
    st.info("The shipped classifier is not yet in this copy of skinml (skinml/assets/classifier/). "
            "The data pages work without it.")

st.subheader("Getting real data")
st.markdown(
    """
Real ISIC images cannot ship with skinml; the built-in demo is **synthetic** (lesions drawn
after the ABCD rule of dermoscopy). Download a sample from the ISIC archive with the official
command line, then type the folder above:
"""
)
st.code("pip install isic-cli\n"
        "isic image download --search 'benign_malignant:malignant' --limit 500 isic-malignant\n"
        "isic image download --search 'benign_malignant:benign' --limit 500 isic-benign\n"
        "python -m skinml data scan isic-malignant", language="bash")
st.caption("Check each image's licence (`copyright_license` in metadata.csv) before you share anything.")

st.subheader("Not a medical device")
st.markdown(f"""{DISCLAIMER}

What the pages show is a **probability** from one model, how **steady** it is when the photo is turned,
where the model **looked**, and whether the photo looks like the dermoscopy images it learned from. They
never say what a lesion is: a model trained on a few thousand public images misses some cancers and
raises false alarms, and it was never tested on other cameras, clinics or skin types.""")
