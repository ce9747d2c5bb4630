-- End-to-end encryption: the key directory and the per-device mailbox (not events: key material is
-- consumed, and a device's mailbox is emptied as it is read), and a room's `encrypted` flag.
CREATE TABLE devices (
    user_id uuid NOT NULL,
    device_id text NOT NULL,
    curve25519 text NOT NULL,          -- identity key (Olm sessions are made to it)
    ed25519 text NOT NULL,             -- signing key (clients verify one-time keys with it)
    display_name text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE one_time_keys (
    user_id uuid NOT NULL,
    device_id text NOT NULL,
    key_id text NOT NULL,
    key text NOT NULL,
    signature text NOT NULL,           -- ed25519 over the key, by the device's signing key
    fallback boolean NOT NULL DEFAULT false,  -- handed out (and kept) once the others run out
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, device_id, key_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices ON DELETE CASCADE
);

CREATE TABLE device_inbox (
    id bigserial PRIMARY KEY,
    user_id uuid NOT NULL,
    device_id text NOT NULL,
    sender_id uuid NOT NULL,
    sender_device text NOT NULL,
    payload jsonb NOT NULL,            -- opaque to the server (an Olm-encrypted envelope)
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (user_id, device_id) REFERENCES devices ON DELETE CASCADE
);
CREATE INDEX device_inbox_by_device ON device_inbox (user_id, device_id, id);

ALTER TABLE rooms ADD COLUMN encrypted boolean NOT NULL DEFAULT false;
