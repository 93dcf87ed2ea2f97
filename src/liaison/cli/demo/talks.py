"""The demo's talks step: inter-Korean talks by video conference, as Seoul proposed in
2021 ("each side using its own equipment", over the restored communication lines):
proposed by KOR with an agenda of the three kinds, amended by PRK, accepted; then minutes
edited by both and signed with both nodes' keys, each side verifying the other's signature.
The call itself runs in browsers (``/console/talks.html``); ``bench/bench_talks.py`` and
the browser test drive it in headless Chromium."""

from __future__ import annotations

from typing import Any

from liaison.cli.demo.calls import StepFailed, api, poll, refused

MOU: dict[str, Any] = {
    "id": "KOR-PRK-LINES-2021", "kind": "MOU",
    "title": "Inter-Korean communication lines, restored 2021-07-27",
    "parties": ["KOR", "PRK"], "opens": ["hotline", "talks"],
    "events": [{"kind": "SIGNED", "date": "2021-07-27"},
               {"kind": "ENTERED_INTO_FORCE", "date": "2021-07-27"}]}
TALKS: dict[str, Any] = {
    "counterpart": "PRK", "title": "Inter-Korean talks by video conference",
    "starts_at": "2021-08-05T10:00:00+09:00", "tz": "Asia/Seoul", "duration_min": 90,
    "delegations": {"KOR": ["Chun Hae-sung"], "PRK": ["Jon Jong-su"]},
    "agenda": [{"id": "a1", "kind": "agreed", "title": "Restored communication lines"},
               {"id": "a2", "kind": "concerns", "title": "Reopening a liaison office"},
               {"id": "a3", "kind": "urgent", "title": "COVID-19 cooperation"}]}


def talks_by_video(story: Any) -> None:
    tokens = {}
    for party, name, level in (("KOR", "chun.delegate", "평문"), ("PRK", "jon.delegate", "일반")):
        admin = story.sign_in(party, "admin", story.admin_passwords[party])
        api(admin, "POST", "/api/agreements", json=MOU)
        # only the people a delegation names join the call: the delegate's display name is
        # the name the proposal gives
        api(admin, "POST", "/api/users", json={
            "username": name, "display_name": TALKS["delegations"][party][0],
            "roles": ["delegate"], "clearance": level, "password": story.password})
        tokens[party] = story.sign_in(party, name, story.password)
    story.say(f"both nodes record {MOU['id']} (MOU, opens hotline and talks)")
    kor, prk = tokens["KOR"], tokens["PRK"]
    t = api(kor, "POST", "/api/talks", json=TALKS)
    story.say(f"KOR proposes '{t['current']['title']}' for {t['local_start']} "
              f"({t['current']['tz']}): " + "; ".join(
                  f"{a['kind']}: {a['title']}" for a in t["current"]["agenda"]))
    poll(lambda: prk.get(f"/api/talks/{t['id']}").status_code == 200)
    counter = {**{k: v for k, v in TALKS.items() if k != "counterpart"},
               "agenda": [*TALKS["agenda"], {"id": "a4", "kind": "concerns",
                                             "title": "Leaflet launches across the border"}]}
    api(prk, "POST", f"/api/talks/{t['id']}/answer",
        json={"action": "amend", "proposal": counter})
    poll(lambda: api(kor, "GET", f"/api/talks/{t['id']}")["current"]["version"] == 2)
    code, msg = refused(kor, "POST", f"/api/talks/{t['id']}/answer",
                        json={"action": "accept", "version": 1})
    story.say(f"PRK amends (adds an agenda item); accepting the old version → {code}: {msg}")
    api(kor, "POST", f"/api/talks/{t['id']}/answer", json={"action": "accept", "version": 2})
    poll(lambda: api(prk, "GET", f"/api/talks/{t['id']}")["state"] == "accepted")
    story.say("KOR accepts version 2; both nodes show the talks accepted; delegates join at "
              f"/console/talks.html?talks={t['id']} on their own node")
    api(kor, "POST", f"/api/talks/{t['id']}/minutes", json={
        "outcomes": {"a1": "Lines tested twice daily", "a3": "Exchange of health data"},
        "agreed": ["Keep the communication lines open", "Meet again by video in September"]})
    poll(lambda: (api(prk, "GET", f"/api/talks/{t['id']}")["minutes"] or {})
         .get("revision") == 2)
    api(prk, "POST", f"/api/talks/{t['id']}/minutes", json={
        "outcomes": {"a4": "Concern noted by both sides"}, "sign": True})
    poll(lambda: "PRK" in ((api(kor, "GET", f"/api/talks/{t['id']}")["minutes"] or {})
                           .get("signatures") or {}))
    sealed = api(kor, "POST", f"/api/talks/{t['id']}/minutes", json={"sign": True})
    poll(lambda: api(prk, "GET", f"/api/talks/{t['id']}")["minutes_sealed"])
    results = {p: api(c, "GET", f"/api/talks/{t['id']}/minutes/verify")
               for p, c in tokens.items()}
    story.say(f"minutes revision {sealed['minutes']['revision']} signed by both; "
              + "; ".join(f"{p} checks: " + ", ".join(f"{k} {v}" for k, v in r.items())
                          for p, r in results.items()))
    if not all(v == "verified" for r in results.values() for v in r.values()):
        raise StepFailed("a signature on the minutes does not verify")
    code, msg = refused(prk, "POST", f"/api/talks/{t['id']}/minutes",
                        json={"agreed": ["Something else"]})
    story.say(f"an edit after both signed → {code}: {msg}")
