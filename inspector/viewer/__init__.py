"""The Textual viewer: browse and diff recorded sessions (``inspector view``, ``inspector diff``)."""

from .app import InspectorApp

__all__ = ["InspectorApp"]
