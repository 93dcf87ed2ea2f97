"""Liaison: a node for sharing classified information with allied governments."""

__version__ = "0.1.0"
