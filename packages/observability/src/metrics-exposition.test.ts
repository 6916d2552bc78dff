/**
 * /metrics content negotiation: the Accept headers of real scrapers pick OpenMetrics, curl's and a plain text/plain
 * the classic format; renders asked for at once in both formats each come out whole in their own format.
 */
import { expect, test } from '@jest/globals';
import { metrics } from './metrics.js';
import { prefersOpenMetrics, renderMetrics } from './metrics-exposition.js';

const PROMETHEUS_3 =
  'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2';
const PROMETHEUS_2 = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
// With native histograms on, Prometheus asks for protobuf first; OpenMetrics is the best of what is served.
const PROMETHEUS_PROTOBUF_FIRST =
  'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,application/openmetrics-text;version=1.0.0;q=0.6,text/plain;version=0.0.4;q=0.3,*/*;q=0.2';

test.each([
  ['Prometheus 3', true, PROMETHEUS_3],
  ['Prometheus 2', true, PROMETHEUS_2],
  ['Prometheus with protobuf first', true, PROMETHEUS_PROTOBUF_FIRST],
  ['OpenMetrics alone, any case and spacing', true, ' Application/OpenMetrics-Text ; version=1.0.0'],
  ['curl', false, '*/*'],
  ['no Accept header', false, undefined],
  ['the classic text', false, 'text/plain;version=0.0.4'],
  ['OpenMetrics refused (q=0)', false, 'application/openmetrics-text;q=0,*/*'],
  ['the classic text preferred', false, 'text/plain;q=0.9,application/openmetrics-text;q=0.5'],
  ['a malformed q', false, 'application/openmetrics-text;q=abc'],
] as const)('%s: OpenMetrics %s', (_name, expected, accept) => {
  expect(prefersOpenMetrics(accept)).toBe(expected);
});

test('renders asked for at once in both formats each come out whole, counters keeping their _total name in the classic one', async () => {
  metrics.jobs.inc({ workflow: 'negotiated', status: 'completed' });
  const [open, classic, openAgain, classicAgain] = await Promise.all([
    renderMetrics(PROMETHEUS_3),
    renderMetrics('*/*'),
    renderMetrics(PROMETHEUS_3),
    renderMetrics(undefined),
  ]);
  for (const rendered of [open, openAgain]) {
    expect(rendered.contentType).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(rendered.body).toContain('# TYPE mule_jobs counter\n');
    expect(rendered.body).toContain('mule_jobs_total{workflow="negotiated",status="completed"} 1\n');
    expect(rendered.body.endsWith('# EOF\n')).toBe(true);
  }
  for (const rendered of [classic, classicAgain]) {
    expect(rendered.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(rendered.body).toContain('# TYPE mule_jobs_total counter\n');
    expect(rendered.body).toContain('mule_jobs_total{workflow="negotiated",status="completed"} 1\n');
    expect(rendered.body).not.toContain('# EOF');
  }
});
