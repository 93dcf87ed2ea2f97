"""Models generated from the node's OpenAPI document parse the node's real errors.

A partner's developer points a maintained generator at ``/api/openapi.json``:
``datamodel-code-generator`` writes pydantic models for every schema the document holds.
The test imports the generated module and, as a generated client does, picks the model
the document names for each answer (operation by path, response by status, schema by
media type), then parses real 401, 403, 404, 409, 413 and 422 answers (and TAXII's) into
it: each must give a code and a message, never a validation failure or ``None``.

(``openapi-python-client``, which also writes the calls, needs ``typer<0.28``; the node's
CLI is pinned to a newer typer, so the models come from ``datamodel-code-generator``.)
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from liaison.config import Settings

from .node_fixtures import NodeUnderTest, start_node
from .test_openapi import schema_name_for


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeUnderTest]:
    yield from start_node(Settings(data_dir=Path(tmp_path_factory.mktemp("gen")) / "node"))


@pytest.fixture(scope="module")
def doc(node: NodeUnderTest) -> dict[str, Any]:
    answer = node.client.get("/api/openapi.json")
    assert answer.status_code == 200
    spec: dict[str, Any] = answer.json()
    return spec


def generate_models(doc: dict[str, Any], where: Path) -> ModuleType:
    """Run the generator on ``doc`` (as a partner would, from its command line) and import
    what it wrote (registered, as an import would, so pydantic resolves its annotations)."""
    source, target = where / "openapi.json", where / "liaison_models.py"
    source.write_text(json.dumps(doc))
    run = subprocess.run(
        [sys.executable, "-m", "datamodel_code_generator", "--input", str(source),
         "--input-file-type", "openapi", "--output", str(target),
         "--output-model-type", "pydantic_v2.BaseModel", "--disable-timestamp"],
        capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    spec = importlib.util.spec_from_file_location("liaison_models", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def models(doc: dict[str, Any],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    yield generate_models(doc, tmp_path_factory.mktemp("generated"))
    sys.modules.pop("liaison_models", None)


def parse_with(models: ModuleType, doc: dict[str, Any], method: str, path: str,
               answer: httpx.Response) -> BaseModel:
    """The answer parsed into the generated model the document names for it."""
    name = schema_name_for(doc, method, path, answer.status_code,
                           answer.headers["content-type"])
    model: type[BaseModel] = getattr(models, name)
    try:
        return model.model_validate_json(answer.content)
    except ValidationError as failure:  # pragma: no cover - what the test exists to catch
        raise AssertionError(f"{method} {path} {answer.status_code}: {failure}") from None


def test_the_generator_writes_the_error_models(models: ModuleType) -> None:
    error = models.Error.model_validate(
        {"error": {"code": "invalid", "message": "what to fix", "details": ["a"]}})
    assert (error.error.code, error.error.message) == ("invalid", "what to fix")
    with pytest.raises(ValidationError):
        models.Error.model_validate({"detail": [{"msg": "FastAPI's shape"}]})
    assert models.TaxiiError.model_validate({"title": "t"}).title == "t"


def test_generated_models_parse_every_kind_of_error(
        node: NodeUnderTest, doc: dict[str, Any], models: ModuleType) -> None:
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
    ]
    parsed = {}
    for method, path, kwargs, status in cases:
        answer = node.client.request(method.upper(), path, **kwargs)
        assert answer.status_code == status, (path, answer.status_code, answer.text)
        error = parse_with(models, doc, method, path, answer)
        assert isinstance(error, models.Error)
        assert error.error.message, (path, status)
        parsed[status] = error.error.code
    assert parsed == {401: "unauthorized", 403: "forbidden", 404: "not_found",
                      409: "conflict", 413: "payload_too_large", 422: "invalid"}
    print(f"openapi: errors parsed by generated models {len(parsed)} of {len(cases)}")


def test_generated_models_parse_taxii_errors(
        node: NodeUnderTest, doc: dict[str, Any], models: ModuleType) -> None:
    path = "/taxii2/liaison/collections/absent/"
    for headers, status in (({}, 401), (node.as_("kim"), 404)):
        answer = node.client.get(path, headers=headers)
        assert answer.status_code == status, answer.text
        error = parse_with(models, doc, "get", path, answer)
        assert isinstance(error, models.TaxiiError)
        assert error.title
