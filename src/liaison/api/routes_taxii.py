"""TAXII 2.1 over the node's API listener (bearer tokens; see ``services.taxii``).

Every answer, errors included, is ``application/taxii+json;version=2.1``; errors use the
TAXII error message shape (title, description, http_status).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from liaison.domain.users import User
from liaison.services import auth, taxii
from liaison.services.errors import Invalid, ServiceError, Unauthorized

ROOT = "liaison"
router = APIRouter(prefix="/taxii2", tags=["TAXII 2.1"])


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")), status,
                    headers=headers, media_type=taxii.MEDIA)


class TooLarge(ServiceError):
    status, code = 413, "payload_too_large"


def _not_acceptable(request: Request) -> Response | None:
    accept = request.headers.get("accept", "")
    if accept and not any(m in accept for m in ("application/taxii+json", "*/*")):
        return _json({"title": "Not Acceptable", "http_status": "406",
                      "description": f"this server answers {taxii.MEDIA}"}, 406)
    return None


def _user(request: Request) -> User:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send 'Authorization: Bearer <token>' (an API token of this node)")
    return auth.authenticate(request.app.state.deps, token.strip())


def _error(exc: ServiceError) -> Response:
    return _json({"title": exc.code.replace("_", " ").capitalize(),
                  "description": exc.message, "http_status": str(exc.status)}, exc.status)


def _answer(request: Request, work: Callable[[User], Response]) -> Response:
    refused = _not_acceptable(request)
    if refused is not None:
        return refused
    try:
        return work(_user(request))
    except ServiceError as exc:
        return _error(exc)


def _too_large(size: str) -> TooLarge:
    return TooLarge(f"the request body is {size}, over the {taxii.MAX_BUNDLE} bytes this "
                    f"server takes in one post (max_content_length): split the bundle")


async def _body(request: Request) -> bytes:
    """The body, refused with 413 as soon as it is known to pass ``MAX_BUNDLE`` (from its
    Content-Length, or while it streams in): never read whole when too large."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise Invalid("Content-Length must be a whole number of bytes")
        if int(declared) > taxii.MAX_BUNDLE:
            raise _too_large(f"{int(declared)} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > taxii.MAX_BUNDLE:
            raise _too_large("larger than that")
        chunks.append(chunk)
    return b"".join(chunks)


def _deps(request: Request) -> Any:
    return request.app.state.deps


def _matches(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {"id": q.get("match[id]"), "type": q.get("match[type]"),
            "version": q.get("match[version]"), "added_after": q.get("added_after"),
            "limit": q.get("limit"), "next": q.get("next")}


def _page_headers(page: taxii.Page) -> dict[str, str]:
    if page.first_added is None or page.last_added is None:
        return {}
    return {"X-TAXII-Date-Added-First": taxii.zulu(page.first_added),
            "X-TAXII-Date-Added-Last": taxii.zulu(page.last_added)}


@router.get("/", summary="TAXII discovery")
def discovery(request: Request) -> Response:
    deps = _deps(request)
    return _answer(request, lambda user: _json({
        "title": f"Liaison node {deps.party}",
        "description": "STIX 2.1 released to each partner, and an inbox for labelled bundles",
        "default": f"{request.base_url}taxii2/{ROOT}/",
        "api_roots": [f"{request.base_url}taxii2/{ROOT}/"]}))


@router.get(f"/{ROOT}/", summary="TAXII API root")
def api_root(request: Request) -> Response:
    return _answer(request, lambda user: _json({
        "title": f"Liaison {_deps(request).party}", "versions": [taxii.MEDIA],
        "max_content_length": taxii.MAX_BUNDLE}))


@router.get(f"/{ROOT}/collections/", summary="Collections you may read or write")
def collections(request: Request) -> Response:
    return _answer(request, lambda user: _json({"collections": [
        c.view() for c in taxii.collections(_deps(request), user)]}))


@router.get(f"/{ROOT}/collections/{{cid}}/", summary="One collection")
def collection(request: Request, cid: str) -> Response:
    return _answer(request, lambda user: _json(
        taxii.collection(_deps(request), user, cid).view()))


@router.get(f"/{ROOT}/collections/{{cid}}/objects/", summary="Objects, paged")
def objects(request: Request, cid: str) -> Response:
    def work(user: User) -> Response:
        page = taxii.page(_deps(request), user, cid, _matches(request))
        head = {"more": page.more, **({"next": page.next} if page.next else {})}
        body = json.dumps(head)[:-1] + ',"objects":[' + ",".join(page.raw) + "]}"
        return Response(body, 200, headers=_page_headers(page), media_type=taxii.MEDIA)
    return _answer(request, work)


@router.post(f"/{ROOT}/collections/{{cid}}/objects/", summary="Post a labelled bundle")
async def add_objects(request: Request, cid: str) -> Response:
    """Authenticated before a byte of the body is read; a body over ``MAX_BUNDLE`` is
    refused with 413 from its Content-Length, or as soon as it passes the limit."""
    refused = _not_acceptable(request)
    if refused is not None:
        return refused
    try:
        user = await run_in_threadpool(_user, request)
        raw = await _body(request)
        status = await run_in_threadpool(_import, _deps(request), user, cid, raw)
    except ServiceError as exc:
        return _error(exc)
    return _json(status, 202)


def _import(deps: Any, user: User, cid: str, raw: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise Invalid(f"not JSON: {exc}") from exc
    return taxii.add_bundle(deps, user, cid, envelope)


@router.get(f"/{ROOT}/collections/{{cid}}/objects/{{oid}}/", summary="One object")
def one_object(request: Request, cid: str, oid: str) -> Response:
    def work(user: User) -> Response:
        page = taxii.one_object(_deps(request), user, cid, oid, _matches(request))
        return _json({"more": page.more, "objects": page.objects},
                     headers=_page_headers(page))
    return _answer(request, work)


@router.get(f"/{ROOT}/collections/{{cid}}/objects/{{oid}}/versions/",
            summary="Versions of one object")
def versions(request: Request, cid: str, oid: str) -> Response:
    def work(user: User) -> Response:
        page = taxii.one_object(_deps(request), user, cid, oid,
                                {**_matches(request), "version": "all"})
        return _json({"more": page.more, "versions": [v for _, v, _ in page.versions]},
                     headers=_page_headers(page))
    return _answer(request, work)


@router.get(f"/{ROOT}/collections/{{cid}}/manifest/", summary="Manifest, paged")
def manifest(request: Request, cid: str) -> Response:
    def work(user: User) -> Response:
        page = taxii.page(_deps(request), user, cid, _matches(request))
        body: dict[str, Any] = {"more": page.more, "objects": [
            {"id": i, "date_added": taxii.zulu(at), "version": v, "media_type": taxii.STIX_MEDIA}
            for i, v, at in page.versions]}
        if page.next:
            body["next"] = page.next
        return _json(body, headers=_page_headers(page))
    return _answer(request, work)


@router.get(f"/{ROOT}/status/{{sid}}/", summary="Status of a posted bundle")
def status(request: Request, sid: str) -> Response:
    return _answer(request, lambda user: _json(taxii.status(_deps(request), user, sid)))
