"""The bus live tracks travel on: the port and its in-process implementation (``bus``),
and NATS JetStream when several workers share a node (``nats_bus``).

An adapter: imports no other adapter (``storage``, ``federation``) and, of ``services``,
only the ports. Imported by ``node``, which picks the implementation, and ``tracks``.
"""
