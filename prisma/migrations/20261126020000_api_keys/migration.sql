-- API keys (issue 7): stored as sha256 hashes only; a per-minute usage counter shared by every api replica; jobs
-- remember the key that created them; Idempotency-Keys are scoped per API key.

CREATE TABLE "api_keys" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "key_hash" TEXT NOT NULL,
    "key_prefix" TEXT NOT NULL,
    "scopes" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "rpm" INTEGER,
    "admin" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    "revoked_at" TIMESTAMPTZ(6),
    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "api_keys_key_hash_key" ON "api_keys"("key_hash");

CREATE TABLE "api_key_usage" (
    "key_id" UUID NOT NULL,
    "window_start" TIMESTAMPTZ(6) NOT NULL,
    "count" INTEGER NOT NULL,
    CONSTRAINT "api_key_usage_pkey" PRIMARY KEY ("key_id", "window_start"),
    CONSTRAINT "api_key_usage_key_id_fkey" FOREIGN KEY ("key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE
);

ALTER TABLE "jobs" ADD COLUMN "api_key_id" UUID;
CREATE INDEX "jobs_api_key_created_idx" ON "jobs"("api_key_id", "created_at" DESC) WHERE "api_key_id" IS NOT NULL;
DROP INDEX "jobs_idempotency_key_key";
CREATE UNIQUE INDEX "jobs_idempotency_key_key" ON "jobs"(COALESCE("api_key_id", '00000000-0000-0000-0000-000000000000'::uuid), "idempotency_key");
