"""Which sensor accounts write into which feed (issue 18: a sensor writes only into the
feeds registered to it). The registration lives in the feed's document (``sensors``);
the hub reads it with the track policy (``services.tracks.write_refusal``).

An administrator registers a sensor account to a feed; a sensor is registered only when its
clearance covers the feed's label (docs/rules.md#need-to-know: nobody handles what they are
not cleared for), so an UNCLASSIFIED sensor never writes into a SECRET feed.
"""

from __future__ import annotations

from typing import Any

from liaison.domain.users import Role, User
from liaison.services.agreements import load_parties
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Forbidden, Invalid, NotFound
from liaison.services.tracks import feed_from, may_see_feed


def register_sensor(deps: Deps, user: User, feed_name: str, username: str,
                    *, remove: bool = False) -> dict[str, Any]:
    """Register (or with ``remove``, unregister) the sensor account ``username`` to the
    feed; the feed's document as it now stands."""
    require(user, Role.ADMIN)
    with deps.uow() as uow:
        parties = load_parties(uow)
        own = parties[deps.party]
        doc = next((d for d in uow.tracks.feeds() if d["name"] == feed_name), None)
        feed = feed_from(doc, parties, deps.party) if doc is not None else None
        if feed is None or not may_see_feed(user, feed, own):
            raise NotFound(f"no feed {feed_name!r} that you may see")
        sensors = set(doc.get("sensors", []))  # type: ignore[union-attr]
        if remove:
            sensors.discard(username)
        else:
            sensor = uow.users.get(username)
            if sensor is None or Role.SENSOR not in sensor.roles:
                raise Invalid(f"{username!r} is not a sensor account: create it with the "
                              f"role sensor first")
            if not may_see_feed(sensor, feed, own):
                raise Forbidden(f"sensor {username}'s clearance does not cover feed "
                                f"{feed_name}'s label ({feed.label.classification}): a "
                                f"sensor writes only into feeds within its clearance")
            sensors.add(username)
        out = {**doc, "sensors": sorted(sensors)}  # type: ignore[dict-item]
        uow.tracks.put_feed(feed_name, out, deps.clock())
        action = "track_feed.sensor_removed" if remove else "track_feed.sensor_added"
        record(uow, deps, user.username, action, f"feed:{feed_name}", {"sensor": username})
        uow.commit()
    return out
