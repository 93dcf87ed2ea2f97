"""Sample files for attachment tests."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image


def png(width: int = 400, height: int = 300) -> bytes:
    im = Image.new("RGB", (width, height))
    im.putdata([(x % 256, y % 256, 90) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


def label(level: str = "군사II급비밀") -> dict[str, Any]:
    return {"policy": "KOR", "classification": level, "originator": "KOR",
            "created": "2019-10-31T08:00:00Z", "rel_to": ["JPN", "USA"]}


def image_item(sha: str, resolution: float = 0.5) -> dict[str, Any]:
    return {
        "id": "IMG1", "discipline": "IMINT", "topic": "DPRK/missile", "grade": "A2",
        "title": "TEL at Sunchon", "reported_at": "2019-10-31T08:00:00Z",
        "portions": [
            {"id": "p1", "content": "two TELs on the apron", "label": label()},
            {"id": "p2", "kind": "image", "content": "apron, 07:20", "label": label(),
             "attachment": {"sha256": sha, "size": 0, "media_type": "image/png", "image": {
                 "sensor": "KOMPSAT-3A", "taken_at": "2019-10-31T07:20:00Z",
                 "footprint": [[39.40, 125.88], [39.40, 125.90], [39.42, 125.90]],
                 "resolution_m": resolution, "width": 400, "height": 300}}}]}
