/**
 * deploy/ for traces and exemplars, checked offline: Prometheus keeps exemplars, Grafana's Prometheus datasource links
 * the exemplar label the processes emit to the Tempo datasource, the dashboard shows exemplars on the histograms
 * that carry them, and the Kubernetes manifests wire the OTEL_* variables (tracing off by default, pods named in
 * OTEL_RESOURCE_ATTRIBUTES).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { metrics, renderMetrics, TracedHistogram } from '@mule/observability';
import { loadApiConfig } from '../apps/api/src/config.js';
import { loadWorkerConfig } from '../apps/worker/src/config.js';
import { containersOf, kustomize, readYamlDocuments, type Resource } from './support/kustomize.js';
import { REPO_ROOT } from './support/processes.js';

type Obj = Record<string, any>;
const DEPLOY = join(REPO_ROOT, 'deploy');
const DATABASE_URL = 'postgres://mule:secret@postgres.example:5432/mule';

/** The exemplar label names the processes emit, read from a real OpenMetrics render. */
async function exemplarLabelNames(): Promise<Set<string>> {
  metrics.jobDuration.observe({ workflow: 'deploy-check' }, 0.1, 'f'.repeat(32));
  const { body } = await renderMetrics('application/openmetrics-text');
  return new Set([...body.matchAll(/ # \{(\w+)="f{32}"\}/g)].map(([, name]) => name!));
}

describe('exemplars in compose and Grafana', () => {
  test('Prometheus runs with exemplar storage', () => {
    const compose = parseYaml(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8'), { merge: true }) as Obj;
    expect(compose['services'].prometheus.command).toContain('--enable-feature=exemplar-storage');
  });

  test("the Prometheus datasource links the processes' exemplar label to the Tempo datasource", async () => {
    const [prometheus] = readYamlDocuments(join(DEPLOY, 'grafana', 'provisioning', 'datasources', 'prometheus.yaml')) as Obj[];
    const [tempo] = readYamlDocuments(join(DEPLOY, 'grafana', 'provisioning', 'datasources', 'tempo.yaml')) as Obj[];
    const destinations = prometheus!['datasources'][0].jsonData.exemplarTraceIdDestinations as Obj[];
    expect(await exemplarLabelNames()).toEqual(new Set(['trace_id']));
    expect(destinations).toEqual([{ name: 'trace_id', datasourceUid: tempo!['datasources'][0].uid }]);
  });

  test('the dashboard asks for exemplars on exactly the histograms that carry them, once per panel', () => {
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'mule-dashboard.json'), 'utf8')) as Obj;
    const traced = Object.values(metrics)
      .filter((metric) => metric instanceof TracedHistogram)
      .map((metric) => (metric.histogram as unknown as { name: string }).name);
    expect(traced.sort()).toEqual(['mule_http_request_duration_seconds', 'mule_job_duration_seconds', 'mule_step_duration_seconds']);
    const withExemplars = (dashboard['panels'] as Obj[]).flatMap((panel) => ((panel['targets'] ?? []) as Obj[]).filter((target) => target['exemplar'] === true).map((target) => ({ panel: panel['id'], expr: target['expr'] as string })));
    const named = withExemplars.map(({ expr }) => /\b(mule_[a-z_]+)_bucket\b/.exec(expr)?.[1]);
    expect(named.sort()).toEqual(traced.sort());
    // Two queries of one panel with exemplars would draw every exemplar twice.
    expect(new Set(withExemplars.map(({ panel }) => panel)).size).toBe(withExemplars.length);
  });
});

describe('tracing in the Kubernetes manifests', () => {
  const renders = ['base', 'overlays/example', 'overlays/example-cpu-hpa'].map((dir) => [dir, kustomize(join(DEPLOY, 'k8s', dir))] as const);
  const find = (resources: Resource[], kind: string, name: string) => resources.find((resource) => resource.kind === kind && resource.metadata.name === name) as Obj;

  test.each(renders)('%s: the ConfigMap holds the OTEL_* variables, the endpoint empty, so api and workers start with tracing off', (_dir, resources) => {
    const config = find(resources, 'ConfigMap', 'mule-config')['data'] as Record<string, string>;
    expect(config).toMatchObject({ OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' });
    expect(loadApiConfig({ ...config, DATABASE_URL }).OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    expect(loadWorkerConfig({ ...config, DATABASE_URL }).OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    // What an overlay's patch sets to turn it on is accepted by both processes.
    const on = { ...config, DATABASE_URL, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability:4318' };
    expect(loadApiConfig(on).OTEL_EXPORTER_OTLP_ENDPOINT).toBe(on.OTEL_EXPORTER_OTLP_ENDPOINT);
    expect(loadWorkerConfig(on)).toMatchObject({ OTEL_EXPORTER_OTLP_ENDPOINT: on.OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' });
  });

  test.each(renders)("%s: api and worker pods name themselves in OTEL_RESOURCE_ATTRIBUTES from the downward API, defined before use", (_dir, resources) => {
    for (const name of ['mule-api', 'mule-worker']) {
      const [container] = containersOf(find(resources, 'Deployment', name) as Resource) as Obj[];
      const env = container!['env'] as Obj[];
      const index = env.findIndex((variable) => variable['name'] === 'OTEL_RESOURCE_ATTRIBUTES');
      expect(index).toBeGreaterThan(0);
      const value = env[index]!['value'] as string;
      expect(value).toBe('k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE)');
      // Kubernetes expands $(VAR) only from variables listed earlier in the same container.
      const earlier = new Map(env.slice(0, index).map((variable) => [variable['name'] as string, variable]));
      for (const [, referenced] of value.matchAll(/\$\((\w+)\)/g)) {
        expect(earlier.get(referenced!)?.['valueFrom']?.fieldRef?.fieldPath).toMatch(/^metadata\.(name|namespace)$/);
      }
    }
  });
});
