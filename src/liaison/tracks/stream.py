"""The track stream, for a node run as several workers (``realtime.nats_bus``): every
worker follows it and shows each record to its own subscribers.

Records: ``feed`` (a local feed's updates, numbered by the worker that took them),
``peer`` (a partner's updates, with the sender's positions: applied once each) and
``event`` (an alert or a launch event from the worker running the analytics).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from liaison.domain.labels import Label
from liaison.tracks.picture import Picture, Published
from liaison.tracks.receipt import PartnerFrames
from liaison.tracks.rows import decode_row, digest, encode_record, update_of
from liaison.tracks.state import HubState


class StreamRecords:
    def __init__(self, state: HubState, picture: Picture, frames: PartnerFrames) -> None:
        self.state, self.picture, self.frames = state, picture, frames

    async def on_record(self, position: int, data: bytes, _stored: datetime) -> None:
        """Every worker: a stored record, offered to this worker's subscribers."""
        rec = json.loads(data)
        kind = rec["k"]
        if kind == "event":
            event = rec["data"]
            label, rank, _ = self.state.record_label(event["label"])
            self.picture.offer_event(event, label, rank, event["topic"],
                                     self.state.area_label(event))
            return
        label, rank, marking = self.state.record_label(rec["label"])
        publish = self.picture.publish
        if kind == "feed":
            source = f"feed:{rec['feed']}"
            for raw in rec["rows"]:
                row = decode_row(raw)
                publish(Published(update_of(row, int(row.number)), source, label, rank,
                                  rec["topic"], marking))
        elif kind == "peer":
            sender, key = rec["sender"], rec["group"]
            for raw in rec["rows"]:
                row = decode_row(raw)
                if self.frames.fresh(sender, key, row.position):
                    publish(Published(update_of(row, int(row.number)), f"peer:{sender}",
                                      label, rank, rec["topic"], marking))

    async def announce(self, data: dict[str, Any], label: Label, rank: int,
                       topic: str) -> None:
        """An alert or launch event to every subscriber: through the stream when there
        is one (every worker's subscribers), else directly."""
        stream = self.state.stream
        if stream is None:
            self.picture.offer_event(data, label, rank, topic, self.state.area_label(data))
            return
        record = encode_record({"k": "event", "data": data})
        await stream.append(record, f"event:{digest(record)}")

