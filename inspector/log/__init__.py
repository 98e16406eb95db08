"""The colour log: exchanges rendered for a terminal with rich (renderables, and ``print_lines``,
the gateway's fast path for printing the one-line ones)."""

from .render import BodyView, EventLine, ExchangeLine, fold, print_lines

__all__ = ["BodyView", "EventLine", "ExchangeLine", "fold", "print_lines"]
