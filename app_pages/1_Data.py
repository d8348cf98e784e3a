"""Data page: choose a dataset, see its metadata, filter it, split it, check its problems."""

import pandas as pd
import streamlit as st

from skinml import data
from skinml.app import data_ui as ui
from skinml.app import plain, session, setup_page
from skinml.app.segment_ui import outlined_grid_ui
from skinml.plots.data import plot_image_sizes, plot_splits

setup_page("Data")

root = ui.choose_dataset_ui()
if root is None:
    st.stop()
stamp = ui.folder_stamp(root)
table = ui.load_table(root)
layout = table.attrs["layout"]
st.caption(f"Layout **{plain(layout)}** ({data.LAYOUTS.get(layout, 'several folders read as one')}) · "
           f"{table.attrs['n_files']:,} image files · {len(table):,} metadata rows · "
           f"{len(table.attrs['problems'])} problems")
union = ui.union_table(table)
if union is not None:
    st.markdown(f"**{len(union)} folders read as one dataset**, joined on the ISIC id: "
                f"**{table.attrs['merged']:,} images** were found in more than one folder and count once (the row "
                "with the most metadata is kept; an image file beats a missing one).")
    st.dataframe(union, hide_index=True, width="stretch")

st.subheader("Rules")
policy = ui.policy_ui(table, start=session.current_rules())
session.set_rules(policy)
st.caption("These rules hold for the whole session: the training page trains with them, and its runs "
           "table says which rules each run used.")
kept, left_out = data.apply_policy(table, policy)
counts = kept["benign_malignant"].value_counts()
st.write("Usable: " + ", ".join(f"**{counts.get(label, 0):,} {label}**" for label in policy.include_labels)
         + (" · left out: " + ", ".join(f"{n:,} ({plain(why)})" for why, n in left_out.items()) if left_out else ""))

tab_meta, tab_images, tab_split, tab_problems, tab_augment = st.tabs(
    ["Metadata", "Sample images", "Split", "Problems", "Augmentation"])

with tab_meta:
    figures = ui.metadata_figures(root, stamp, policy if st.toggle("Only the images the rules keep", value=False)
                                  else None)
    for row in range(0, len(figures), 2):  # one row per pair, so that charts line up
        for col, fig, n in zip(st.columns(2), figures[row:row + 2], range(row, row + 2)):
            col.plotly_chart(fig, key=f"meta_{n}")
    sizes = ui.load_sizes(root, stamp)
    if not sizes.empty:
        st.plotly_chart(plot_image_sizes(sizes), key="sizes")

with tab_images:
    c1, c2, c3 = st.columns([2, 3, 1])
    label = c1.selectbox("Label", ["any", *sorted(kept["benign_malignant"].unique())])
    diagnoses = sorted(d for d in kept["diagnosis"].unique() if d)
    diagnosis = c2.selectbox("Diagnosis", ["any", *diagnoses])
    seed = int(c3.number_input("Draw", 0, 10_000, 0, help="another random draw"))
    chosen = kept
    if label != "any":
        chosen = chosen[chosen["benign_malignant"] == label]
    if diagnosis != "any":
        chosen = chosen[chosen["diagnosis"] == diagnosis]
    st.caption(f"{len(chosen):,} images match")
    if not outlined_grid_ui(chosen, root, seed=seed, key="data_outline"):
        ui.image_grid_ui(chosen, seed=seed)

with tab_split:
    c1, c2 = st.columns(2)
    balanced = c1.checkbox("Balanced subsample (all of the rarer label, an equal draw of the other)",
                           value=True)
    split_seed = int(c2.number_input("Seed", 0, 10_000, 0, key="split_seed"))
    if kept.empty:
        st.info("No image passes the rules.")
    else:
        split, _ = ui.load_split(root, stamp, policy, balanced, split_seed, task="binary")  # as Train classifier asks
        counts = data.split_counts(split)
        st.plotly_chart(plot_splits(counts), key="splits")
        st.dataframe(pd.DataFrame(counts).T.assign(total=lambda t: t.sum(axis=1)))
        overlap = data.group_overlap(split)
        st.metric("Patients / lesions in more than one split", overlap,
                  help="Grouped by patient, else lesion, else image: must be 0 (the thesis split "
                       "per image, which leaks lesions between train and test).")
        st.markdown("**The diagnosis task's split** (images per split and HAM10000 class: every usable image of "
                    "one of the seven diagnoses, no balancing, stratified by diagnosis, the seed above)")
        dx_split, _ = ui.load_split(root, stamp, policy, False, split_seed, task="diagnosis")
        st.dataframe(ui.diagnosis_split_table(dx_split), width="stretch")
        others = ui.diagnosis_left_out(kept)
        if others:
            st.caption("Left out of the diagnosis task (none of the seven): "
                       + plain(", ".join(f"{n:,} {name}" for name, n in others.items())))
        st.caption(f"Patients / lesions in more than one split of it: {data.group_overlap(dx_split)}")

with tab_problems:
    problems = pd.DataFrame(table.attrs["problems"])
    problems = problems.reindex(columns=[c for c in ("reason", "id", "path", "detail") if c in problems])
    if problems.empty:
        st.success("No problems: every image decodes and every metadata row is usable.")
    else:
        st.write(f"{len(problems)} problems, each skipped (never fatal):")
        st.dataframe(problems["reason"].value_counts().rename("count"))
        st.dataframe(problems, width="stretch", hide_index=True)

with tab_augment:
    ui.augmentation_preview_ui(kept)
