"""The rules, pure: labels and parties, agreements and their lifecycle, items, the release
engine and review, the reciprocity ledger, the audit chain, the hotline, talks, tracks,
launch events and areas, and the authority checks on what partners send. No I/O, no clock,
no framework; each rule cites docs/rules.md.

Imports only ``domain`` and ``crypto``, the standard library, and the computation-only
libraries the README names (Pillow in ``imagery``, geographiclib in ``areas`` and
``launch``). Every other package may import it.
"""
