"""Viewer screens: sessions → exchanges → one exchange; diff; help."""

from .diff import DiffScreen
from .exchange import ExchangeScreen
from .exchanges import ExchangesScreen
from .help import HelpScreen
from .sessions import SessionsScreen

__all__ = ["DiffScreen", "ExchangeScreen", "ExchangesScreen", "HelpScreen", "SessionsScreen"]
