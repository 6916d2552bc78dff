-- MCP servers agents may use as tools (definition kind `mcp_server`). Header values are never stored: the spec
-- names environment variables (headers_env) that the process running the agent reads.

CREATE TABLE "mcp_servers" (
    "name" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    CONSTRAINT "mcp_servers_pkey" PRIMARY KEY ("name")
);
