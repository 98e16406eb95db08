"""The Textual viewer: browse and diff recorded sessions (``inspector view``, ``inspector diff``).

``InspectorApp`` is imported on first use, so ``inspector.viewer.data`` (also used by the HTML
report) does not pull in Textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import InspectorApp

__all__ = ["InspectorApp"]


def __getattr__(name: str) -> Any:
    if name == "InspectorApp":
        from .app import InspectorApp
        return InspectorApp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
