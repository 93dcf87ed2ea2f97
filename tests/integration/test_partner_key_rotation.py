"""Issue 17 point 7: a partner's rotated keys are picked up without a manual `peer add`.
Two real node processes trust each other; JPN rotates its keys (`liaison keys rotate`
beside the running node) and goes on sending; KOR, finding an envelope signed with a key
its held card of JPN does not list, fetches JPN's card again over mutual TLS and takes it
only when JPN's pinned identity key signed it and it is not older than the card held."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from liaison.crypto.keys import private_pem

from .processes import NodeProcess, cli, trusting_pair, wait_for

N = 6


def audit(node: NodeProcess, action: str) -> list[dict[str, Any]]:
    rows = node.call("GET", "/api/audit", params={"limit": 1000})
    return [r for r in rows if r["action"] == action]


def checkpoint(jpn: NodeProcess) -> int:
    """JPN sends a checkpoint of its audit log to KOR (one message); its size."""
    sent = jpn.call("POST", "/api/audit/checkpoints")
    assert sent["sent_to"] == ["KOR"], sent
    size: int = sent["size"]
    return size


def countersigned(jpn: NodeProcess, size: int) -> bool:
    """KOR applied the checkpoint (and its countersignature came back to JPN)."""
    rows = jpn.call("GET", "/api/audit/checkpoints")
    return any(r["size"] == size and r["log_of"] == "JPN" and r["witness"] == "KOR"
               and r["state"] == "countersigned" for r in rows)


def signing_keys(node: NodeProcess, party: str) -> list[str]:
    (peer,) = [p for p in node.call("GET", "/api/peers") if p["party"] == party]
    return [k["id"] for k in peer["signing_keys"]]


def lane_failures(jpn: NodeProcess) -> int:
    lanes = jpn.call("GET", "/api/outbox")["KOR"]["lanes"]
    return sum(int(lane.get("failures") or 0) for lane in lanes.values())


def test_a_partners_rotation_is_picked_up_by_itself(tmp_path: Path) -> None:
    with trusting_pair(tmp_path, "JPN", "KOR") as (jpn, kor):
        held = signing_keys(kor, "JPN")
        delivered = 0
        for i in range(N):
            if i == N // 2:
                cli("keys", "rotate", "--data-dir", jpn.data, "--overlap-days", "7")
            size = checkpoint(jpn)
            wait_for(lambda s=size: countersigned(jpn, s), timeout=30,  # type: ignore[misc]
                     what=f"checkpoint {i + 1} applied at KOR")
            delivered += 1
        now = signing_keys(kor, "JPN")
        assert now[0] == held[0] and len(now) == 2, (held, now)
        (refreshed,) = audit(kor, "peer.card_refreshed")
        assert refreshed["subject"] == "peer:JPN"
        assert refreshed["details"]["keys"]["signing"] == now
        assert not audit(kor, "peer.card_refused")
        (peer,) = [p for p in kor.call("GET", "/api/peers") if p["party"] == "JPN"]
        assert peer["card_issued"] == refreshed["details"]["issued"]
        shown = cli("peer", "show", "JPN", "--url", kor.url, "--token", kor.token)
        assert now[1] in shown and peer["card_issued"] in shown, shown
        # and the other way: KOR rotates; its receipts and countersignatures are signed
        # with its new key, and JPN picks up KOR's card by itself
        cli("keys", "rotate", "--data-dir", kor.data, "--overlap-days", "7")
        for i in range(N):
            size = checkpoint(jpn)
            wait_for(lambda s=size: countersigned(jpn, s), timeout=30,  # type: ignore[misc]
                     what=f"checkpoint {N + i + 1} receipted after KOR's rotation")
            delivered += 1
        # the receipt (sender side) and KOR's countersignature (inbox) may both ask at
        # once: one fetch serves both
        (back,) = audit(jpn, "peer.card_refreshed")
        assert back["subject"] == "peer:KOR" and len(signing_keys(jpn, "KOR")) == 2
        refused = audit(jpn, "peer.card_refused")
        assert not refused, [r["details"] for r in refused]
        print(f"partner key rotation: delivered {delivered} of {2 * N} across JPN's then "
              f"KOR's rotation, each card refreshed once by the other side, no `peer add`")


def test_a_card_signed_by_an_identity_not_pinned_is_refused(tmp_path: Path) -> None:
    """JPN's node comes back with another identity key (as an impostor holding JPN's TLS
    key would) and rotated signing keys: KOR fetches the card, refuses it (not signed by
    the identity it pins), audits it, refuses the envelope saying why, and fetches again
    at most once per interval however often the envelope is retried."""
    with trusting_pair(tmp_path, "JPN", "KOR") as (jpn, kor):
        held = signing_keys(kor, "JPN")
        jpn.stop()
        (Path(jpn.data) / "keys" / "identity.pem").write_bytes(
            private_pem(Ed25519PrivateKey.generate()))
        cli("keys", "rotate", "--data-dir", jpn.data, "--overlap-days", "0")
        jpn.start()
        jpn.login()
        size = checkpoint(jpn)
        (refused,) = wait_for(lambda: audit(kor, "peer.card_refused"), what="refusal")
        assert "not the pinned" in refused["details"]["reason"], refused
        wait_for(lambda: lane_failures(jpn) >= 3, timeout=30, what="JPN's retries")
        assert len(audit(kor, "peer.card_refused")) == 1  # one fetch per interval
        assert not audit(kor, "peer.card_refreshed") and not countersigned(jpn, size)
        assert signing_keys(kor, "JPN") == held
        lanes = jpn.call("GET", "/api/outbox")["KOR"]["lanes"]
        errors = " ".join(str(lane.get("last_error")) for lane in lanes.values())
        assert "card was not refreshed" in errors, errors
        print(f"forged partner card: refused 1 of 1, fetched 1 time for "
              f"{lane_failures(jpn)} envelope attempts")


def test_a_rolled_back_card_is_refused(tmp_path: Path) -> None:
    """JPN's node serves a card issued before the one KOR holds (its clock an hour
    behind): refused as a rollback and audited; the held card stays."""
    with trusting_pair(tmp_path, "JPN", "KOR") as (jpn, kor):
        held = signing_keys(kor, "JPN")
        jpn.stop()
        cli("keys", "rotate", "--data-dir", jpn.data, "--overlap-days", "0")
        jpn.start(env={"LIAISON_CLOCK_OFFSET_S": "-3600"})
        jpn.login()
        size = checkpoint(jpn)
        (refused,) = wait_for(lambda: audit(kor, "peer.card_refused"), what="refusal")
        assert "an old card is not taken back" in refused["details"]["reason"], refused
        assert not audit(kor, "peer.card_refreshed") and not countersigned(jpn, size)
        assert signing_keys(kor, "JPN") == held
        print("rolled-back partner card: refused 1 of 1")


