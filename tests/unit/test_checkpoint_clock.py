"""The audit checkpoint clock sends when this worker holds its lease, including a lease
whose recorded position is 0 (the usual case: this lease records none)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from liaison.node import clocks
from liaison.services import checkpoints, leases


def test_a_held_lease_at_position_zero_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[Any] = []
    monkeypatch.setattr(leases, "claim", lambda deps, name: 0)
    monkeypatch.setattr(checkpoints, "send",
                        lambda deps, user: sent.append(user) or {"sent_to": ["JPN"]})
    waker = type("Waker", (), {"wake": asyncio.Event()})()
    clock = clocks.CheckpointClock(object(), waker, every_s=0.01)  # type: ignore[arg-type]

    async def tick() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(clock.run(), 0.1)

    asyncio.run(tick())
    assert sent and waker.wake.is_set()
