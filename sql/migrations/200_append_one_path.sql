-- gochat_append takes a fourth argument (`shape`: groups and expected versions) and returns each
-- group's outcome, so it replaces the general append path (sql/functions/gochat_append.sql). A
-- function's arguments and result type are part of what CREATE OR REPLACE cannot change: the old
-- one goes here, and the file defines the new one after the migrations.
DROP FUNCTION IF EXISTS gochat_append(jsonb, text[], text[]);
