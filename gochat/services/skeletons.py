"""Look-alike protection for users registered before skeletons were recorded (issue #18).

Since step 12 a signup records its username's skeleton (auth/confusables.py) in `user.registered`,
and the people projection keeps it in `user_profiles.username_skeleton`, which every signup is
checked against. Users registered earlier, and bots made before bots were checked, have none on
record: their `user.registered` predates the field, so neither catching the new projection up nor
rebuilding it can fill it, and a SQL migration cannot compute it (the confusables data is Python's).
So a server starting finds them (an index of just them, sql/migrations/152) and appends one
`user.skeleton_set` per user, which the people projection applies: the skeleton is then in the
log, and a rebuild keeps it.

Each event is appended expecting the user's stream where it was read, so nodes starting together
record a user's skeleton once (the loser's append conflicts and is skipped). Two older users whose
names already look alike both keep their names and both get the skeleton: each blocks newcomers.
"""

from __future__ import annotations

import structlog

from ..auth.confusables import skeleton
from ..db import Database
from ..errors import VersionConflict
from ..events import EventStore, NewEvent
from ..events.types import EventType
from ..projections import people as pq

log = structlog.get_logger("gochat.skeletons")

PAGE = 500


async def record_missing_skeletons(db: Database, store: EventStore, *, page: int = PAGE) -> int:
    """Append `user.skeleton_set` for every user without a skeleton on record; returns how many."""
    recorded = 0
    skipped: set[object] = set()
    while True:
        async with db.cursor() as cur:
            found = [u for u in await pq.without_skeleton(cur, page + len(skipped)) if u[0] not in skipped]
        if not found:
            break
        for user_id, username, _norm in found[:page]:
            last = await store.last_in_stream(user_id)
            if last is None:  # a profile with no stream cannot be: leave it alone
                skipped.add(user_id)
                continue
            event = NewEvent(
                EventType.USER_SKELETON_SET,
                user_id,
                {"username_skeleton": skeleton(username)},
                expected_version=last.version,
            )
            try:
                await store.append_one(event)
                recorded += 1
            except VersionConflict:
                skipped.add(user_id)  # another node recorded it, or the user acted meanwhile: next start
    if recorded:
        log.info("skeletons_recorded", users=recorded, skipped=len(skipped))
    return recorded
