-- Workflow graphs: steps run in parallel and per for_each item, are skipped, or park the job while they wait.
-- A job that parks (a wait step, or a retry backoff over 5 s) gives its queue entry back; a later entry (the
-- resume, the wait's timeout, the retry's due time) carries it on. `queue_id` names the entry that carries the
-- job now: a worker claims a job only through that entry, so a stale one (a wait's timeout after the wait was
-- resumed) changes nothing, and the reaper knows which entry must be alive.
ALTER TABLE "jobs" DROP CONSTRAINT "jobs_status_check";
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_status_check"
    CHECK ("status" IN ('queued', 'running', 'waiting', 'completed', 'failed', 'cancelled'));
ALTER TABLE "jobs" ADD COLUMN "queue_id" UUID;
-- The job this one replays (POST /v1/jobs/{id}/replay); the old job may be deleted by retention meanwhile.
ALTER TABLE "jobs" ADD COLUMN "replay_of" UUID;

-- One row per attempt of a step, or of one for_each item (`item`: its index). A for_each step also gets one row
-- of its own (item NULL) holding the list of its items' outputs when they are all done. A skipped step is one row
-- with status `skipped`. A wait step's row is `waiting` until it is resumed, rejected or timed out.
ALTER TABLE "job_steps" DROP CONSTRAINT "job_steps_pkey";
ALTER TABLE "job_steps" ADD COLUMN "id" BIGSERIAL;
ALTER TABLE "job_steps" ADD CONSTRAINT "job_steps_pkey" PRIMARY KEY ("id");
ALTER TABLE "job_steps" ADD COLUMN "item" INTEGER;
CREATE UNIQUE INDEX "job_steps_attempt_key" ON "job_steps"("job_id", "step_index", COALESCE("item", -1), "attempt");
ALTER TABLE "job_steps" DROP CONSTRAINT "job_steps_status_check";
ALTER TABLE "job_steps" ADD CONSTRAINT "job_steps_status_check"
    CHECK ("status" IN ('running', 'waiting', 'completed', 'failed', 'skipped', 'cancelled'));
-- A waiting step: when it times out (`wait_timeout`).
ALTER TABLE "job_steps" ADD COLUMN "wait_until" TIMESTAMPTZ(6);

-- Waiting jobs, for the jobs list's status filter and the waiting-jobs gauge (few rows; the index stays small).
CREATE INDEX "jobs_waiting_idx" ON "jobs"("created_at" DESC) WHERE "status" = 'waiting';

-- A secret per database, made once by the first process that needs it: resume URLs carry an HMAC of the job,
-- step and attempt under it, so they are unguessable and need no API key, and every api replica and worker
-- computes the same URL without storing any token.
CREATE TABLE "mule_secrets" (
    "name" TEXT NOT NULL,
    "value" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    CONSTRAINT "mule_secrets_pkey" PRIMARY KEY ("name")
);
