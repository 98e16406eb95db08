"""Viewer widgets."""

from .conversation import Conversation
from .table import FilterTable

__all__ = ["Conversation", "FilterTable"]
