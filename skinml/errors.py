"""The project's own exceptions: each carries a sentence a person understands."""


class SkinmlError(Exception):
    """Base class: the message is shown as is in the CLI and the dashboard."""


class DataError(SkinmlError):
    """A dataset folder or metadata table that cannot be used."""


class ImageError(SkinmlError):
    """An image file that cannot be used (empty, corrupt, too large, not an image ...)."""


class ModelError(SkinmlError):
    """A model file or run directory that cannot be loaded or used."""


SHOWN_LIMIT = 120  # characters of a visitor's text that an error sentence quotes


def shown(text, limit: int = SHOWN_LIMIT) -> str:
    """`text` as a sentence may quote it: one line, control characters as escapes ("\\n", "\\x1b"),
    at most `limit` characters (then "..."): a 100 kB option or a terminal escape never reaches
    the screen raw."""
    text = str(text)
    if len(text) > 4 * limit:  # escaping can only lengthen it: cut first, so a huge input costs nothing
        text = text[:4 * limit]
        cut = True
    else:
        cut = False
    quoted = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(quoted) > limit or cut:
        return quoted[:limit] + "..."
    return quoted
