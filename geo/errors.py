"""Exceptions raised by the library. The CLI turns every `HotspotError` into a one-paragraph
message and exit code 2; any other exception is a bug and keeps its traceback."""

from __future__ import annotations


class HotspotError(Exception):
    """Base class for every error a user can cause and fix."""


class InputError(HotspotError, ValueError):
    """A whole input file cannot be used (unreadable, empty, missing required columns...)."""

    def __init__(self, message: str, *, path: object | None = None) -> None:
        self.path = path
        super().__init__(message)


class BoundaryError(HotspotError, ValueError):
    """A boundary set cannot be used (no CRS, missing code/name columns, no polygons...)."""


class ParameterError(HotspotError, ValueError):
    """A parameter is out of its allowed range (`eps_m`, `min_samples`, `period`...)."""
