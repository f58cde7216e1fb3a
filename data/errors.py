"""Typed errors raised where user input enters the toolkit.

Every error names the offending value and what was expected, so that a CLI can
print one line and exit with status 2 instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class ToolkitError(Exception):
    """Base class of every error the toolkit raises on bad input."""


class ImageLoadError(ToolkitError):
    """An image file could not be decoded (empty, truncated, not an image, unsupported)."""

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot load image {self.path}: {reason}")


class DatasetLayoutError(ToolkitError):
    """A dataset folder does not have the expected ``ROOT/{train,val,test}/{NORMAL,PNEUMONIA}`` layout."""


class ConfigError(ToolkitError):
    """A configuration or command-line value is out of range or inconsistent."""


class JoinError(ToolkitError):
    """Two tables keyed by ``image_id`` do not match one-to-one."""


def first_few(values: Iterable[object], k: int = 5) -> str:
    """Render at most ``k`` values for an error message, with a count of the rest."""
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:k])
    more = f" (+{len(values) - k} more)" if len(values) > k else ""
    return f"[{shown}]{more}"
