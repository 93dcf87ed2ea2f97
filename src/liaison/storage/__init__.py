"""The database: SQLAlchemy Core tables, the repositories that implement
``services.ports`` over SQL, the unit of work, Alembic migrations (SQLite or PostgreSQL),
and the encrypted blob store.

An adapter: imports the ports, the domain and crypto only, never ``federation`` or
``realtime``. Imported by ``node`` (composition) and ``cli`` (set-up commands).
"""
