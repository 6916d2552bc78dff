/**
 * Validates rendered Kubernetes resources against the API's OpenAPI schemas (`kubernetes-models`) and KEDA's CRD
 * schemas (`@kubernetes-models/keda`), offline (the packages bundle the schemas). A kind with no known schema is an error, not a pass.
 * The schemas check types, required fields and enums; like the API server's OpenAPI, they do not reject unknown
 * fields, so the deploy tests also assert the fields that matter by name.
 */
import type { Resource } from './kustomize.js';

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** The module that holds the model of an apiVersion and kind. */
function modelModule(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
  if (group === 'keda.sh') return `@kubernetes-models/keda/keda.sh/${version}/${kind}`;
  if (group === '') return `kubernetes-models/v1/${kind}`;
  return `kubernetes-models/${group}/${version}/${kind}`;
}

/** Throws with the resource's name and the schema's complaints when it does not validate. */
export async function validateResource(resource: Resource): Promise<void> {
  const id = `${resource.apiVersion} ${resource.kind}/${resource.metadata.name}`;
  let model: ModelClass;
  try {
    const module = (await import(modelModule(resource.apiVersion, resource.kind))) as Record<string, ModelClass>;
    model = module[resource.kind]!;
    if (!model) throw new Error(`the module exports no ${resource.kind}`);
  } catch (error) {
    throw new Error(`${id}: no schema known for this kind (${(error as Error).message})`);
  }
  try {
    new model(resource).validate();
  } catch (error) {
    throw new Error(`${id}: ${(error as Error).message}`);
  }
}
