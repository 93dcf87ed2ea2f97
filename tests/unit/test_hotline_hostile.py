"""Issue 17: what a hostile partner may send on a hotline (``domain.hotline_authority``):
validated whole before it is stored, never rewriting what was delivered or acknowledged,
and never making a later read fail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from test_hotline_service import CHANNEL, WATCH, Clock, kor_line
from tests.twins import MemoryState

from liaison.services import hotline
from liaison.services.context import Deps

Setup = tuple[Deps, Clock, MemoryState]


@pytest.fixture
def setup() -> Setup:
    return kor_line()


def _flash(deps: Deps, seq: int = 1, text: str = "launch detected",
           **changes: Any) -> dict[str, Any]:
    return {"channel": CHANNEL, "seq": seq, "kind": "message", "precedence": "FLASH",
            "text": text, "author": "chn-watch", "sent_at": deps.clock().isoformat(),
            **changes}


def _apply(deps: Deps, kind: str, body: Any) -> str | None:
    with deps.uow() as uow:
        reason = hotline.APPLIERS[kind](uow, deps, "CHN", body)
        uow.commit()
    return reason


def _audited(state: MemoryState, action: str) -> list[Any]:
    return [r for r in state.audit if r.action == action]


def test_bad_acknowledgement_is_refused_and_reads_never_fail(setup: Setup) -> None:
    """Bullet "Break our hotline view": an ack with ``at: "not-a-time"`` is refused, and
    a row stored with one before the fix is shown marked damaged, not a 500."""
    deps, _, state = setup
    sent = hotline.send(deps, WATCH, CHANNEL, "FLASH", "are you there")
    bad = {"channel": CHANNEL, "seq": sent["seq"], "by": "chn", "at": "not-a-time"}
    assert "at: an ISO 8601 time" in (_apply(deps, "hotline_ack", bad) or "")
    assert hotline.view(deps, WATCH, CHANNEL)["traffic"][0].get("acknowledged_at") is None
    # a row as the old applier stored it
    key = (CHANNEL, "KOR", sent["seq"])
    kind, data, at = state.traffic[key]
    state.traffic[key] = (kind, {**data, "acknowledged_at": "not-a-time"}, at)
    shown = hotline.view(deps, WATCH, CHANNEL)
    assert "damaged" in shown["traffic"][0]
    assert sum(len(page) for page in hotline.transcript(deps, WATCH, CHANNEL)) == 1
    watch = hotline.Watch(deps, WATCH, CHANNEL)
    assert watch.start()["traffic"][0]["damaged"]
    # a partner's text stored as it came, not a string
    state.traffic[CHANNEL, "CHN", 1] = ("message", {
        "text": ["not", "text"], "author": None, "precedence": "FLASH",
        "sent_at": at.isoformat()}, at)
    entry = next(e for e in hotline.view(deps, WATCH, CHANNEL)["traffic"]
                 if e["sender"] == "CHN")
    assert (entry["text"], entry["damaged"]) == ('["not", "text"]',
                                                 "stored with author that is not text")


@pytest.mark.parametrize(("change", "reason"), [
    ({"sent_at": "not-a-time"}, "sent_at"),
    ({"sent_at": "2026-01-01T00:00:00"}, "sent_at"),  # no zone
    ({"sent_at": "1999-12-31T23:00:00+00:00"}, "outside"),
    ({"sent_at": "2099-01-01T00:00:00+00:00"}, "outside"),
    ({"seq": "1"}, "seq"), ({"seq": True}, "seq"), ({"seq": 0}, "seq"),
    ({"kind": "order"}, "kind"), ({"precedence": "URGENT"}, "precedence"),
    ({"text": ["a"]}, "text"), ({"text": "x" * 10_001}, "text"), ({"text": " "}, "text"),
    ({"text": "word " * 201}, "200 words"), ({"author": {"a": 1}}, "author"),
])
def test_partner_traffic_is_validated_before_it_is_stored(setup: Setup, change: Any,
                                                         reason: str) -> None:
    deps, _, state = setup
    assert reason in (_apply(deps, "hotline", _flash(deps, **change)) or "")
    assert state.traffic == {}


def test_an_immediate_over_200_words_from_the_partner_is_refused(setup: Setup) -> None:
    deps, _, state = setup
    body = _flash(deps, text="word " * 201, precedence="IMMEDIATE")
    assert "200 words" in (_apply(deps, "hotline", body) or "")
    assert _apply(deps, "hotline", "not an object") is not None
    assert state.traffic == {}


def test_acknowledged_flash_cannot_be_rewritten(setup: Setup) -> None:
    """Bullet "Rewrite the permanent transcript": a resend with other text is refused and
    audited as a conflict; the text and our acknowledgement stay; an identical resend
    changes nothing."""
    deps, clock, state = setup
    assert _apply(deps, "hotline", _flash(deps)) is None
    hotline.acknowledge(deps, WATCH, CHANNEL, "CHN", 1)
    before = hotline.view(deps, WATCH, CHANNEL)["traffic"]
    clock.now += timedelta(minutes=1)
    forged = _flash(deps, text="nothing happened", sent_at=before[0]["sent_at"])
    assert (_apply(deps, "hotline", forged) or "").startswith("conflict")
    assert len(_audited(state, "hotline.conflict")) == 1
    same = {k: before[0][k] for k in ("seq", "kind", "precedence", "text", "author",
                                      "sent_at")}
    revision = hotline.view(deps, WATCH, CHANNEL)["revision"]
    assert _apply(deps, "hotline", {"channel": CHANNEL, **same}) is None  # duplicate
    after = hotline.view(deps, WATCH, CHANNEL)
    assert after["revision"] == revision
    assert after["traffic"][0]["text"] == "launch detected"
    assert after["traffic"][0]["acknowledged_by"] == "watch"


def test_acks_only_of_our_messages_that_exist_once(setup: Setup) -> None:
    deps, clock, _ = setup
    assert _apply(deps, "hotline", _flash(deps)) is None  # the partner's own message
    at = deps.clock().isoformat()
    own = {"channel": CHANNEL, "seq": 1, "by": "chn", "at": at}
    assert _apply(deps, "hotline_ack", own) is not None  # no message 1 of ours
    assert hotline.view(deps, WATCH, CHANNEL)["traffic"][0].get("acknowledged_at") is None
    assert _apply(deps, "hotline_ack", {**own, "seq": 9}) is not None
    sent = hotline.send(deps, WATCH, CHANNEL, "FLASH", "are you there")
    ack = {**own, "seq": sent["seq"]}
    assert _apply(deps, "hotline_ack", {**ack, "at": "2099-01-01T00:00:00+00:00"})
    assert _apply(deps, "hotline_ack", ack) is None
    assert _apply(deps, "hotline_ack", ack) is None  # the same again: a duplicate
    clock.now += timedelta(minutes=1)
    later = {**ack, "by": "someone else", "at": deps.clock().isoformat()}
    assert (_apply(deps, "hotline_ack", later) or "").startswith("conflict")
    ours = [e for e in hotline.view(deps, WATCH, CHANNEL)["traffic"] if e["sender"] == "KOR"]
    assert ours[0]["acknowledged_by"] == "CHN: chn"
    assert ours[0]["acknowledged_at"] == at
