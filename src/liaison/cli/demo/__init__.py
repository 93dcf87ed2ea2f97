"""``liaison demo``: the seed scenario on real nodes, narrated.

What lives here: ``run`` starts one ``liaison serve`` process per party and stops them;
``story`` walks the scenario step by step over the nodes' HTTP APIs; ``talks``, ``tracks``
and ``products`` are its longer steps; ``calls`` is what every step uses to call a node.

Who may import it: ``liaison.cli.main`` (the ``demo`` command, lazily), and tests and
benchmarks that reuse the scenario's fixtures (``talks.MOU``, ``talks.TALKS``). Nothing in
the node imports it: the demo talks to nodes over HTTP only, as a partner's tools would.
"""
