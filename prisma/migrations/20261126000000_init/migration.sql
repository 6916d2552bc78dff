-- Mule's first schema. Works on PostgreSQL 15 (these machines) and 18 (embedded-postgres).

CREATE TABLE "providers" (
    "name" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "api_key_cipher" TEXT,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    CONSTRAINT "providers_pkey" PRIMARY KEY ("name")
);

CREATE TABLE "agents" (
    "name" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    CONSTRAINT "agents_pkey" PRIMARY KEY ("name")
);

CREATE TABLE "wasm_blobs" (
    "sha256" TEXT NOT NULL,
    "bytes" BYTEA NOT NULL,
    "size" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    CONSTRAINT "wasm_blobs_pkey" PRIMARY KEY ("sha256")
);

CREATE TABLE "wasm_modules" (
    "name" TEXT NOT NULL,
    "sha256" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    CONSTRAINT "wasm_modules_pkey" PRIMARY KEY ("name"),
    CONSTRAINT "wasm_modules_sha256_fkey" FOREIGN KEY ("sha256") REFERENCES "wasm_blobs"("sha256") ON DELETE RESTRICT ON UPDATE CASCADE
);

CREATE TABLE "workflows" (
    "name" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    CONSTRAINT "workflows_pkey" PRIMARY KEY ("name")
);

CREATE TABLE "workflow_versions" (
    "workflow_name" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "spec" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    CONSTRAINT "workflow_versions_pkey" PRIMARY KEY ("workflow_name", "version"),
    CONSTRAINT "workflow_versions_workflow_name_fkey" FOREIGN KEY ("workflow_name") REFERENCES "workflows"("name") ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE "jobs" (
    "id" UUID NOT NULL,
    "workflow_name" TEXT NOT NULL,
    "workflow_version" INTEGER NOT NULL,
    "model" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "input" JSONB NOT NULL,
    "output" JSONB,
    "error" JSONB,
    "plan" JSONB NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "idempotency_key" TEXT,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    "started_at" TIMESTAMPTZ(6),
    "completed_at" TIMESTAMPTZ(6),
    CONSTRAINT "jobs_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "jobs_status_check" CHECK ("status" IN ('queued', 'running', 'completed', 'failed', 'cancelled'))
);

CREATE UNIQUE INDEX "jobs_idempotency_key_key" ON "jobs"("idempotency_key");
CREATE INDEX "jobs_created_idx" ON "jobs"("created_at" DESC, "id" DESC);
CREATE INDEX "jobs_status_created_idx" ON "jobs"("status", "created_at" DESC);
CREATE INDEX "jobs_workflow_created_idx" ON "jobs"("workflow_name", "created_at" DESC);

CREATE TABLE "job_steps" (
    "job_id" UUID NOT NULL,
    "step_index" INTEGER NOT NULL,
    "attempt" INTEGER NOT NULL,
    "step_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "input" JSONB,
    "output" JSONB,
    "error" JSONB,
    "usage" JSONB,
    "started_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    "completed_at" TIMESTAMPTZ(6),
    "duration_ms" DOUBLE PRECISION,
    CONSTRAINT "job_steps_pkey" PRIMARY KEY ("job_id", "step_index", "attempt"),
    CONSTRAINT "job_steps_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "job_steps_status_check" CHECK ("status" IN ('running', 'completed', 'failed', 'cancelled'))
);
