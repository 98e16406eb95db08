"""Claude Code inspector: translate, inspect and record Claude Code's traffic."""

__version__ = "0.1.0"
