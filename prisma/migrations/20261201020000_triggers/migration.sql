-- Triggers: a workflow started by a schedule (cron) or a webhook (POST /v1/hooks/<name>). `last_fired_at` is the
-- schedule's latest due time that was fired (or skipped for overlap): a fire advances it with a conditional UPDATE
-- (`last_fired_at < due`), so however many workers look at the same due time, one of them fires it.
CREATE TABLE "triggers" (
    "name" TEXT NOT NULL,
    "workflow_name" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "last_fired_at" TIMESTAMPTZ(6),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "triggers_pkey" PRIMARY KEY ("name")
);
CREATE INDEX "triggers_workflow_idx" ON "triggers"("workflow_name");

-- The trigger that started a job (null for jobs submitted through the API). Not a foreign key: a job outlives
-- its trigger's definition.
ALTER TABLE "jobs" ADD COLUMN "trigger" TEXT;
-- overlap: skip asks "is a job of this trigger still unfinished?" at every due time.
CREATE INDEX "jobs_trigger_active_idx" ON "jobs"("trigger") WHERE "trigger" IS NOT NULL AND "status" IN ('queued', 'running', 'waiting');
