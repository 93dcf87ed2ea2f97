"""Real-time track data: CoT and JSON ingest, the hub that keeps the picture and serves
subscribers, the links that share tracks with partners, launch events and area alerts.

Calls services for policy, the bus (``realtime``) to spread frames between workers and
federation's TLS contexts for partner links. Imported by ``node``, ``api`` and ``cli``.
"""
