"""Real-time track data: CoT and JSON ingest, sharing with partners, launch events."""
