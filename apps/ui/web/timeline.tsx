/** A run's step attempts on one time axis (SVG): one bar per attempt, retries and for_each items included. */
import type { JobView, StepView } from './api.js';

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
