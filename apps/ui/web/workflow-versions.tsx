/**
 * One workflow's versions (`GET /v1/workflows/{name}/versions`, newest first): pick one to see its graph and its
 * YAML, written as a definition file `mule apply` takes back (`kind: workflow` first, no read-only fields).
 */
import { useEffect, useState } from 'react';
import { stringify } from 'yaml';
import { api, type List } from './api.js';
import type { GraphStep } from './graph-layout.js';
import { StepGraph } from './step-graph.js';
import { when } from './status.js';

export type Definition = Record<string, unknown> & { name: string; updated_at?: string; version?: number };

interface WorkflowVersion {
  version: number;
  created_at: string;
  definition: Definition;
}

/** What a GET adds to a definition; a file to apply has none of it. */
const READ_ONLY = new Set(['object', 'version', 'created_at', 'updated_at']);

export function definitionYaml(kind: string, definition: Definition): string {
  const body = Object.fromEntries(Object.entries(definition).filter(([field]) => !READ_ONLY.has(field)));
  return stringify({ kind, ...body });
}

/** A workflow's steps as a graph: `needs` as written, or the list rule (each step needs the one before). */
export function workflowGraph(definition: Definition): GraphStep[] {
  const steps = Array.isArray(definition['steps']) ? (definition['steps'] as Record<string, unknown>[]) : [];
  const idOf = (i: number) => (typeof steps[i]?.['id'] === 'string' ? (steps[i]!['id'] as string) : `step ${i + 1}`);
  return steps.map((step, i) => ({
    id: idOf(i),
    type: ['agent', 'wasm', 'wait'].find((kind) => step[kind] !== undefined) ?? 'step',
    needs: Array.isArray(step['needs']) ? (step['needs'] as string[]) : i === 0 ? [] : [idOf(i - 1)],
  }));
}

export function WorkflowVersions({ name }: { name: string }) {
  const [versions, setVersions] = useState<WorkflowVersion[] | null>(null);
  const [chosen, setChosen] = useState<number | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    api<List<WorkflowVersion>>('GET', `/v1/workflows/${encodeURIComponent(name)}/versions`).then(
      (list) => setVersions(list.data),
      (error: Error) => setProblem(error.message),
    );
  }, [name]);

  if (problem) return <p role="alert" className="notice">{problem}</p>;
  if (!versions) return <p className="muted">Loading versions…</p>;
  const shown = versions.find((entry) => entry.version === chosen) ?? versions[0];
  if (!shown) return <p className="muted">No versions stored.</p>;
  return (
    <div className="versions">
      <div className="version-list" role="group" aria-label={`Versions of ${name}`}>
        {versions.map((entry) => (
          <button
            key={entry.version}
            type="button"
            className={entry === shown ? 'active' : 'secondary'}
            aria-pressed={entry === shown}
            onClick={() => setChosen(entry.version)}
          >
            Version {entry.version}
            <span className="version-date">{when(entry.created_at)}</span>
          </button>
        ))}
      </div>
      <h3>
        Version {shown.version}
        {shown === versions[0] ? <span className="muted"> (current)</span> : null}
      </h3>
      <StepGraph graph={workflowGraph(shown.definition)} />
      <h4 id={`yaml-${name}`}>YAML</h4>
      <pre className="json yaml" aria-labelledby={`yaml-${name}`}>
        {definitionYaml('workflow', shown.definition)}
      </pre>
    </div>
  );
}
