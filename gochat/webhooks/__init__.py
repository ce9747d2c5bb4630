"""Outgoing webhooks (an outbox follower of the log, a deliverer) and incoming webhooks."""
