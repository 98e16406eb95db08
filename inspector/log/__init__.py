"""The colour log: exchanges rendered for a terminal with rich (renderables only, no I/O)."""

from .render import BodyView, EventLine, ExchangeLine, fold

__all__ = ["BodyView", "EventLine", "ExchangeLine", "fold"]
