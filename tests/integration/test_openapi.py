"""The node's OpenAPI document tells the truth about its answers.

- ``openapi-spec-validator`` finds the document valid (OpenAPI 3.1);
- every operation documents the errors it can answer with the node's error schema
  (``{"error": {"code", "message"}}``), FastAPI's ``{"detail": [...]}`` appears nowhere,
  and TAXII answers are documented in TAXII's media type;
- a client working from the document alone (as a generated one does: the response model
  picked by status and media type, the body checked against the documented schema with
  ``jsonschema``) parses real errors of every kind: 401, 403, 404, 409, 413, 422, and
  TAXII's.

The API fuzzing (``tests/assurance/test_api_fuzz.py``) checks every answer it gets against
the same document (schemathesis's status code, media type and schema conformance checks).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.errors import FailureGroup

from liaison.api import openapi_doc
from liaison.config import Settings
from liaison.node.composition import build_node
from liaison.node.serving import api_app
from liaison.services.taxii import MEDIA as TAXII_MEDIA

from .node_fixtures import NodeUnderTest, start_node

ERROR_CODES = ("401", "403", "404", "409", "413", "422")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeUnderTest]:
    yield from start_node(Settings(data_dir=Path(tmp_path_factory.mktemp("openapi")) / "node"))


@pytest.fixture(scope="module")
def doc(node: NodeUnderTest) -> dict[str, Any]:
    answer = node.client.get("/api/openapi.json")
    assert answer.status_code == 200
    spec: dict[str, Any] = answer.json()
    return spec


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield method, path, op


def test_the_document_is_valid(doc: dict[str, Any]) -> None:
    validate(doc)
    assert doc["openapi"].startswith("3.1")


def test_every_error_is_documented_with_the_error_schema(doc: dict[str, Any]) -> None:
    text = str(doc)
    assert "HTTPValidationError" not in text and "'detail'" not in text
    counted = 0
    for method, path, op in operations(doc):
        responses = op["responses"]
        if path in ("/api/health", "/federation/v1/card"):
            continue
        expected = {"401", "403", "404", "409", "422"} \
            | ({"413"} if method in ("post", "put", "patch") else set())
        assert expected <= set(responses), (method, path, sorted(responses))
        media = TAXII_MEDIA if path.startswith("/taxii2/") else "application/json"
        for code in sorted(expected):
            content = responses[code]["content"]
            schema = content[media]["schema"]["$ref"].rsplit("/", 1)[1]
            assert schema == ("TaxiiError" if path.startswith("/taxii2/") else "Error")
            counted += 1
    print(f"\nopenapi: error answers documented with the node's schemas {counted} of {counted}")


def test_taxii_is_documented_in_taxii_media_types(doc: dict[str, Any]) -> None:
    taxii = [(m, p, op) for m, p, op in operations(doc) if p.startswith("/taxii2/")]
    assert len(taxii) >= 9
    for method, path, op in taxii:
        success = op["responses"]["202" if method == "post" else "200"]
        assert list(success["content"]) == [TAXII_MEDIA], (method, path)
        assert op["security"] == [{"HTTPBearer": []}]
    post = doc["paths"]["/taxii2/liaison/collections/{cid}/objects/"]["post"]
    assert list(post["requestBody"]["content"]) == [TAXII_MEDIA]


def arrays_without_items(node: Any, where: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == "array" and not {"items", "prefixItems"} & set(node):
            yield where
        for key, value in node.items():
            yield from arrays_without_items(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from arrays_without_items(value, f"{where}/{index}")


def test_every_array_says_what_it_holds(doc: dict[str, Any]) -> None:
    """Client generators (openapi-python-client) skip an operation whose schema has an array
    without ``items``: the TAXII inbox's envelope was one."""
    assert list(arrays_without_items(doc)) == []


def schema_name_for(doc: dict[str, Any], method: str, url_path: str, status: int,
                    media: str) -> str:
    """The schema a client generated from ``doc`` expects for this answer: the operation
    found by its path template, the response by status, the model by media type."""
    for template, ops in doc["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, url_path) and method in ops:
            content = ops[method]["responses"][str(status)]["content"]
            ref = content[media.split(";")[0] if media not in content else media]["schema"]
            name: str = ref["$ref"].rsplit("/", 1)[1]
            return name
    raise AssertionError(f"{method} {url_path} is not in the document")


def schema_for(doc: dict[str, Any], method: str, url_path: str, status: int,
               media: str) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"][
        schema_name_for(doc, method, url_path, status, media)]
    return schema


def parse_error(doc: dict[str, Any], method: str, url_path: str,
                answer: httpx.Response) -> dict[str, Any]:
    """Parse an error answer as the document describes it; fails if it does not."""
    media = answer.headers["content-type"]
    schema = schema_for(doc, method, url_path, answer.status_code, media)
    body: dict[str, Any] = answer.json()
    errors = sorted(e.message for e in Draft202012Validator(schema).iter_errors(body))
    assert not errors, (method, url_path, answer.status_code, errors)
    return body


def test_a_client_from_the_document_parses_every_kind_of_error(
        node: NodeUnderTest, doc: dict[str, Any]) -> None:
    client = node.client
    big = {"username": "x" * (100 * 1024), "password": "y"}
    cases: list[tuple[str, str, dict[str, Any], int]] = [
        ("get", "/api/items", {}, 401),
        ("get", "/api/users", {"headers": node.as_("kim")}, 403),
        ("get", "/api/items/absent", {"headers": node.as_("kim")}, 404),
        ("post", "/api/users", {"headers": node.as_("admin"), "json": {
            "username": "kim", "roles": ["analyst"], "clearance": "대외비",
            "password": "correct horse battery staple"}}, 409),
        ("post", "/api/auth/login", {"json": big}, 413),
        ("post", "/api/items", {"headers": node.as_("kim"), "json": {"id": 7}}, 422),
        ("post", "/api/labels/parse", {"headers": node.as_("kim"),
                                       "content": b"<ConfidentialityLabel/>"}, 422),
    ]
    parsed = {}
    for method, path, kwargs, status in cases:
        answer = client.request(method.upper(), path, **kwargs)
        assert answer.status_code == status, (path, answer.status_code, answer.text)
        body = parse_error(doc, method, path, answer)
        parsed[status] = body["error"]["code"]
    assert parsed == {401: "unauthorized", 403: "forbidden", 404: "not_found",
                      409: "conflict", 413: "payload_too_large", 422: "invalid"}
    print(f"openapi: error answers parsed from the document {len(cases)} of {len(cases)}")


def test_taxii_errors_parse_as_documented(node: NodeUnderTest, doc: dict[str, Any]) -> None:
    client = node.client
    path = "/taxii2/liaison/collections/absent/"
    for headers, status in (({}, 401), (node.as_("kim"), 404),
                            ({**node.as_("kim"), "Accept": "text/html"}, 406)):
        answer = client.get(path, headers=headers)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == TAXII_MEDIA
        assert parse_error(doc, "get", path, answer)["title"]


CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def conformance_failures(app: Any, token: str) -> list[str]:
    """What schemathesis's conformance checks (those the API fuzzing runs) say of a 401, a
    422, a TAXII 404 and a TAXII answer from ``app``, judged by the document it serves."""
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    auth = {"Authorization": f"Bearer {token}"}
    cases = [schema["/api/items/{item_id}"]["GET"].Case(path_parameters={"item_id": "x"}),
             schema["/api/items"]["POST"].Case(body={"id": 7}, headers=auth),
             schema["/taxii2/liaison/collections/{cid}/"]["GET"].Case(
                 path_parameters={"cid": "absent"}, headers=auth),
             schema["/taxii2/"]["GET"].Case(headers=auth)]
    found = []
    for case in cases:
        response = case.call()
        try:
            case.validate_response(response, checks=CONFORMANCE)
        except FailureGroup as group:
            found += [f"{response.status_code}: {f.title}" for f in group.exceptions]
    return found


def test_the_fuzzings_document_checks_are_not_blind(node: NodeUnderTest,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Judged by FastAPI's own document the node's answers fail the checks (its 422 schema
    requires nothing, so an error body passes it, but a client generated from it still finds
    no ``detail``); judged by the node's, they pass."""
    verdicts = {}
    for described in (False, True):
        with monkeypatch.context() as patch:
            if not described:
                patch.setattr(openapi_doc, "install", lambda app: None)
            served = build_node(node.settings)
            try:
                verdicts[described] = conformance_failures(api_app(served, send=False),
                                                           node.tokens["kim"])
            finally:
                served.engine.dispose()
    assert verdicts[True] == []
    assert verdicts[False][:2] == ["401: Undocumented status code",
                                   "404: Undocumented status code"], verdicts[False]
    assert "Undocumented Content-Type" in verdicts[False][2], verdicts[False]
