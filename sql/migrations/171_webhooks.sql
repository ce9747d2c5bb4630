-- Webhooks (step 15). Configuration, not events: an outgoing webhook holds the secret its POSTs
-- are signed with, an incoming one the hash of the secret in its URL.
--
-- `since_event_id` is the log head when the webhook was made: it receives events after that only.
CREATE TABLE webhooks (
    id              uuid        PRIMARY KEY,
    room_id         uuid        NOT NULL,
    url             text        NOT NULL,
    secret          text        NOT NULL,
    event_types     text[]      NOT NULL,
    since_event_id  bigint      NOT NULL,
    created_by      uuid        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
CREATE INDEX webhooks_room ON webhooks (room_id) WHERE deleted_at IS NULL;

-- The outbox, written by the webhook_outbox follower (sql/functions/gochat_apply_webhook_outbox.sql)
-- and worked by the deliverer (gochat/webhooks/deliver.py): one row per webhook and event, so the
-- event id is the delivery's idempotency key. `state`: pending -> delivered | dead (the dead-letter
-- list, after GOCHAT_WEBHOOK_MAX_ATTEMPTS failures).
CREATE TABLE webhook_deliveries (
    webhook_id      uuid        NOT NULL,  -- no foreign key: projections are rebuilt by swapping tables
    event_id        bigint      NOT NULL,
    room_id         uuid        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_status     int,
    last_error      text,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';

CREATE TABLE incoming_webhooks (
    id          uuid        PRIMARY KEY,
    room_id     uuid        NOT NULL,
    bot_id      uuid        NOT NULL,
    name        text        NOT NULL,
    token_hash  bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_by  uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX incoming_webhooks_room ON incoming_webhooks (room_id);

-- Room-scoped: row-level security as everywhere (policies in sql/policies/); only gochat's own role
-- reads and writes them (the services check room admins first).
ALTER TABLE webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhooks FORCE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
ALTER TABLE incoming_webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE incoming_webhooks FORCE ROW LEVEL SECURITY;
