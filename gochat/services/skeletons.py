"""Look-alike protection for users registered before skeletons were recorded (issue #18).

Since step 12 a signup records its username's skeleton (auth/confusables.py) in `user.registered`,
and the people projection keeps it in `user_profiles.username_skeleton`, which every signup is
checked against. Users registered earlier, and bots made before bots were checked, have none on
record: their `user.registered` predates the field, so neither catching the new projection up nor
rebuilding it can fill it, and a SQL migration cannot compute it (the confusables data is Python's).
So a server starting finds them (an index of just them, sql/migrations/152) and appends one
`user.skeleton_set` per user, which the people projection applies: the skeleton is then in the
log, and a rebuild keeps it.

Events go 500 users to an append (a large old database is done in seconds, before the server
serves), each expecting the user's stream where it was read, so nodes starting together record a
user's skeleton once (a conflicting page is retried one by one, skipping the users it conflicts
on, until the next start). Two older users whose names already look alike both keep their names
and both get the skeleton: each blocks newcomers.
"""

from __future__ import annotations

from uuid import UUID

import structlog

from ..auth.confusables import skeleton
from ..db import Database
from ..errors import VersionConflict
from ..events import EventStore, NewEvent
from ..events.types import EventType
from ..projections import people as people_queries

log = structlog.get_logger("gochat.skeletons")

PAGE = 500


async def record_missing_skeletons(db: Database, store: EventStore, *, page: int = PAGE) -> int:
    """Append `user.skeleton_set` for every user without a skeleton on record, a page of users per
    append; returns how many were recorded."""
    recorded = 0
    skipped: set[UUID] = set()
    while True:
        async with db.cursor() as cur:
            found = [u for u in await people_queries.without_skeleton(cur, page + len(skipped)) if u[0] not in skipped][
                :page
            ]
        if not found:
            break
        ids = [user_id for user_id, _ in found]
        versions = await store.stream_versions(ids)
        # Read after the versions: a user recorded meanwhile (another node) drops out here; one
        # recorded after this read makes the append below conflict, since its version moved on.
        async with db.cursor() as cur:
            still = await people_queries.still_without_skeleton(cur, ids)
        events = []
        for user_id, username in found:
            if user_id not in still:
                continue
            if user_id not in versions:  # a profile without its user's stream cannot be: leave it be
                skipped.add(user_id)
                continue
            data = {"username_skeleton": skeleton(username)}
            events.append(NewEvent(EventType.USER_SKELETON_SET, user_id, data, expected_version=versions[user_id]))
        try:
            await store.append(*events)
            recorded += len(events)
        except VersionConflict:
            # Another node is at it, or a user acted since the read: one by one, skipping those.
            for event in events:
                try:
                    await store.append_one(event)
                    recorded += 1
                except VersionConflict:
                    skipped.add(event.stream_id)
    if recorded:
        log.info("skeletons_recorded", users=recorded, skipped=len(skipped))
    return recorded
