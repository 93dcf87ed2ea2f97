"""The running node: the one place that builds and starts things.

- ``composition``: chooses the adapters and builds a ``Node`` (settings, engine, ``Deps``,
  bus) from the settings;
- ``serving``: the API app with what runs while it is up (bus, track hub, outbox sender,
  clocks), and the API and federation listeners of ``liaison serve``;
- ``sender``: the outbox sender, one task per partner and lane, delivering sealed batches;
- ``clocks``: the hotline and audit-checkpoint clocks;
- ``workers``: the supervisor of ``liaison serve --workers N``.

Only the command line (``liaison.cli``) imports this package (and the tests and benchmarks
that run a node); nothing below it (domain, services, storage, federation, realtime, tracks,
interop, crypto, api) does.
"""
