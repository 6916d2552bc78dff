/**
 * A job's steps as a layered graph in plain SVG: a step's column is the length of the longest chain of `needs`
 * before it, its row its place in that column. Each node says its status in text, not by colour alone.
 */
import type { JobView, StepView } from './api.js';

type Graph = JobView['graph'];

const W = 150;
const H = 44;
const GAP_X = 50;
const GAP_Y = 16;

/** The step's status: its own row (item null) at the latest attempt, else its items' worst; `pending` when none. */
export function stepStatus(steps: StepView[], id: string): string {
  const rows = steps.filter((step) => step.id === id);
  const own = rows.filter((step) => step.item === undefined).sort((a, b) => b.attempt - a.attempt)[0];
  if (own) return own.status;
  if (rows.length === 0) return 'pending';
  for (const status of ['failed', 'running', 'waiting', 'cancelled']) if (rows.some((step) => step.status === status)) return status;
  return rows[0]!.status;
}

export function StepGraph({ graph, steps, selected, onSelect }: { graph: Graph; steps?: StepView[]; selected?: string | null; onSelect?: (id: string) => void }) {
  const job = { graph, steps: steps ?? [] };
  const depth = new Map<string, number>();
  const byId = new Map(job.graph.map((step) => [step.id, step]));
  const depthOf = (id: string, seen: Set<string>): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    if (seen.has(id)) return 0;
    seen.add(id);
    const needs = byId.get(id)?.needs ?? [];
    const value = needs.length === 0 ? 0 : 1 + Math.max(...needs.map((need) => depthOf(need, seen)));
    depth.set(id, value);
    return value;
  };
  const columns: string[][] = [];
  for (const step of job.graph) (columns[depthOf(step.id, new Set())] ??= []).push(step.id);
  const place = new Map<string, { x: number; y: number }>();
  columns.forEach((ids, column) => ids.forEach((id, row) => place.set(id, { x: 10 + column * (W + GAP_X), y: 10 + row * (H + GAP_Y) })));
  const width = 20 + columns.length * (W + GAP_X) - GAP_X;
  const height = 20 + Math.max(1, ...columns.map((ids) => ids.length)) * (H + GAP_Y) - GAP_Y;

  if (job.graph.length === 0) return <p className="muted">This job has no graph to show.</p>;
  return (
    <div className="graph-wrap">
      <svg className="graph" viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={`Graph of ${job.graph.length} steps`}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto">
            <path d="M0,0 L10,5 L0,10 z" className="edge-head" />
          </marker>
        </defs>
        {job.graph.flatMap((step) =>
          step.needs.map((need) => {
            const from = place.get(need);
            const to = place.get(step.id);
            if (!from || !to) return null;
            const x1 = from.x + W;
            const y1 = from.y + H / 2;
            const x2 = to.x;
            const y2 = to.y + H / 2;
            const mid = (x1 + x2) / 2;
            return <path key={`${need}>${step.id}`} className="edge" d={`M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`} markerEnd="url(#arrow)" />;
          }),
        )}
        {job.graph.map((step) => {
          const at = place.get(step.id)!;
          const status = steps ? stepStatus(steps, step.id) : 'defined';
          return (
            <g
              key={step.id}
              className={`node node-${status}${selected === step.id ? ' selected' : ''}`}
              transform={`translate(${at.x},${at.y})`}
              onClick={() => onSelect?.(step.id)}
              data-step={step.id}
            >
              <title>{`${step.id} (${step.type}): ${status}`}</title>
              <rect width={W} height={H} rx="6" />
              <text x="10" y="18" className="node-id">
                {step.id.length > 18 ? `${step.id.slice(0, 17)}…` : step.id}
              </text>
              <text x="10" y="35" className="node-status">
                {`${step.type} · ${status}`}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

/** Step attempts on one time axis, from the job's start: where the time went, retries and items included. */
export function Timeline({ job }: { job: JobView }) {
  const rows = job.steps.filter((step) => step.started_at).sort((a, b) => a.started_at!.localeCompare(b.started_at!));
  if (rows.length === 0) return <p className="muted">No step has started yet.</p>;
  const start = Date.parse(job.started_at ?? rows[0]!.started_at!);
  const endOf = (step: StepView) => (step.completed_at ? Date.parse(step.completed_at) : Date.now());
  const span = Math.max(1, ...rows.map((step) => endOf(step) - start));
  const LABEL = 200;
  const BAR = 400;
  return (
    <svg className="timeline" viewBox={`0 0 ${LABEL + BAR + 90} ${rows.length * 22 + 4}`} role="img" aria-label="Timeline of step attempts">
      {rows.map((step, i) => {
        const x = LABEL + ((Date.parse(step.started_at!) - start) / span) * BAR;
        const w = Math.max(2, ((endOf(step) - Date.parse(step.started_at!)) / span) * BAR);
        const name = `${step.id}${step.item === undefined ? '' : `[${step.item}]`}${step.attempt > 1 ? ` #${step.attempt}` : ''}`;
        return (
          <g key={`${step.id}-${step.item ?? ''}-${step.attempt}`} transform={`translate(0,${i * 22 + 2})`} className={`bar-${step.status}`}>
            <title>{`${name}: ${step.status}, ${step.duration_ms ?? '…'} ms`}</title>
            <text x="0" y="14">{name.length > 28 ? `${name.slice(0, 27)}…` : name}</text>
            <rect x={x} y="3" width={w} height="14" rx="3" />
            <text x={LABEL + BAR + 6} y="14" className="muted-text">
              {step.duration_ms === null ? step.status : `${Math.round(step.duration_ms)} ms`}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
