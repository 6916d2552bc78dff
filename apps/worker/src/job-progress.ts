/**
 * What the api hears of a job between its claim and its end (`mule_job_progress`, packages/db job-progress.ts), so
 * its live views need no polling: `GET /v1/events` learns that a job runs or waits, a workflow stream learns that
 * its job's steps end.
 *
 * - `running`: announced only when the claim still runs RUNNING_NOTICE_MS after it began. A job that ends or parks
 *   before then is announced by that (finished or parked), so the bulk of short jobs (a one-step WASM job takes a
 *   few milliseconds) costs one timer and no statement.
 * - parked (`waiting` at a wait, or `running` until a retry far away): announced at once.
 * Both are coalesced NOTIFYs of job ids, sent after the commit and outside any transaction.
 * - A step of a streamed job that ends (completed, failed, skipped) or starts waiting: one NOTIFY each, only for
 *   jobs a stream waits on (`jobs.stream`), which a person is watching.
 */
import { notifyStepProgress, NotifyBatcher, CHANNELS, type Pool, type ProgressStepStatus } from '@mule/db';
import type { Logger } from '@mule/observability';

/** A claim that runs longer than this is announced as running. */
export const RUNNING_NOTICE_MS = 250;

export interface ClaimProgress {
  /** The job parked (its rows and status are committed). */
  parked(): void;
  /** A step reached `status` (committed); sent only for a streamed job. */
  step(stepId: string, status: ProgressStepStatus): void;
  /** The claim ended: no running notice after this. */
  end(): void;
}

export class JobProgress {
  private readonly ids: NotifyBatcher;

  constructor(
    private readonly pool: Pick<Pool, 'query'>,
    private readonly log: Logger,
    private readonly runningNoticeMs = RUNNING_NOTICE_MS,
  ) {
    this.ids = new NotifyBatcher(pool, CHANNELS.jobProgress, (error) =>
      log.warn({ err: error.message }, 'could not announce job progress; live views re-read after their next notice'),
    );
  }

  /** A claim of `jobId` began (`streamed`: a stream waits on the job). */
  claimed(jobId: string, streamed: boolean): ClaimProgress {
    let timer: NodeJS.Timeout | null = setTimeout(() => {
      timer = null;
      this.ids.send(jobId);
    }, this.runningNoticeMs);
    // One step notice at a time, so a stream reads its job's steps in the order they ended.
    let steps: Promise<void> = Promise.resolve();
    const stop = () => {
      if (timer) clearTimeout(timer);
      timer = null;
    };
    return {
      parked: () => {
        stop();
        this.ids.send(jobId);
      },
      step: (stepId, status) => {
        if (!streamed) return;
        steps = steps
          .then(() => notifyStepProgress(this.pool, { jobId, stepId, status }))
          .catch((error: Error) => this.log.warn({ err: error.message, step_id: stepId }, 'could not announce a step of a streamed job'));
      },
      end: stop,
    };
  }

  drain(): Promise<void> {
    return this.ids.drain();
  }
}
