/**
 * /metrics for both processes: OpenMetrics when the scraper asks for it (Prometheus does, and keeps exemplars only
 * from it), the classic Prometheus text otherwise (curl, older scrapers, the tests that read it).
 *
 * prom-client renders one registry in the format it is set to, and its OpenMetrics render renames counters in place
 * (`mule_jobs_total` becomes `mule_jobs`, the OpenMetrics family name). So one render runs at a time, the format is
 * switched for it, and every metric's name is put back afterwards: a classic render after an OpenMetrics one still
 * says `mule_jobs_total`. Renders are a scrape every few seconds per scraper, so waiting for each other costs nothing
 * that matters.
 */
import { Registry, register as defaultRegister, type RegistryContentType } from 'prom-client';

/** The process's one registry, whose format each render sets. */
const register = defaultRegister as unknown as Registry<RegistryContentType>;

const OPENMETRICS = 'application/openmetrics-text';

/**
 * Whether an Accept header prefers OpenMetrics over the classic text. Prometheus 3 sends
 * `application/openmetrics-text;version=1.0.0;q=0.6,…,text/plain;version=0.0.4;q=0.3,*\/*;q=0.2`; curl sends `*\/*`.
 */
export function prefersOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  let openMetrics = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    const qParam = params.find((param) => param.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === OPENMETRICS) openMetrics = Math.max(openMetrics, q);
    else if (type === 'text/plain' || type === 'text/*' || type === '*/*') text = Math.max(text, q);
  }
  return openMetrics > 0 && openMetrics >= text;
}

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

let previous: Promise<unknown> = Promise.resolve();

/** The registry's metrics in the format `accept` prefers. */
export function renderMetrics(accept: string | undefined): Promise<RenderedMetrics> {
  const contentType = prefersOpenMetrics(accept) ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE;
  const render = async (): Promise<RenderedMetrics> => {
    const names = register.getMetricsAsArray().map((metric) => [metric, metric.name] as const);
    register.setContentType(contentType);
    try {
      return { contentType, body: await register.metrics() };
    } finally {
      register.setContentType(Registry.PROMETHEUS_CONTENT_TYPE);
      for (const [metric, name] of names) (metric as { name: string }).name = name;
    }
  };
  const rendered = previous.then(render, render);
  previous = rendered.catch(() => undefined);
  return rendered;
}
