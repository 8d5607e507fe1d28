-- The generation of each cache scope (e.g. 'dashboard:shop-0001'), bumped in the transaction of every
-- write that changes what the scope's cached answers say. Cache keys carry it, so an answer computed
-- from older data can never be served under a newer key, whatever the cache forgets or keeps.
CREATE TABLE cache_generations (
  scope      text PRIMARY KEY,
  generation bigint NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now()
);
