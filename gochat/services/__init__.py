"""Use cases: validate, authorize against projections, append events. No aiohttp, no raw SQL."""
