"""Real-time track data: CoT and JSON ingest, sharing with partners, launch events.

What lives here, one room per concern:

- ``hub``: ``TrackHub``, the thin hub the node starts: the policy snapshot, local feeds'
  updates, the partner links; it hands the rest to the rooms below.
- ``picture``: the current picture and the local subscribers (``Published``,
  ``Subscription``): the end of the hot path.
- ``receipt``: partners' frames: open, check against the policy, apply.
- ``stream`` and ``leadership``: a node run as several workers: the stream's records,
  and which worker runs each partner's link and the analytics (leases).
- ``analytics``: correlation, launch events and area alerts, off the hot path.
- ``state``: what the rooms share (policy snapshot, peers, counters, track numbers).
- ``rows``: the named codec of a wire row (``WireRow``) and of stream records.
- ``links`` and ``frames``: the outgoing link to one partner and its session frames.
- ``policy_watch``: when the policy snapshot must be recomputed.
- ``cot``, ``cot_detail`` and ``cot_server``: Cursor-on-Target in and out (a TAK client's
  own traffic is never a track; an event goes out as it came in); ``synthetic``: demo
  launches.

Who may import it: the HTTP routes (``api``), the federation listeners and the code that
starts the node, the CLI, tests and benchmarks. It imports ``domain``, ``crypto``,
``services`` and ``realtime`` (the bus port), never ``api``, ``cli`` or the node's
startup code.
"""
