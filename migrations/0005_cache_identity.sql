-- Which database a cache entry was computed from. Generations start at 1 in every database, so two
-- databases behind one Redis (two deployments, a database dropped and created again, a test run beside
-- another) would otherwise share keys, and one would be served the other's answers. Cache keys and
-- the generations kept in Redis carry this id, drawn once when the table is created, together with
-- the database's oid (a database created from another as its template copies the row, not the oid).
CREATE TABLE cache_identity (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  id       text NOT NULL DEFAULT gen_random_uuid()::text
);
INSERT INTO cache_identity DEFAULT VALUES;
