-- A job a `stream: true` call waits on: its worker relays the output step's tokens on the mule_job_tokens channel.
-- A constant default adds the column without rewriting the table.
ALTER TABLE "jobs" ADD COLUMN "stream" BOOLEAN NOT NULL DEFAULT false;
