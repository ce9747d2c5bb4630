-- The planner's price for the row-level security checks. PL/pgSQL functions default to COST 100
-- (0.25 cost units a call); these run an index lookup or two, ~10 us. At that price the planner
-- preferred checking every room in the table and hash-joining the caller's memberships to them
-- (GET /rooms: gochat_can_see on all 5,200 rooms of the benchmark for the caller's 200, 8-12 ms)
-- over looking up the caller's rooms by primary key (200 checks, under 3 ms). Priced honestly, a
-- check is made only for rows the query needs.
ALTER FUNCTION gochat_can_read(uuid) COST 10000;
ALTER FUNCTION gochat_can_see(uuid) COST 10000;
