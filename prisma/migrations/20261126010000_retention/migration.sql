-- Retention deletes finished jobs by age; without this index each pass would scan the whole table.
CREATE INDEX "jobs_completed_idx" ON "jobs"("completed_at") WHERE "completed_at" IS NOT NULL;
