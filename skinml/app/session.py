"""One dataset and one set of data rules for the whole session, shown in the sidebar of every page.

The dataset is chosen on Home or Data (`skinml.app.data_ui`, which checks the folder); the
rules (which images are usable) on Data. Every page reads both from here, so a class that
picks a folder and a rule on one page finds them on the others: the example photos, the
training settings, the GAN pages and the runs they start.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from skinml.data.policy import DataPolicy

RULES_KEY = "data_rules"


def current_dataset() -> str:
    """The dataset folder of this session (the default one until a page chooses another)."""
    from skinml.app.data_ui import data_dir

    return data_dir()


def current_rules() -> DataPolicy:
    """The data rules of this session: what the Data page last set, else the defaults."""
    return st.session_state.get(RULES_KEY) or DataPolicy()


def set_rules(policy: DataPolicy) -> None:
    st.session_state[RULES_KEY] = policy


def rules_text(policy: DataPolicy) -> str:
    """The rules in a few words: "dermoscopic only · without attribution = SONIC"."""
    parts = ["dermoscopic only" if policy.dermoscopic_only else "every image type"]
    parts += [f"without {column} = {value}" for column, value in policy.exclude]
    return " · ".join(parts)


def exclude_rules(policy: DataPolicy) -> tuple[str, ...]:
    """The policy's exclusions as training runs store them ("column=value")."""
    return tuple(f"{column}={value}" for column, value in policy.exclude)


def sidebar_ui(slot=None) -> None:
    """The session's dataset and rules in the sidebar (in `slot`, an `st.sidebar.empty()`, when given)."""
    folders = [Path(f) for f in current_dataset().split(os.pathsep) if f]
    rules = rules_text(current_rules())
    from skinml.app import plain  # the rules quote metadata values (an excluded source) and the folders' names

    name = " + ".join(plain(f.name) for f in folders)
    (slot or st.sidebar).caption(f"**Dataset:** {name}  \n" + "  \n".join(plain(f) for f in folders)
                                 + f"  \n**Rules:** {plain(rules)}  \nChange them on Home or Data.")
