"""The HTTP API (FastAPI): routes, request and response schemas, the error mapping, the
sign-in dependencies and the live sockets. Routes call services; they never touch SQL, and
``create_app`` builds the app from the pieces it is given.

Imports services, domain, crypto and tracks. Imported only by ``node``, which serves it,
and ``cli``.
"""
