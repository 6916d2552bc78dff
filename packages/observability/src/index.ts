export { createLogger, type Logger } from './logger.js';
export { enableApiMetrics, enableWorkerMetrics, metrics, recordTokens, register, setJobCountsReader } from './metrics.js';
export type { JobCountsReading } from './metrics.js';
export { prefersOpenMetrics, renderMetrics, type RenderedMetrics } from './metrics-exposition.js';
export { TracedHistogram } from './traced-histogram.js';
export {
  activeTraceId,
  context,
  contextFromHeaders,
  contextFromStored,
  currentTraceContext,
  inSpan,
  spanContextOf,
  SpanKind,
  SpanStatusCode,
  startTracing,
  trace,
  traceContextIn,
  traceIdOf,
  tracer,
  tracingContentAllowed,
  type Span,
  type Tracing,
  type TracingConfig,
} from './tracing.js';
