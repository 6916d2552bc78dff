-- The W3C trace context (traceparent, then a newline and the tracestate if any) of the request that submitted a
-- job, written with the job in its one submit statement: the worker that claims it, and any that takes it over,
-- continues that trace. NULL when tracing is off. A nullable column without a default adds no table rewrite.
ALTER TABLE "jobs" ADD COLUMN "trace_context" TEXT;
