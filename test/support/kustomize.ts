/**
 * Renders a kustomization offline, for the subset deploy/k8s uses: `resources` (files and directories),
 * `components`, `patches` (strategic merge, matched on kind and name), `namespace`, `replicas` and `images`. No
 * kustomize binary exists on these machines, and npm has no offline renderer; a Go binary downloaded at install
 * time is not allowed. Anything outside the subset throws, so a manifest never renders differently here than
 * under `kubectl apply -k` without the tests noticing.
 *
 * Transformers run in kustomize's order (patches, namespace, replicas, images), components after the resources
 * and before the kustomization's own transformers, as kustomize does.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  components?: string[];
  patches?: { path?: string; patch?: string; target?: unknown; options?: unknown }[];
  replicas?: { name: string; count: number }[];
  images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
}

const SUPPORTED_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'components', 'patches', 'replicas', 'images']);

/** Kinds that live outside namespaces: the namespace transformer leaves them alone. */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'ClusterTriggerAuthentication',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
]);

/** Kinds whose pod templates the images transformer rewrites, and where their pod spec is. */
const POD_SPEC_PATHS: Record<string, string[]> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

const SCALABLE = new Set(['Deployment', 'StatefulSet', 'ReplicaSet', 'ReplicationController']);

/** Every document of a YAML file (empty documents skipped); throws on the first syntax error. */
export function readYamlDocuments(file: string): unknown[] {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'));
  if (!Array.isArray(documents)) throw new Error(`${file}: not a YAML stream`);
  return documents.flatMap((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]!.message}`);
    const value = document.toJS() as unknown;
    return value === null || value === undefined ? [] : [value];
  });
}

/** Renders the kustomization in `dir` (kustomization.yaml), like `kubectl kustomize dir`. */
export function kustomize(dir: string): Resource[] {
  return build(dir, readKustomization(dir, 'Kustomization'), []);
}

function readKustomization(dir: string, kind: 'Kustomization' | 'Component'): Kustomization {
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((name) => join(dir, name)).find(existsSync);
  if (!file) throw new Error(`${dir}: no kustomization.yaml`);
  const [kustomization, ...rest] = readYamlDocuments(file) as Kustomization[];
  if (!kustomization || rest.length > 0) throw new Error(`${file}: expected exactly one document`);
  if ((kustomization.kind ?? 'Kustomization') !== kind) throw new Error(`${file}: expected kind ${kind}, found ${kustomization.kind}`);
  const unsupported = Object.keys(kustomization).filter((field) => !SUPPORTED_FIELDS.has(field));
  if (unsupported.length > 0) throw new Error(`${file}: this renderer does not support ${unsupported.join(', ')}`);
  return kustomization;
}

function build(dir: string, kustomization: Kustomization, inherited: Resource[]): Resource[] {
  let resources = [...inherited];
  for (const entry of kustomization.resources ?? []) {
    const path = join(dir, entry);
    const added = statSync(path).isDirectory() ? kustomize(path) : readResources(path);
    for (const resource of added) {
      if (resources.some((existing) => sameId(existing, resource))) throw new Error(`${path}: ${idOf(resource)} is defined twice`);
      resources.push(resource);
    }
  }
  for (const entry of kustomization.components ?? []) {
    const componentDir = join(dir, entry);
    resources = build(componentDir, readKustomization(componentDir, 'Component'), resources);
  }
  for (const patch of kustomization.patches ?? []) {
    if (patch.target !== undefined || patch.options !== undefined || patch.patch !== undefined || !patch.path) {
      throw new Error(`${dir}: only \`patches: - path: <strategic merge patch file>\` is supported`);
    }
    for (const document of readYamlDocuments(join(dir, patch.path))) resources = applyPatch(resources, document as Resource, join(dir, patch.path));
  }
  if (kustomization.namespace) {
    for (const resource of resources) {
      if (!CLUSTER_SCOPED.has(resource.kind)) resource.metadata.namespace = kustomization.namespace;
    }
  }
  for (const { name, count } of kustomization.replicas ?? []) {
    const targets = resources.filter((resource) => SCALABLE.has(resource.kind) && resource.metadata.name === name);
    if (targets.length === 0) throw new Error(`${dir}: replicas names ${name}, which is not a Deployment, StatefulSet or ReplicaSet here`);
    for (const target of targets) (target['spec'] as JsonObject)['replicas'] = count;
  }
  for (const image of kustomization.images ?? []) {
    let matched = false;
    for (const resource of resources) {
      for (const container of containersOf(resource)) {
        const { name, tag, digest } = splitImage(String(container['image']));
        if (name !== image.name) continue;
        matched = true;
        const newDigest = image.digest ?? (image.newTag === undefined ? digest : undefined);
        const newTag = image.newTag ?? (image.digest === undefined ? tag : undefined);
        container['image'] = `${image.newName ?? name}${newTag ? `:${newTag}` : ''}${newDigest ? `@${newDigest}` : ''}`;
      }
    }
    if (!matched) throw new Error(`${dir}: images names ${image.name}, which no container uses`);
  }
  return resources;
}

function readResources(file: string): Resource[] {
  return readYamlDocuments(file).map((document) => {
    const resource = document as Resource;
    if (typeof resource.apiVersion !== 'string' || typeof resource.kind !== 'string' || typeof resource.metadata?.name !== 'string') {
      throw new Error(`${file}: every document needs apiVersion, kind and metadata.name`);
    }
    return resource;
  });
}

function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
}

function sameId(a: Resource, b: Resource): boolean {
  return groupOf(a.apiVersion) === groupOf(b.apiVersion) && a.kind === b.kind && a.metadata.name === b.metadata.name && a.metadata.namespace === b.metadata.namespace;
}

function idOf(resource: Resource): string {
  return `${resource.kind}/${resource.metadata.name}`;
}

/** A strategic merge patch: matched on group, kind and name (and namespace when the patch names one). */
function applyPatch(resources: Resource[], patch: Resource, file: string): Resource[] {
  const matches = (resource: Resource) =>
    groupOf(resource.apiVersion) === groupOf(patch.apiVersion) &&
    resource.kind === patch.kind &&
    resource.metadata.name === patch.metadata?.name &&
    (patch.metadata.namespace === undefined || resource.metadata.namespace === patch.metadata.namespace);
  const targets = resources.filter(matches);
  if (targets.length !== 1) throw new Error(`${file}: the patch of ${idOf(patch)} matches ${targets.length} resources, expected 1`);
  if ((patch as JsonObject)['$patch'] === 'delete') return resources.filter((resource) => !matches(resource));
  const { $patch, ...body } = patch as unknown as JsonObject;
  if ($patch !== undefined) throw new Error(`${file}: unsupported $patch: ${String($patch)}`);
  const builtIn = !groupOf(patch.apiVersion).includes('.') || groupOf(patch.apiVersion).endsWith('.k8s.io');
  return resources.map((resource) => (matches(resource) ? (mergeObject(resource as unknown as JsonObject, body, builtIn, file) as unknown as Resource) : resource));
}

/**
 * Strategic merge of two objects: maps merge key by key, `null` removes a key. Lists of built-in kinds whose items
 * carry a `name` (containers, env, ports, volumes…) merge item by item on it; every other list is replaced, which
 * is what kustomize does for custom resources, whose schema it does not know.
 */
function mergeObject(base: JsonObject, patch: JsonObject, builtIn: boolean, file: string): JsonObject {
  const merged: JsonObject = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) throw new Error(`${file}: unsupported directive ${key}`);
    const current = merged[key];
    if (value === null) delete merged[key];
    else if (isObject(value) && isObject(current)) merged[key] = mergeObject(current, value, builtIn, file);
    else if (Array.isArray(value) && Array.isArray(current) && builtIn && value.every(isNamed) && current.every(isNamed)) {
      const items = current.map((item) => {
        const update = value.find((candidate) => (candidate as JsonObject)['name'] === (item as JsonObject)['name']);
        return update ? mergeObject(item as JsonObject, update as JsonObject, builtIn, file) : item;
      });
      const added = value.filter((candidate) => !current.some((item) => (item as JsonObject)['name'] === (candidate as JsonObject)['name']));
      merged[key] = [...items, ...added];
    } else merged[key] = structuredClone(value);
  }
  return merged;
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNamed(value: Json): boolean {
  return isObject(value) && typeof value['name'] === 'string';
}

/** The containers and init containers of a resource's pod template (none for other kinds). */
export function containersOf(resource: Resource): JsonObject[] {
  const path = POD_SPEC_PATHS[resource.kind];
  if (!path) return [];
  let spec: Json | undefined = resource as unknown as JsonObject;
  for (const key of path) spec = isObject(spec) ? spec[key] : undefined;
  if (!isObject(spec)) return [];
  return [...((spec['initContainers'] as JsonObject[] | undefined) ?? []), ...((spec['containers'] as JsonObject[] | undefined) ?? [])];
}

function splitImage(image: string): { name: string; tag?: string; digest?: string } {
  const [rest, digest] = image.split('@') as [string, string | undefined];
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), ...(digest ? { digest } : {}) };
  return { name: rest, ...(digest ? { digest } : {}) };
}
