-- One checkpoint per projection: the id of the last event it applied. Written in the same
-- transaction as the projection's rows, so a projection is always exactly "the log up to here".
CREATE TABLE projection_checkpoints (
    name        text        PRIMARY KEY,
    position    bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
