"""Items and what each user may see of them."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field

from liaison.api.schemas import Body, ItemIn, plain
from liaison.api.security import CurrentUser, NodeDeps
from liaison.api.views import item_summary, item_view
from liaison.domain.codec import label_to
from liaison.interop.nato_label import ReadLabels
from liaison.services import attachments, items, nato_labels
from liaison.services import search as find
from liaison.services.agreements import list_parties
from liaison.services.errors import Invalid

router = APIRouter(prefix="/api", tags=["items"])
MAX_LABEL_XML = 200_000


def _own(deps: Any) -> Any:
    return next(p for p in list_parties(deps) if p.code == deps.party)


@router.post("/items", status_code=201, summary="Create an item with labelled portions")
def create_item(body: ItemIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    item = items.create_item(deps, user, nato_labels.labels_in(deps, user, plain(body)))
    return item_view(item, _own(deps))


@router.get("/items", summary="Items you may see (portions cut to your clearance)")
def list_items(user: CurrentUser, deps: NodeDeps, limit: int = Query(50, ge=1, le=500),
               offset: int = Query(0, ge=0, le=10**9)) -> dict[str, Any]:
    page, total = items.list_items(deps, user, limit, offset)
    party = _own(deps)
    return {"items": [item_summary(i, party) for i in page], "total": total,
            "limit": limit, "offset": offset}


@router.get("/items/{item_id}", summary="One item, cut to your clearance")
def get_item(item_id: str, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return item_view(items.get_item(deps, user, item_id), _own(deps))


@router.get("/search", summary="Full-text and field search over what you may see")
def search(user: CurrentUser, deps: NodeDeps,
           q: str = Query("", max_length=500,
                          description='words, "exact phrases" and prefix* (all must appear)'),
           discipline: str | None = Query(None, max_length=16,
                                          description="SIGINT also finds COMINT, ELINT…"),
           topic: str | None = Query(None, max_length=256,
                                     description="this topic and those under it"),
           level: str | None = Query(None, max_length=64,
                                     description="portions at this level of your scheme"),
           place: str | None = Query(None, max_length=80,
                                     description="south,west,north,east in degrees"),
           since: str | None = Query(None, max_length=40, description="reported at or after"),
           until: str | None = Query(None, max_length=40, description="reported before"),
           source: str | None = Query(None, max_length=3, description="originating party"),
           limit: int = Query(50, ge=1, le=200),
           offset: int = Query(0, ge=0, le=9_999)) -> dict[str, Any]:
    """Items newest report first; ``total`` counts at most 10,000 (``total_capped`` says
    there are more)."""
    params = {"q": q, "discipline": discipline, "topic": topic, "level": level,
              "place": place, "since": since, "until": until, "source": source,
              "limit": limit, "offset": offset}
    hits, total, capped = find.search(deps, user, params)
    party = _own(deps)
    return {"total": total, "total_capped": capped, "limit": limit, "offset": offset,
            "items": [{**item_summary(h.item, party), "matched": list(h.portions),
                       "snippets": h.snippets} for h in hits]}


@router.post("/attachments", status_code=201,
             summary="Upload a file (raw body; Content-Type is its media type), streamed to "
                     "the encrypted store; refer to it from a portion by its sha256")
async def upload_attachment(request: Request, user: CurrentUser,
                            deps: NodeDeps) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    parts: queue.Queue[bytes | None] = queue.Queue(maxsize=16)

    def chunks() -> Iterator[bytes]:
        while (part := parts.get()) is not None:
            yield part

    loop = asyncio.get_running_loop()
    stored = loop.run_in_executor(None, attachments.upload, deps, user, chunks(), media_type)
    try:
        async for part in request.stream():
            while not stored.done():  # back-pressure, and stop feeding a refused upload
                try:
                    parts.put(part, timeout=0.05)
                    break
                except queue.Full:
                    await asyncio.sleep(0)
            if stored.done():
                break
    finally:
        while not stored.done():
            try:
                parts.put(None, timeout=0.05)
                break
            except queue.Full:
                await asyncio.sleep(0)
    rec = await stored
    return {"sha256": rec.sha256, "size": rec.size, "media_type": rec.media_type}


@router.get("/items/{item_id}/portions/{portion_id}/attachment",
            summary="The file of a portion you may see, streamed")
def download_attachment(item_id: str, portion_id: str, user: CurrentUser,
                        deps: NodeDeps) -> StreamingResponse:
    found, chunks = items.open_attachment(deps, user, item_id, portion_id)
    return StreamingResponse(chunks, media_type=found.media_type,
                             headers={"X-Content-SHA256": found.sha256,
                                      "Content-Length": str(found.size)})


@router.get("/items/{item_id}/portions/{portion_id}/label",
            summary="The portion's ADatP-4774 label and its alternatives, bound to its data "
                    "in an unsigned ADatP-4778 BindingInformation", response_class=Response)
def portion_label(item_id: str, portion_id: str, user: CurrentUser,
                  deps: NodeDeps) -> Response:
    return Response(nato_labels.label_xml(deps, user, item_id, portion_id),
                    media_type="application/xml")


@router.get("/items/{item_id}/portions/{portion_id}/binding",
            summary="ADatP-4778 binding of the labels to the portion's data, with an XML "
                    "Signature by this node", response_class=Response)
def portion_binding(item_id: str, portion_id: str, user: CurrentUser,
                    deps: NodeDeps) -> Response:
    return Response(nato_labels.binding_xml(deps, user, item_id, portion_id),
                    media_type="application/xml")


class BindingIn(Body):
    binding: str = Field(max_length=200_000, description="the BindingInformation XML")
    data_sha256: str = Field(pattern=r"^[0-9a-f]{64}$",
                             description="SHA-256 of the data the label is bound to")
    signer: str = Field(min_length=3, max_length=3, description="the signing node's party")


XML_BODY = {"requestBody": {"required": True, "content": {"application/xml": {"schema": {
    "type": "string", "description": "an ADatP-4774 originatorConfidentialityLabel, a "
    "4778 BindingInformation holding the label and its alternatives, or Liaison's old "
    "ConfidentialityLabel form (read, marked legacy)"}}}}}


def read_labels(read: ReadLabels) -> dict[str, Any]:
    return {"label": label_to(read.label),
            "alternatives": [label_to(a) for a in read.alternatives], "legacy": read.legacy}


@router.post("/labels/parse", summary="Read a STANAG 4774 label (XML body): the label and "
             "its alternatives, each checked against its policy's scheme; `legacy` when "
             "it came in Liaison's old form", openapi_extra=XML_BODY)
async def parse_label(request: Request, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_LABEL_XML:
        raise Invalid(f"a label is at most {MAX_LABEL_XML} bytes of XML")
    return read_labels(await asyncio.to_thread(nato_labels.parse, deps, user, raw))


@router.post("/labels/verify", summary="Verify a bound label; its label when it verifies")
def verify_binding(body: BindingIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    read = nato_labels.verify(deps, user, body.binding.encode("utf-8"), body.data_sha256,
                              body.signer.upper())
    return {"verified": True, **read_labels(read)}
