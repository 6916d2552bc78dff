/** One run: its graph, timeline and steps; cancel, replay with edited input, resume or reject a waiting step. */
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, watchJobs, type JobView } from './api.js';
import { Link, navigate } from './router.js';
import { duration, Json, Status, when } from './status.js';
import { StepGraph } from './step-graph.js';
import { Timeline } from './timeline.js';

const ACTIVE = ['queued', 'running'];
/** A running job's steps change without a job event: the page re-reads it every 2 s while it runs. */
const ACTIVE_REFRESH_MS = 2000;

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${what} is not valid JSON`);
  }
}

function WaitingStep({ job, stepId, onDone }: { job: JobView; stepId: string; onDone: (message: string) => void }) {
  const [output, setOutput] = useState('{\n  "approved": true\n}');
  const [reason, setReason] = useState('');
  const act = async (action: 'resume' | 'reject') => {
    try {
      const body = action === 'resume' ? { output: parseJson(output, 'The output') } : reason ? { reason } : {};
      await api('POST', `/v1/jobs/${job.id}/steps/${encodeURIComponent(stepId)}/${action}`, body);
      onDone(action === 'resume' ? `Resumed ${stepId}` : `Rejected ${stepId}`);
    } catch (error) {
      onDone((error as Error).message);
    }
  };
  return (
    <div className="card waiting">
      <h3>
        Step <code>{stepId}</code> is waiting
      </h3>
      <label htmlFor={`output-${stepId}`}>Output to resume with (JSON)</label>
      <textarea id={`output-${stepId}`} rows={4} value={output} onChange={(event) => setOutput(event.target.value)} />
      <label htmlFor={`reason-${stepId}`}>Reason to reject (optional)</label>
      <input id={`reason-${stepId}`} value={reason} onChange={(event) => setReason(event.target.value)} />
      <div className="row">
        <button type="button" onClick={() => void act('resume')}>
          Resume
        </button>
        <button type="button" className="danger" onClick={() => void act('reject')}>
          Reject
        </button>
      </div>
    </div>
  );
}

/** What the step's WASM module wrote to stderr (the api keeps the end of it when it is long). */
function StepLogs({ id, logs }: { id: string; logs: string }) {
  return (
    <div>
      <h4 id={id}>Logs</h4>
      <pre className="json logs" aria-labelledby={id}>
        {logs}
      </pre>
    </div>
  );
}

export function RunPage({ id }: { id: string }) {
  const [job, setJob] = useState<JobView | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [replayInput, setReplayInput] = useState<string | null>(null);
  const stepsHeading = useRef<HTMLHeadingElement>(null);
  // Picking a node shows that step's attempts below the timeline: bring them into view (on a phone they are far below).
  const pick = useCallback((step: string) => {
    setSelected((current) => (current === step ? null : step));
    requestAnimationFrame(() => stepsHeading.current?.scrollIntoView({ block: 'start' }));
  }, []);

  const load = useCallback(() => {
    api<JobView>('GET', `/v1/jobs/${encodeURIComponent(id)}`).then(setJob, (error: Error) => setMessage(error.message));
  }, [id]);

  useEffect(() => {
    setJob(null);
    load();
    const stop = new AbortController();
    watchJobs(stop.signal, (event) => event.id === id && load(), load);
    return () => stop.abort();
  }, [id, load]);

  const status = job?.status;
  useEffect(() => {
    if (!status || !ACTIVE.includes(status)) return;
    const timer = setInterval(load, ACTIVE_REFRESH_MS);
    return () => clearInterval(timer);
  }, [status, load]);

  if (!job) return message ? <p role="alert" className="error">{message}</p> : <p className="muted">Loading…</p>;

  const cancel = async () => {
    try {
      setJob(await api<JobView>('POST', `/v1/jobs/${job.id}/cancel`, {}));
      setMessage('Cancelled');
    } catch (error) {
      setMessage((error as Error).message);
    }
  };
  const replay = async () => {
    try {
      const body = replayInput === null ? {} : { input: parseJson(replayInput, 'The input') };
      const created = await api<{ id: string }>('POST', `/v1/jobs/${job.id}/replay`, body);
      setReplayInput(null);
      navigate(`/runs/${created.id}`);
    } catch (error) {
      setMessage((error as Error).message);
    }
  };
  const waiting = job.steps.filter((step) => step.status === 'waiting' && step.item === undefined);
  const shownSteps = selected ? job.steps.filter((step) => step.id === selected) : job.steps;

  return (
    <section>
      <p>
        <Link to="/runs">← Runs</Link>
      </p>
      <div className="heading">
        <h1 className="mono">{job.id}</h1>
        <Status status={job.status} />
      </div>
      <dl className="facts">
        <dt>Workflow</dt>
        <dd>
          {job.workflow} v{job.workflow_version}
        </dd>
        <dt>Created</dt>
        <dd>{when(job.created_at)}</dd>
        <dt>Started</dt>
        <dd>{when(job.started_at)}</dd>
        <dt>Finished</dt>
        <dd>{when(job.completed_at)}</dd>
        <dt>Claims</dt>
        <dd>{job.attempts}</dd>
        {job.replay_of ? (
          <>
            <dt>Replay of</dt>
            <dd className="mono">
              <Link to={`/runs/${job.replay_of}`}>{job.replay_of}</Link>
            </dd>
          </>
        ) : null}
        {job.trigger ? (
          <>
            <dt>Trigger</dt>
            <dd>{job.trigger}</dd>
          </>
        ) : null}
      </dl>
      <div className="toolbar">
        <button type="button" className="danger" disabled={!['queued', 'running', 'waiting'].includes(job.status)} onClick={() => void cancel()}>
          Cancel
        </button>
        <button type="button" onClick={() => void replay()}>
          Replay
        </button>
        <button type="button" className="secondary" onClick={() => setReplayInput(replayInput === null ? JSON.stringify(job.input, null, 2) : null)}>
          {replayInput === null ? 'Edit input for replay' : 'Keep the input as it was'}
        </button>
      </div>
      {replayInput !== null ? (
        <div className="card">
          <label htmlFor="replay-input">Input for the replay (JSON)</label>
          <textarea id="replay-input" rows={6} value={replayInput} onChange={(event) => setReplayInput(event.target.value)} />
        </div>
      ) : null}
      {message ? <p role="alert" className="notice">{message}</p> : null}
      {waiting.map((step) => (
        <WaitingStep
          key={step.id}
          job={job}
          stepId={step.id}
          onDone={(text) => {
            setMessage(text);
            load();
          }}
        />
      ))}
      <h2>Graph</h2>
      <StepGraph graph={job.graph} steps={job.steps} selected={selected} onSelect={pick} />
      <h2>Timeline</h2>
      <Timeline job={job} />
      <h2 ref={stepsHeading}>
        Steps{' '}
        {selected ? (
          <button type="button" className="secondary" onClick={() => setSelected(null)}>
            Show all steps
          </button>
        ) : null}
      </h2>
      <div className="steps">
        {shownSteps.map((step) => (
          <details key={`${step.id}-${step.item ?? ''}-${step.attempt}`} className="card step" data-step={step.id} open={selected === step.id || undefined}>
            <summary>
              <strong>{step.id}</strong>
              {step.item === undefined ? '' : ` [item ${step.item}]`} <span className="muted">{step.type}</span> · attempt {step.attempt} ·{' '}
              <Status status={step.status} /> · {duration(step.duration_ms)}
            </summary>
            <div className="grid2">
              <div>
                <h4>Input</h4>
                <Json value={step.input} />
              </div>
              <div>
                <h4>Output</h4>
                <Json value={step.output} />
              </div>
              <div>
                <h4>Error</h4>
                <Json value={step.error} />
              </div>
              <div>
                <h4>Usage</h4>
                <Json value={step.usage} />
              </div>
            </div>
            {step.logs ? <StepLogs id={`logs-${step.id}-${step.item ?? ''}-${step.attempt}`} logs={step.logs} /> : null}
            <p className="muted">
              started {when(step.started_at)} · finished {when(step.completed_at)}
              {step.wait_until ? ` · waits until ${when(step.wait_until)}` : ''}
            </p>
          </details>
        ))}
      </div>
      <h2>Job input and output</h2>
      <div className="grid2">
        <div>
          <h4>Input</h4>
          <Json value={job.input} />
        </div>
        <div>
          <h4>{job.error ? 'Error' : 'Output'}</h4>
          <Json value={job.error ?? job.output} />
        </div>
      </div>
    </section>
  );
}
