"""Room moderation (mutes, slow mode, reports, pins) and server administration."""
