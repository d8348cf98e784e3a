"""Train a classifier in a separate process, watch its curves live, stop it, browse past runs."""

import dataclasses
from pathlib import Path

import streamlit as st

from skinml.app import plain, session, setup_page, show_error
from skinml.app.data_ui import folder_stamp, load_split
from skinml.app.train_ui import (
    launch_training,
    live_run_ui,
    model_ui,
    plan_ui,
    resume_training,
    runs_table,
    settings_ui,
    stop_training,
    task_ui,
    thesis_reference,
)
from skinml.data.policy import DataPolicy
from skinml.errors import SkinmlError
from skinml.runs import run_dir_named, runs_root

setup_page("Train a classifier")
data, rules = session.current_dataset(), session.current_rules()
st.caption(f"Runs are saved in {plain(runs_root())} (set SKINML_RUNS to change it). Training runs in its own "
           "process: leaving this page or closing the tab does not stop it.")

st.subheader("New run")
st.markdown(f"Data: **{plain(data)}** · rules: **{plain(session.rules_text(rules))}** (both set on Home and Data).")
task, fixed_model = task_ui()
model = model_ui(fixed=fixed_model, task=task)
config = settings_ui(data, model, task=task)
config = dataclasses.replace(config, exclude=session.exclude_rules(rules), dermoscopic_only=rules.dermoscopic_only)
try:
    labelled = DataPolicy(dermoscopic_only=rules.dermoscopic_only, exclude=rules.exclude)  # benign, malignant
    split, _ = load_split(data, folder_stamp(data), labelled, config.balance, config.seed, task=config.task)
    n_train = int((split["split"] == "train").sum())
    if config.max_images:
        n_train = min(n_train, round(config.max_images * n_train / max(1, len(split))))
    plan_ui(config, n_train)
except SkinmlError as exc:
    show_error(exc)
name = st.text_input("Run name (optional)", placeholder=f"{config.model}-<date>-<time>", key="train_run_name")
if st.button("Start training", type="primary", key="train_start"):
    try:
        named = dataclasses.replace(config, run_dir=str(run_dir_named(name.strip())) if name.strip() else "")
        run_dir = launch_training(named)
        st.session_state["train_run"] = str(run_dir)
        st.success(f"Started {plain(run_dir.name)}.")
    except SkinmlError as exc:
        show_error(exc)

reference = thesis_reference()
if reference is not None:
    with st.expander("Reference: the thesis's five CNNs, retrained by skinml, and the shipped default"):
        st.caption("`thesis_*` columns: THESIS.md's own figures (its split, sensitivity at 0.5). The others: the "
                   "same models retrained with the thesis's recipe (256 px, RMSprop, batch 64, best epoch on "
                   "validation accuracy) on skinml's grouped split of the ISIC sample, sensitivity at 0.5; the "
                   "last row is the shipped model at its own threshold. Reproduce: "
                   "`python train/train_thesis_models.py --data DIR`.")
        st.dataframe(reference, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.3f") for c in reference.columns
                                    if "accuracy" in c or "sensitivity" in c or "auc" in c})

runs = runs_table()
st.subheader("Runs")
if runs.empty:
    st.info("No runs yet: start one above, or run `python -m skinml train --help`.")
    st.stop()

current = st.session_state.get("train_run")
names = runs["run"].tolist()
shown = Path(current).name if current else ""
choice = st.selectbox("Run", names, index=names.index(shown) if shown in names else 0)
run_dir = runs.set_index("run").loc[choice, "path"]
st.session_state["train_run"] = run_dir

status = live_run_ui(run_dir)
c1, c2, _ = st.columns([1, 1, 4])
if c1.button("Stop", disabled=status != "running", help="Stops this run's process only (runs you started)."):
    try:
        stop_training(run_dir)
        st.rerun()
    except SkinmlError as exc:
        show_error(exc)
if c2.button("Resume", disabled=status not in ("stopped", "interrupted", "failed"),
             help="Continues after the last complete epoch."):
    try:
        resume_training(run_dir)
        st.rerun()
    except SkinmlError as exc:
        show_error(exc)

st.subheader("Comparison")
st.caption("Like the thesis's table (validation accuracy, sensitivity, best epoch), plus AUC; diagnosis runs "
           "add their test balanced accuracy and macro AUC (their 95% interval in test_auc_95%).")
st.dataframe(runs.drop(columns=["path"]), hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.3f")
                            for c in ("val_accuracy", "val_sensitivity", "val_auc", "test_auc", "test_accuracy",
                                      "test_balanced_accuracy", "test_macro_auc")})
