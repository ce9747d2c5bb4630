-- The message.posted functions of 082 join a run of posts (a few, at most a page) to the tables they
-- update, and the planner, which expects 100 rows from jsonb_to_recordset, hashed the whole of
-- `receipts` and `rooms` to do it: with sequential scans ruled out, by a full index scan. That is
-- a read of the table per append (0.19 ms at 1,000 receipts, 0.27 ms of a 1.3 ms call for four
-- posts, growing with the table), kept for as long as the connection keeps the plan. Every row
-- they touch is found by its key, so hash and merge joins are ruled out too: nested loops over
-- the primary keys.
ALTER FUNCTION gochat_history_posted(jsonb) SET enable_hashjoin = off SET enable_mergejoin = off;
ALTER FUNCTION gochat_rooms_posted(jsonb) SET enable_hashjoin = off SET enable_mergejoin = off;
ALTER FUNCTION gochat_receipts_posted(jsonb) SET enable_hashjoin = off SET enable_mergejoin = off;
