"""The ``liaison`` command line, grouped by subject: one module per command group.

Commands over a node's HTTP API, one module each: ``agreements`` (and the ``ledger``),
``items``, ``releases`` (release checks, requests, reviews, the content check), ``consents``,
``rfis``, ``audit``, ``users``, ``peers``, ``hotline``, ``tokens``, ``tracks`` (tracks,
launches and areas: the track picture), ``talks``, ``attachments``, ``labels``, ``taxii``
and ``session`` (login, logout, whoami). Commands on a node's own storage and keys: ``cli.node``
(init, serve, import, offline audit verification; it builds and starts the node through
the ``liaison.node`` package), ``keys`` and ``db``. ``main`` assembles
them into the ``liaison`` app; ``demo/`` is the narrated seed scenario (``liaison demo``).

What they share, in one place each: ``options`` (``--url``, ``--token``, ``--json``, dates,
``--data-dir``...), ``client`` (the JSON client and the saved session), ``transfer``
(streamed and non-JSON HTTP), ``output`` (tables, JSON, errors and ``fail``) and
``inputs`` (files named on the command line). A command module imports these, the node's
packages, and ``cli.node``'s ``settings_for`` and ``verify_local`` (``keys``, ``db``, ``audit``);
no module imports another's private (``_x``) names.

The outermost layer: it may import any package, and nothing in the node imports it. It is
the ``liaison`` console script's entry (``liaison.cli.main:run``, also run as
``python -m liaison.cli.main``); tests drive its ``app``, and tests and benchmarks reuse
the demo's fixtures.
"""
