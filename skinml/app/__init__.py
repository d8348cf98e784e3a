"""Streamlit helpers shared by the pages: the only package that imports streamlit."""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import uuid
from pathlib import Path

import streamlit as st

from skinml import DISCLAIMER_LINK, SHORT_DISCLAIMER
from skinml.errors import SkinmlError

RUN_STATUS_ICONS = {"running": "🟢", "finished": "✅", "failed": "❌", "stopped": "⏹️", "interrupted": "⚠️",
                    "new": "⏳"}
# The characters with which Markdown (GitHub's, with autolinks, and Streamlit's :colour[...] and
# :emoji:) makes links, images, HTML, formats, lists and headings.
_MARKDOWN_CHARACTERS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=^@])")
# Streamlit's Markdown (remark-gfm) links bare "www.x", "http://x" and "a@b.x" after escapes are read,
# so escaping cannot stop it: an invisible WORD JOINER inside each pattern does ("www\u2060.",
# "http\u2060:", "a\u2060@b"), and the text still reads and copies as written.
_AUTOLINKS = re.compile(r"(?i)(www)(?=\.)|(https?|ftp|mailto|xmpp)(?=:)|(?<=[\w.+-])(?=@)")
WORD_JOINER = "\u2060"


def server_log() -> logging.Logger:
    """The "skinml" logger, writing to the server's stderr (where `streamlit run` logs)."""
    log = logging.getLogger("skinml")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def plain(text, limit: int | None = None) -> str:
    """Any visitor's text (a metadata value, a file or run name, an error sentence quoting them) to
    show inside Markdown (captions, st.markdown, alerts) exactly as written, as plain text.

    Control characters (line breaks, escapes) become spaces; with `limit`, at most that many
    characters are kept (then "..."). Every punctuation character is backslash-escaped, so the text
    never becomes a link, an image, HTML or a format, and bare addresses ("www.", "http:", "a@b")
    are broken invisibly so that Streamlit does not make links of them either.
    """
    text = "".join(c if c.isprintable() else " " for c in str(text))
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    text = _AUTOLINKS.sub(lambda m: (m.group(0) or "") + WORD_JOINER, text)
    return _MARKDOWN_CHARACTERS.sub(r"\\\1", text)


def session_id() -> str:
    """The id of the browser session running this script: who owns the runs it starts."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        raise RuntimeError("session_id() is only known while a page runs")
    return ctx.session_id


def mtime_stamp(paths: list[Path]) -> int:
    """A number that changes when any of `paths` is rewritten: passed to a cached loader, so that
    its cache reads the files again (missing and unreadable paths are skipped)."""
    stamps = []
    for path in paths:
        try:
            stamps.append(os.stat(path).st_mtime_ns)
        except (OSError, ValueError):  # missing, or a link into /proc this user may not follow
            stamps.append(None)
    return hash(tuple(stamps))


def setup_page(title: str, icon: str = "🔬") -> None:
    """Page config plus the teaching-tool disclaimer that every page shows."""
    st.set_page_config(page_title=f"{title} · skinml", page_icon=icon, layout="wide")
    st.title(title)
    st.caption(f"⚠️ {SHORT_DISCLAIMER} [What this means]({DISCLAIMER_LINK})")


def show_error(exc: SkinmlError) -> None:
    """Show an error a user can cause (bad folder, unreadable photo, missing model) as its sentence,
    as plain text (it may quote a file name or a metadata value), cut at 2,000 characters."""
    st.error(plain(exc, limit=2000))


def show_unexpected(exc: BaseException) -> str:
    """A bug: a short message with an id on the page, the traceback in the server log. Returns the id."""
    error_id = uuid.uuid4().hex[:8]
    server_log().error("error %s on a page", error_id, exc_info=exc)
    st.error(f"Something went wrong on this page (error {error_id}). The details are in the server's log "
             "under that number: tell the teacher. The other pages still work.")
    return error_id


def show_any_error(exc: Exception) -> bool:
    """Show any exception the way a visitor should see it: the sentence of a SkinmlError, else
    `show_unexpected`. True (shown): Streamlit's own error box is not needed."""
    if isinstance(exc, SkinmlError):
        show_error(exc)
    else:
        show_unexpected(exc)
    return True


def guarded(function):
    """`function` run so that no traceback reaches the page (see `show_any_error`); st.stop and
    st.rerun pass through (they are not Exceptions). For a page's body and for fragments."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            show_any_error(exc)
            return None

    return run
