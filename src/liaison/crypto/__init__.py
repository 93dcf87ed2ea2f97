"""Cryptography as pure functions on bytes: node keys and their signed cards, sealing and
opening envelopes, signatures over statements, TLS certificates. No I/O and no clock: the
caller passes keys and times in.

Imports only its own modules and the ``cryptography`` library; any package may import it,
the domain included.
"""
