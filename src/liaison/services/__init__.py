"""The use cases: plain functions taking their dependencies (``context.Deps``). Each checks
who may act, asks the domain, and stores through a unit of work; the authority checks and
appliers for what partners send live here too. ``ports`` says what they need from storage,
partners and keys, grouped by area.

Imports the domain, crypto, interop and its own modules; never an adapter (``storage``,
``federation``, ``realtime``, ``tracks``, ``web``) nor ``api``, ``cli`` or ``node``.
Imported by ``api``, ``node``, ``cli`` and ``tracks``; the adapters import only ``ports``
(and ``errors``).
"""
