-- A WASM step's stderr (the tail the worker keeps: its last 16 KiB), written in the same statement that completes
-- or fails the attempt. NULL for agent and wait steps, and for attempts that never ended in a worker (a takeover
-- closes those). A nullable column without a default adds no table rewrite.
ALTER TABLE "job_steps" ADD COLUMN "logs" TEXT;
