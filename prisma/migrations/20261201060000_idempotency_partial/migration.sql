-- Only jobs that carry an Idempotency-Key need the unique index: a row whose key is NULL never conflicts, yet each
-- of a job's three row versions (queued, running, ended) wrote an entry for it. Same name, same uniqueness.
DROP INDEX "jobs_idempotency_key_key";
CREATE UNIQUE INDEX "jobs_idempotency_key_key" ON "jobs"(COALESCE("api_key_id", '00000000-0000-0000-0000-000000000000'::uuid), "idempotency_key")
  WHERE "idempotency_key" IS NOT NULL;
