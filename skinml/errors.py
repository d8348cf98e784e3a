"""The project's own exceptions: each carries a sentence a person understands."""


class SkinmlError(Exception):
    """Base class: the message is shown as is in the CLI and the dashboard."""


class DataError(SkinmlError):
    """A dataset folder or metadata table that cannot be used."""


class ImageError(SkinmlError):
    """An image file that cannot be used (empty, corrupt, too large, not an image ...)."""


class ModelError(SkinmlError):
    """A model file or run directory that cannot be loaded or used."""
