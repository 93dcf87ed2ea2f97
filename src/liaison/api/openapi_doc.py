"""The node's OpenAPI document as the node really answers, made once from FastAPI's.

FastAPI documents only what a route returns on success and its own 422
(``{"detail": [...]}``). The node answers every error as ``{"error": {"code", "message",
"details"?}}`` (``api/errors.py``, ``api/body_limit.py``) and TAXII in TAXII's own media
type and error message. ``describe`` rewrites the document to say so, for every operation:

- ``/api/...``: 401 (not signed in; any route that takes a token), 403 (role or clearance),
  404 (absent, or hidden: they look alike), 409 (exists, or a rule refuses it now), 413
  and 400 (a body over its route's cap, or a bad Content-Length; routes that take a body),
  422 (bad input), 429 (sign-in), 500 and 503 — each with the error schema, FastAPI's
  ``HTTPValidationError`` gone;
- ``/taxii2/...``: bearer tokens; answers and errors (the TAXII error message) in
  ``application/taxii+json;version=2.1``, 406 when the client accepts no TAXII, 202 for a
  posted bundle; the body cap's 400/401/413, which answer before TAXII is reached, in the
  node's error JSON too;
- routes that answer XML or files say so (``BINARY``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from liaison.services.taxii import MEDIA as TAXII_MEDIA

JSON = "application/json"
ERROR_REF = {"$ref": "#/components/schemas/Error"}
TAXII_ERROR_REF = {"$ref": "#/components/schemas/TaxiiError"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error", "type": "object", "required": ["error"],
    "description": "Every error the node answers: a code a program can act on and a "
                   "message a person can.",
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "examples": ["invalid", "not_found", "forbidden"]},
            "message": {"type": "string", "description": "what to fix"},
            "details": {"description": "for invalid input: one line per problem"}}}}}
TAXII_ERROR_SCHEMA: dict[str, Any] = {
    "title": "TaxiiError", "type": "object", "required": ["title"],
    "description": "The TAXII 2.1 error message (section 3.6.1).",
    "properties": {"title": {"type": "string"}, "description": {"type": "string"},
                   "error_id": {"type": "string"}, "error_code": {"type": "string"},
                   "http_status": {"type": "string"},
                   "external_details": {"type": "string"}, "details": {"type": "object"}}}
WHY = {
    "400": "Malformed request (e.g. a Content-Length that is not a number)",
    "401": "Not signed in, or the token expired or was revoked: send "
           "'Authorization: Bearer <token>'",
    "403": "Your role, clearance or need-to-know does not allow this",
    "404": "No such thing that you may see (a hidden one answers the same)",
    "406": "The Accept header allows no TAXII media type",
    "409": "Conflicts with what the node holds (it exists, or a rule refuses it now)",
    "413": "The body is over the cap this route takes",
    "422": "Invalid input: the message says what to fix; nothing was changed",
    "429": "Too many attempts: wait and try again",
    "500": "The node could not complete the request; nothing was changed or released",
    "503": "A service the node needs is unavailable; nothing was done, send it again",
}
BINARY = {  # (method, path) -> what the success answer's body is
    ("get", "/api/items/{item_id}/portions/{portion_id}/label"): "application/xml",
    ("get", "/api/items/{item_id}/portions/{portion_id}/binding"): "application/xml",
    ("get", "/api/items/{item_id}/portions/{portion_id}/attachment"): "*/*",
}
OPEN = frozenset({"/api/health", "/federation/v1/card"})  # answered to anyone, never an error
SIGN_IN = "/api/auth/login"
TAXII_BODY: dict[str, Any] = {"required": True, "content": {TAXII_MEDIA: {"schema": {
    "type": "object", "description": "a TAXII envelope: STIX 2.1 objects, each note "
    "carrying a Liaison label marking",  # an array's items named, or generators skip it
    "properties": {"objects": {"type": "array", "items": {"type": "object"}}}}}}}


def _answer(code: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"description": WHY[code], "content": content}


def _node_error(code: str) -> dict[str, Any]:
    return _answer(code, {JSON: {"schema": ERROR_REF}})


def _api_errors(method: str, path: str) -> list[str]:
    """The error statuses an /api operation can answer."""
    if path in OPEN:
        return []
    takes_body = method in ("post", "put", "patch")
    codes = ["401", "403", "404", "409", "422", "500", "503"]
    if takes_body:
        codes += ["400", "413"]
    if path == SIGN_IN:
        codes.append("429")
    return sorted(codes)


def _describe_api(method: str, path: str, op: dict[str, Any]) -> None:
    responses = op["responses"]
    for code in _api_errors(method, path):
        responses[code] = _node_error(code)
    if (method, path) in BINARY:
        for code, answer in responses.items():
            if code.startswith("2"):
                answer["content"] = {BINARY[method, path]: {"schema": {
                    "type": "string", "format": "binary"}}}


def _describe_taxii(method: str, op: dict[str, Any]) -> None:
    responses = op["responses"]
    success = responses.pop("200", {"description": "OK"})
    success["content"] = {TAXII_MEDIA: {"schema": {"type": "object"}}}
    responses.pop("422", None)
    responses["202" if method == "post" else "200"] = success
    for code in ("401", "403", "404", "406", "409", "422", "500"):
        responses[code] = _answer(code, {TAXII_MEDIA: {"schema": TAXII_ERROR_REF}})
    # the body cap answers these before the TAXII route runs: the node's error JSON
    for code in ("400", "401", "413") if method == "post" else ():
        responses[code] = _answer(code, {TAXII_MEDIA: {"schema": TAXII_ERROR_REF},
                                         JSON: {"schema": ERROR_REF}})
    responses["500"]["content"][JSON] = {"schema": ERROR_REF}
    if method == "post":
        op["requestBody"] = TAXII_BODY
    op["security"] = [{"HTTPBearer": []}]  # every TAXII answer needs the node's token


def describe(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (FastAPI's document) rewritten in place to the node's real answers."""
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            if path.startswith("/taxii2/"):
                _describe_taxii(method, op)
            else:
                _describe_api(method, path, op)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Error"] = ERROR_SCHEMA
    schemas["TaxiiError"] = TAXII_ERROR_SCHEMA
    return doc


def install(app: FastAPI) -> None:
    """Serve ``describe``'s document at the app's OpenAPI address (built on first ask)."""
    build: Callable[[], dict[str, Any]] = app.openapi
    described: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not described:
            described.append(describe(build()))
        return described[0]

    app.openapi = openapi  # type: ignore[method-assign]
