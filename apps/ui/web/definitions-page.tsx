/**
 * Definitions (admin keys, or an open api): workflows with their versions, each with its graph and YAML; agents,
 * providers (never keys), modules, MCP servers, triggers.
 */
import { useEffect, useState } from 'react';
import { api, ApiError, type List } from './api.js';
import { Json, when } from './status.js';
import { WorkflowVersions, type Definition } from './workflow-versions.js';

const KINDS = [
  { name: 'Workflows', path: '/v1/workflows' },
  { name: 'Agents', path: '/v1/agents' },
  { name: 'Providers', path: '/v1/providers' },
  { name: 'Modules', path: '/v1/wasm/modules' },
  { name: 'MCP servers', path: '/v1/mcp_servers' },
  { name: 'Triggers', path: '/v1/triggers' },
] as const;

/** What a row shows next to the name: the fields that tell definitions of a kind apart. */
function summary(definition: Definition): string {
  const parts: string[] = [];
  for (const field of ['type', 'kind', 'model', 'provider', 'workflow', 'schedule', 'url', 'base_url', 'sha256', 'size']) {
    const value = definition[field];
    if (typeof value === 'string' || typeof value === 'number') parts.push(`${field}: ${field === 'sha256' ? String(value).slice(0, 12) : value}`);
  }
  if (definition['has_api_key'] !== undefined) parts.push(definition['has_api_key'] ? 'key stored' : 'no key stored');
  return parts.join(' · ');
}

function DefinitionSummary({ definition }: { definition: Definition }) {
  return (
    <summary>
      <strong>{definition.name}</strong>
      {definition.version !== undefined ? <span className="muted"> · version {definition.version}</span> : null}
      {summary(definition) ? <span className="muted"> · {summary(definition)}</span> : null}
      <span className="muted"> · updated {when(definition.updated_at)}</span>
    </summary>
  );
}

/** A workflow reads its versions when it is opened, not before: a long list of workflows costs one request. */
function WorkflowCard({ definition }: { definition: Definition }) {
  const [open, setOpen] = useState(false);
  return (
    <details className="card" data-workflow={definition.name} onToggle={(event) => setOpen(event.currentTarget.open)}>
      <DefinitionSummary definition={definition} />
      {open ? <WorkflowVersions name={definition.name} /> : null}
    </details>
  );
}

export function DefinitionsPage() {
  const [kind, setKind] = useState<(typeof KINDS)[number]>(KINDS[0]);
  const [rows, setRows] = useState<Definition[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    setRows(null);
    setProblem(null);
    api<List<Definition>>('GET', kind.path).then(
      (list) => setRows(list.data),
      (error: Error) => setProblem(error instanceof ApiError && error.status === 403 ? 'Definitions need an admin API key.' : error.message),
    );
  }, [kind]);

  return (
    <section>
      <h1>Definitions</h1>
      <div className="tabs" role="tablist" aria-label="Kinds of definition">
        {KINDS.map((entry) => (
          <button key={entry.path} type="button" role="tab" aria-selected={entry === kind} className={entry === kind ? 'active' : 'secondary'} onClick={() => setKind(entry)}>
            {entry.name}
          </button>
        ))}
      </div>
      {problem ? <p role="alert" className="notice">{problem}</p> : null}
      {rows === null && !problem ? <p className="muted">Loading…</p> : null}
      {rows?.length === 0 ? <p className="muted">None defined.</p> : null}
      {rows?.map((definition) =>
        kind.path === '/v1/workflows' ? (
          <WorkflowCard key={definition.name} definition={definition} />
        ) : (
          <details key={definition.name} className="card">
            <DefinitionSummary definition={definition} />
            <Json value={definition} />
          </details>
        ),
      )}
      {kind.path === '/v1/workflows' && rows?.length ? (
        <p className="muted">Jobs keep the version they were created with (a run's graph is that version's).</p>
      ) : null}
    </section>
  );
}
