-- Stored responses (POST /v1/responses with store true, the default): what `previous_response_id` continues and
-- `GET /v1/responses/{id}` reads. A workflow response's state lives in its job (status, output, error, usage); the
-- row keeps the conversation so far and the caller's metadata, and goes with its job when retention deletes it.
-- Agent responses (no job) hold their own outcome and are deleted by age with the same retention days.
CREATE TABLE "responses" (
    "id" TEXT NOT NULL,
    "api_key_id" UUID,
    "model" TEXT NOT NULL,
    "job_id" UUID,
    "previous_response_id" TEXT,
    "instructions" TEXT,
    "messages" JSONB NOT NULL,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "background" BOOLEAN NOT NULL DEFAULT false,
    "status" TEXT,
    "output_text" TEXT,
    "error" JSONB,
    "usage" JSONB,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    "completed_at" TIMESTAMPTZ(6),
    CONSTRAINT "responses_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "responses_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "responses_status_check" CHECK ("status" IS NULL OR "status" IN ('completed', 'failed', 'cancelled'))
);
-- The cascade from jobs (retention deletes them in batches) looks rows up by job.
CREATE UNIQUE INDEX "responses_job_id_key" ON "responses"("job_id");
-- Retention deletes agent responses by age.
CREATE INDEX "responses_created_idx" ON "responses"("created_at");
