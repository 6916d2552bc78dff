/** Runs: the caller's jobs, newest first, filtered, updated live by /v1/events; bulk cancel and replay. */
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, watchJobs, type JobView, type List } from './api.js';
import { Link } from './router.js';
import { duration, Status, when } from './status.js';

const STATUSES = ['queued', 'running', 'waiting', 'completed', 'failed', 'cancelled'];
const SINCE: Record<string, number> = { any: 0, '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 };
const PAGE = 50;

function took(job: JobView): number | null {
  if (!job.started_at) return null;
  return (job.completed_at ? Date.parse(job.completed_at) : Date.now()) - Date.parse(job.started_at);
}

export function RunsPage() {
  const [status, setStatus] = useState('');
  const [workflow, setWorkflow] = useState('');
  const [since, setSince] = useState('any');
  const [jobs, setJobs] = useState<JobView[]>([]);
  const [hasMore, setHasMore] = useState(false);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [message, setMessage] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  const filters = useRef({ status, workflow });
  filters.current = { status, workflow };

  const query = useCallback((after?: string) => {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (filters.current.status) params.set('status', filters.current.status);
    if (filters.current.workflow.trim()) params.set('workflow', filters.current.workflow.trim());
    if (after) params.set('after', after);
    return `/v1/jobs?${params.toString()}`;
  }, []);

  const reload = useCallback(() => {
    api<List<JobView>>('GET', query()).then(
      (list) => {
        setJobs(list.data);
        setHasMore(list.has_more ?? false);
        setMessage(null);
      },
      (error: Error) => setMessage(error.message),
    );
  }, [query]);

  useEffect(reload, [reload, status, workflow]);

  useEffect(() => {
    const stop = new AbortController();
    watchJobs(
      stop.signal,
      (event) => {
        const { status: wantStatus, workflow: wantWorkflow } = filters.current;
        setJobs((current) => {
          const index = current.findIndex((job) => job.id === event.id);
          if (index >= 0) {
            const next = [...current];
            next[index] = { ...next[index]!, status: event.status };
            if (wantStatus && event.status !== wantStatus) next.splice(index, 1);
            return next;
          }
          return current;
        });
        if ((wantStatus && event.status !== wantStatus) || (wantWorkflow.trim() && event.workflow !== wantWorkflow.trim())) return;
        // New to this list (or its times changed): read the job, newest first.
        void api<JobView>('GET', `/v1/jobs/${event.id}`).then(
          (job) =>
            setJobs((current) => {
              const index = current.findIndex((row) => row.id === job.id);
              if (index >= 0) return current.map((row) => (row.id === job.id ? job : row));
              return [job, ...current].sort((a, b) => b.created_at.localeCompare(a.created_at));
            }),
          () => {},
        );
      },
      () => {
        setLive(true);
        reload();
      },
    );
    return () => stop.abort();
  }, [reload]);

  const cutoff = SINCE[since] ? Date.now() - SINCE[since]! : 0;
  const shown = jobs.filter((job) => !cutoff || Date.parse(job.created_at) >= cutoff);

  const toggle = (id: string) =>
    setSelected((current) => {
      const next = new Set(current);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  const allSelected = shown.length > 0 && shown.every((job) => selected.has(job.id));

  const bulk = async (action: 'cancel' | 'replay') => {
    const ids = [...selected];
    const results = await Promise.allSettled(ids.map((id) => api('POST', `/v1/jobs/${id}/${action}`, {})));
    const failed = results.filter((result) => result.status === 'rejected') as PromiseRejectedResult[];
    setMessage(
      `${action === 'cancel' ? 'Cancelled' : 'Replayed'} ${ids.length - failed.length} of ${ids.length}` +
        (failed.length ? `: ${(failed[0]!.reason as Error).message}` : ''),
    );
    setSelected(new Set());
    reload();
  };

  const more = () => {
    const last = jobs.at(-1);
    if (!last) return;
    void api<List<JobView>>('GET', query(last.id)).then((list) => {
      setJobs((current) => [...current, ...list.data]);
      setHasMore(list.has_more ?? false);
    });
  };

  return (
    <section>
      <div className="heading">
        <h1>Runs</h1>
        <span className="muted" role="status">{live ? 'live' : 'connecting…'}</span>
      </div>
      <div className="toolbar">
        <label>
          Status
          <select value={status} onChange={(event) => setStatus(event.target.value)}>
            <option value="">any</option>
            {STATUSES.map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>
        </label>
        <label>
          Workflow
          <input value={workflow} placeholder="any" onChange={(event) => setWorkflow(event.target.value)} />
        </label>
        <label>
          Created
          <select value={since} onChange={(event) => setSince(event.target.value)}>
            <option value="any">any time</option>
            <option value="1h">last hour</option>
            <option value="24h">last 24 hours</option>
            <option value="7d">last 7 days</option>
          </select>
        </label>
        <span className="spacer" />
        <button type="button" disabled={selected.size === 0} onClick={() => void bulk('cancel')}>
          Cancel selected
        </button>
        <button type="button" disabled={selected.size === 0} onClick={() => void bulk('replay')}>
          Replay selected
        </button>
      </div>
      {message ? <p role="alert" className="notice">{message}</p> : null}
      <div className="table-wrap">
        <table className="runs">
          <thead>
            <tr>
              <th>
                <input
                  type="checkbox"
                  aria-label="Select all runs"
                  checked={allSelected}
                  onChange={() => setSelected(allSelected ? new Set() : new Set(shown.map((job) => job.id)))}
                />
              </th>
              <th>Job</th>
              <th>Workflow</th>
              <th>Status</th>
              <th>Created</th>
              <th>Duration</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((job) => (
              <tr key={job.id} data-job={job.id}>
                <td>
                  <input type="checkbox" aria-label={`Select ${job.id}`} checked={selected.has(job.id)} onChange={() => toggle(job.id)} />
                </td>
                <td className="mono">
                  <Link to={`/runs/${job.id}`}>{job.id}</Link>
                </td>
                <td>
                  {job.workflow} <span className="muted">v{job.workflow_version}</span>
                </td>
                <td>
                  <Status status={job.status} />
                </td>
                <td>{when(job.created_at)}</td>
                <td>{duration(took(job))}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {shown.length === 0 ? <p className="muted pad">No runs yet.</p> : null}
      </div>
      {hasMore ? (
        <button type="button" className="secondary" onClick={more}>
          Load more
        </button>
      ) : null}
    </section>
  );
}
