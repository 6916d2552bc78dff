/**
 * OpenTelemetry traces, set up once for both processes. Only `@opentelemetry/api` is imported here: without an
 * endpoint its global tracer is the no-op one (a span costs one object allocation) and no SDK module is ever
 * loaded. With an endpoint, startTracing loads the SDK and an OTLP/HTTP exporter (protobuf or JSON) by dynamic
 * import. The SDK's exporter reads the standard OTEL_* variables (headers, timeouts, per-signal endpoint) from the
 * environment itself; the apps' configs parse only what decides whether and how to start it.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type SpanOptions } from '@opentelemetry/api';

export { SpanKind, SpanStatusCode, context, trace, type Span };

export interface TracingConfig {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: unset, nothing is started. */
  endpoint: string | undefined;
  /** OTEL_EXPORTER_OTLP_PROTOCOL: `http/protobuf` (the OpenTelemetry default) or `http/json`. */
  protocol: 'http/protobuf' | 'http/json';
  /** OTEL_SERVICE_NAME, defaulted per app (mule-api, mule-worker). */
  serviceName: string;
  /** MULE_LOG_CONTENT: prompts and outputs may go into spans only when true. */
  logContent: boolean;
}

export interface Tracing {
  enabled: boolean;
  /** Exports what is still buffered; call before exit. */
  shutdown(): Promise<void>;
}

let enabled = false;
let contentAllowed = false;

/** Starts the SDK when an endpoint is configured; otherwise returns at once, having loaded nothing. */
export async function startTracing(config: TracingConfig): Promise<Tracing> {
  if (!config.endpoint) return { enabled: false, shutdown: async () => {} };
  // ADK records whole prompts and answers in its spans unless this says no; it reads process.env itself.
  process.env.ADK_CAPTURE_MESSAGE_CONTENT_IN_SPANS = config.logContent ? 'true' : 'false';
  const [{ BasicTracerProvider, BatchSpanProcessor }, { detectResources, envDetector, resourceFromAttributes }, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/context-async-hooks'),
      import('@opentelemetry/core'),
    ]);
  const { OTLPTraceExporter } =
    config.protocol === 'http/json' ? await import('@opentelemetry/exporter-trace-otlp-http') : await import('@opentelemetry/exporter-trace-otlp-proto');
  // The exporter appends /v1/traces to OTEL_EXPORTER_OTLP_ENDPOINT (or uses OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) itself.
  const exporter = new OTLPTraceExporter();
  const provider = new BasicTracerProvider({
    // OTEL_RESOURCE_ATTRIBUTES (on Kubernetes: the pod's name, which says which worker ran a claim), then our name.
    resource: detectResources({ detectors: [envDetector] }).merge(resourceFromAttributes({ 'service.name': config.serviceName })),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  enabled = true;
  contentAllowed = config.logContent;
  return { enabled: true, shutdown: () => provider.shutdown() };
}

/** Whether prompts and outputs may be put in span attributes (MULE_LOG_CONTENT=true with tracing on). */
export function tracingContentAllowed(): boolean {
  return enabled && contentAllowed;
}

export const tracer = trace.getTracer('mule');

/** Runs `fn` in a new active span, ending it (and recording a thrown error) when `fn` settles. */
export async function inSpan<T>(name: string, options: SpanOptions, fn: (span: Span) => Promise<T>, parent?: Context): Promise<T> {
  return tracer.startActiveSpan(name, options, parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * The active trace context as stored with a job: the W3C traceparent, then a newline and the tracestate if any.
 * Null when tracing is off or nothing is being traced.
 */
export function currentTraceContext(): string | null {
  if (!enabled) return null;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  if (!carrier.traceparent) return null;
  return carrier.tracestate ? `${carrier.traceparent}\n${carrier.tracestate}` : carrier.traceparent;
}

/** The trace context to store with a job that `span` starts, as currentTraceContext gives it inside that span. */
export function traceContextIn(span: Span): string | null {
  return context.with(trace.setSpan(context.active(), span), currentTraceContext);
}

/** The context a stored trace context names (ROOT_CONTEXT when none or tracing is off). */
export function contextFromStored(stored: string | null | undefined): Context {
  if (!enabled || !stored) return ROOT_CONTEXT;
  const [traceparent, tracestate] = stored.split('\n');
  return propagation.extract(ROOT_CONTEXT, tracestate ? { traceparent, tracestate } : { traceparent });
}

/** Extracts a caller's W3C headers (traceparent, tracestate) from an incoming request's headers. */
export function contextFromHeaders(headers: Record<string, string | string[] | undefined>): Context {
  if (!enabled) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, headers);
}

/** The active span's trace id when tracing is on and the span is recorded (its trace reaches the backend). */
export function activeTraceId(): string | undefined {
  if (!enabled) return undefined;
  const span = trace.getSpan(context.active());
  return span?.isRecording() ? span.spanContext().traceId : undefined;
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}/;

/** The trace id in a stored trace context, without loading anything (job views and log lines). */
export function traceIdOf(stored: string | null | undefined): string | null {
  return stored ? (TRACEPARENT.exec(stored)?.[1] ?? null) : null;
}

/** The span context a stored trace context names, for a link (a takeover links the trace it continues). */
export function spanContextOf(stored: string | null | undefined) {
  return trace.getSpanContext(contextFromStored(stored)) ?? null;
}
