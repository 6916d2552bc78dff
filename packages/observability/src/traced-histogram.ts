/**
 * A histogram whose observations carry the trace they were made in as an OpenMetrics exemplar
 * (`# {trace_id="…"} <value> <time>` on the bucket the value fell in), so a slow bucket in Grafana links to one
 * trace that landed there. Prometheus keeps exemplars only from OpenMetrics scrapes (metrics-exposition.ts); the
 * classic text format leaves them out.
 *
 * The trace is the one given, else the active span's: a worker observes a job's and a step's duration inside the
 * job's `invoke_workflow` span, so those call sites pass nothing. With tracing off no trace id is looked up and
 * nothing is stored beyond the plain histogram's counts.
 */
import { Histogram, register, type HistogramConfiguration, type LabelValues } from 'prom-client';
import { activeTraceId } from './tracing.js';

export class TracedHistogram<T extends string = string> {
  readonly histogram: Histogram<T>;

  constructor(config: HistogramConfiguration<T>) {
    // prom-client refuses a metric with exemplars in the constructor of one registered with a classic-format
    // registry (the default one is); it is registered below, and the OpenMetrics render shows its exemplars.
    this.histogram = new Histogram({ ...config, enableExemplars: true, registers: [] });
    register.registerMetric(this.histogram);
  }

  /** Observes `value` (seconds); `traceId` names the trace when the caller holds its span outside the active context. */
  observe(labels: LabelValues<T>, value: number, traceId?: string): void {
    const id = traceId ?? activeTraceId();
    // A trace id is 32 hex characters: `trace_id` and it stay far below the 128 characters OpenMetrics allows.
    const exemplarLabels = id ? ({ trace_id: id } as LabelValues<T>) : undefined;
    this.histogram.observe({ labels, value, ...(exemplarLabels ? { exemplarLabels } : {}) });
  }
}
