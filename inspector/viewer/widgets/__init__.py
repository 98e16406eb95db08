"""Viewer widgets."""

from .detail import DetailView, Item
from .table import FilterTable
from .timeline import TimelineView

__all__ = ["DetailView", "FilterTable", "Item", "TimelineView"]
