"""Talking to partner nodes: the keystore of this node's own keys, the HTTPS transport with
mutual TLS and pinned cards. (The outbox sender, a background job that calls the federation
service, runs in ``node.sender``.)

An adapter: of ``services`` it imports the ports (``services.ports``) and the errors, with
the domain and crypto; never ``storage``, ``realtime``, ``api`` or ``node``. Imported by
``node``, ``cli`` and ``tracks`` (for its TLS contexts).
"""
