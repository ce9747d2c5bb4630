"""Operators' and analysts' tools on the event log: `gochat events export|tail|stats`."""
