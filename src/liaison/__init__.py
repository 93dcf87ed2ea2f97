"""Liaison: a node for sharing classified information with allied governments.

The packages, from the outside in: ``cli`` starts and drives a node; ``node`` composes and
starts it; ``api`` serves HTTP; ``services`` holds the use cases and their ports;
``domain`` decides. Around them, adapters (``storage``, ``federation``, ``realtime``) and
live tracks (``tracks``); ``crypto`` and ``interop`` are pure helpers; ``web`` is the
console. Who may import whom: the README's Architecture section, checked by ``make lint``.
"""

__version__ = "0.1.0"
