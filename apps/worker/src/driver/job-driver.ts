/**
 * Drives one claimed job through the lifecycle (packages/core lifecycle): feeds it one event at a time, writes
 * what each transition changes in one fenced statement, then performs the rest (attempts, timers, aborts). The
 * rules (what runs next, retries, on_error, the end) are the lifecycle's alone.
 *
 * Ends with the job's final status, 'parked' (nothing runs, only waits or retries more than 5 s away are left:
 * the job is handed to a later queue entry and the slot is free), or null when the job is no longer this
 * claim's (cancelled, claimed again, its signal aborted): nothing more is written then.
 */
import {
  addUsage,
  isTerminal,
  MuleError,
  parkPlan,
  timeOrderedId,
  transition,
  ZERO_USAGE,
  type AttemptRef,
  type JobState,
  type LifecycleCommand,
  type LifecycleEvent,
  type TokenUsage,
  type TransitionResult,
} from '@mule/core';
import {
  finishedEntry,
  readSettledWaits,
  transitionCtes,
  writeTransition,
  writeTransitionNotifying,
  type Claim,
  type JobQueue,
  type Pool,
  type QueueAttempt,
  type TransitionWrites,
} from '@mule/db';
import { metrics, trace, type Logger } from '@mule/observability';
import type { ClaimProgress } from '../job-progress.js';
import type { StepRunners } from '../steps/step-runner.js';
import { startAttemptRun, type AttemptOutcome, type AttemptRun } from './attempt-runner.js';
import type { JobProgram } from './job-graph.js';
import { performCommands, stored, StoredErrors, type Effect } from './perform-commands.js';

export type DriverOutcome = 'completed' | 'failed' | 'cancelled' | 'parked' | null;

export interface DriverDeps {
  pool: Pool;
  queue: Pick<JobQueue, 'park' | 'completionCtes'>;
  steps: StepRunners;
  log: Logger;
  logContent: boolean;
  /** Told of each step that ends or starts waiting, once that is committed (job-progress.ts). */
  progress?: Pick<ClaimProgress, 'step'>;
}

export interface DriverJob {
  claim: Claim;
  program: JobProgram;
  state: JobState;
  /** The job's time limit (epoch ms): job_timed_out is sent then. */
  deadline: number;
  /** claimJob wrote step 0's first attempt already. */
  firstStarted: boolean;
  /** The queue entry attempt this claim came with: the job's final write completes it too. */
  entry?: QueueAttempt;
}

type Inbox = { kind: 'event'; event: LifecycleEvent; outcome?: AttemptOutcome } | { kind: 'check_waits' };

/**
 * How often a job that runs on with an open wait looks at the wait's row, in case the NOTIFY that announces a
 * resume was missed: a lost NOTIFY costs at most this (one small indexed query per 2 s per such job).
 */
const WAIT_RECHECK_MS = 2000;

const attemptKey = (ref: AttemptRef) => `${ref.stepId}\u0000${ref.item ?? ''}\u0000${ref.attempt}`;

export class JobDriver {
  private state: JobState;
  private firstStarted: boolean;
  private readonly inbox: Inbox[] = [];
  private wakeUp: (() => void) | null = null;
  private readonly attempts = new Map<string, AttemptRun>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly errors = new StoredErrors();
  /** Token usage of this claim's succeeded attempts (the job's, on a first claim): what the job view sums. */
  private usage: TokenUsage | null = null;
  /** The job's end was announced inside its final write (writeTransitionNotifying): no NOTIFY is due after it. */
  announced = false;
  /** The final write also completed the job's queue entry: the claim loop has nothing to complete. */
  settled = false;

  constructor(
    private readonly deps: DriverDeps,
    private readonly job: DriverJob,
    private readonly signal: AbortSignal,
  ) {
    this.state = job.state;
    this.firstStarted = job.firstStarted;
  }

  /** A resume or rejection may have been recorded for an open wait (the api's NOTIFY named this job). */
  checkWaits(): void {
    this.push({ kind: 'check_waits' });
  }

  async run(started: LifecycleEvent): Promise<DriverOutcome> {
    this.push({ kind: 'event', event: started });
    this.timer(this.job.deadline, { type: 'job_timed_out' });
    const recheck = setInterval(() => {
      if (this.openWaits().length > 0) this.checkWaits();
    }, WAIT_RECHECK_MS);
    const onAbort = () => this.wakeUp?.();
    this.signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (this.signal.aborted) return null;
        const next = this.inbox.shift();
        if (!next) {
          await new Promise<void>((resolve) => (this.wakeUp = resolve));
          this.wakeUp = null;
          continue;
        }
        const outcome = next.kind === 'event' ? await this.apply(next.event, next.outcome) : await this.readWaits();
        if (outcome !== undefined) return outcome;
      }
    } finally {
      clearInterval(recheck);
      for (const timer of this.timers) clearTimeout(timer);
      this.signal.removeEventListener('abort', onAbort);
      // Whatever still runs belongs to nobody now: stop it and let it end before the slot is given back. (The
      // error is made only then: capturing its stack on every job's end was ~2% of a worker's CPU.)
      if (this.attempts.size > 0) {
        const reason = this.signal.aborted ? (this.signal.reason as Error) : new MuleError('cancelled', 'the job ended');
        for (const run of this.attempts.values()) run.abort(reason);
        await Promise.allSettled([...this.attempts.values()].map((run) => run.done));
      }
    }
  }

  private push(item: Inbox): void {
    this.inbox.push(item);
    this.wakeUp?.();
  }

  private timer(at: number, event: { type: 'job_timed_out' } | Extract<Effect, { type: 'timer' }>['event']): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.push({ kind: 'event', event: { ...event, at: Date.now() } });
    }, Math.max(0, at - Date.now()));
    this.timers.add(timer);
  }

  /** One event: the transition, its writes in one statement, then its effects. undefined: go on. */
  private async apply(event: LifecycleEvent, outcome?: AttemptOutcome): Promise<DriverOutcome | undefined> {
    let result: TransitionResult;
    try {
      result = transition(this.state, event);
    } catch (error) {
      // A throw from the pure transition is a bug; the job fails rather than looping on it.
      this.deps.log.error({ err: (error as Error).message, event: event.type }, 'the lifecycle threw: failing the job');
      const running = [...this.attempts.keys()];
      const ok = await writeTransition(this.deps.pool, this.job.claim, {
        ends: [],
        starts: [],
        job: { status: 'failed', error: { code: 'internal_error', message: `the job's lifecycle failed: ${(error as Error).message}` } },
      });
      this.deps.log.debug({ running }, 'aborting attempts');
      return ok ? 'failed' : null;
    }
    if (!result.ok) {
      // Late or duplicate events (a cancelled attempt's result, a timer after a resume) are refused: nothing to do.
      this.deps.log.debug({ event: event.type, reason: result.reason }, 'event does not apply');
      return undefined;
    }
    const program = this.job.program;
    const writes: TransitionWrites = { ends: [], starts: [] };
    if (event.type === 'attempt_succeeded' && outcome?.usage) this.usage = addUsage(this.usage ?? ZERO_USAGE, outcome.usage);
    if ((event.type === 'attempt_succeeded' || event.type === 'attempt_failed') && outcome) {
      const index = program.graph.steps.findIndex((step) => step.id === event.stepId);
      writes.ends.push(
        event.type === 'attempt_succeeded'
          ? { index, item: event.item, attempt: event.attempt, status: 'completed', output: event.output, usage: outcome.usage, durationMs: outcome.durationMs, logs: outcome.logs }
          : {
              index,
              item: event.item,
              attempt: event.attempt,
              status: 'failed',
              error: this.errors.remember(outcome.error ? outcome.error.toJSON() : stored(event.error)),
              durationMs: outcome.durationMs,
              logs: outcome.logs,
            },
      );
    }
    const effects = performCommands(program, result.commands, writes, (ref) => {
      const first = this.firstStarted && ref.stepId === program.graph.steps[0]!.id && ref.item === null && ref.attempt === 1;
      if (first) this.firstStarted = false;
      return first;
    }, this.errors);
    this.closeSettledWaits(result, writes);
    this.state = result.state;
    let parkAt: number | null = null;
    let parkReason = '';
    if (!isTerminal(this.state.status)) {
      const plan = parkPlan(this.state, event.at);
      // Parked at a wait, the job's clock stops (its time limit does not count waits): only the wait's own
      // timeout (or a retry) wakes it. Parked for a retry alone, it must still wake by its deadline.
      const wakeAt = plan.waits.length > 0 && plan.wakeAt !== null ? plan.wakeAt : Math.min(plan.wakeAt ?? this.job.deadline, this.job.deadline);
      // A deadline already past (a wait's timeout, found on the claim that its entry woke) is this process's to
      // send now: parking again would only hand the job to another entry due at once.
      if (plan.park && wakeAt > Date.now()) {
        parkAt = wakeAt;
        parkReason = plan.waits.length > 0 ? `waiting for ${plan.waits.map((wait) => wait.stepId).join(', ')}` : 'a retry more than 5 s away';
        writes.job = { status: plan.waits.length > 0 ? 'waiting' : 'running', queueId: timeOrderedId() };
      }
    }
    if (writes.ends.length > 0 || writes.starts.length > 0 || writes.job) {
      const ends = parkAt === null && (writes.job?.status === 'completed' || writes.job?.status === 'failed');
      let owned: boolean;
      if (parkAt !== null) {
        owned = await this.deps.queue.park(this.deps.pool, this.job.claim.jobId, writes.job!.queueId!, new Date(parkAt), transitionCtes(this.job.claim, writes));
      } else if (ends) {
        const entry = this.job.entry;
        const settle = entry ? { attempt: entry, completions: (attempts: QueueAttempt[]) => this.deps.queue.completionCtes(attempts) } : undefined;
        const written = await writeTransitionNotifying(this.deps.pool, this.job.claim, writes, () => this.finishedPayload(writes.job!), settle);
        owned = written.owned;
        this.announced = written.notified;
        this.settled = written.settled;
      } else {
        owned = await writeTransition(this.deps.pool, this.job.claim, writes);
      }
      if (!owned) return null;
    }
    if (this.deps.progress) announceSteps(this.deps.progress, result.commands);
    // Attempts are counted by the attempt runner; a skipped step has none, so it is counted once its row is stored.
    for (const command of result.commands) {
      if (command.type === 'skip_step') metrics.steps.inc({ type: program.graph.steps.find((step) => step.id === command.stepId)?.kind ?? 'wasm', status: 'skipped' });
    }
    if (isTerminal(this.state.status)) {
      for (const effect of effects) if (effect.type === 'abort') this.abort(effect.attempts);
      return this.state.status === 'cancelled' ? 'cancelled' : (this.state.status as 'completed' | 'failed');
    }
    if (parkAt !== null) {
      this.deps.log.info({ wake_at: new Date(parkAt).toISOString() }, 'job parked: nothing runs until a resume or its timer');
      trace.getActiveSpan()?.addEvent('job parked', { 'mule.park.reason': parkReason, 'mule.park.wake_at': new Date(parkAt).toISOString() });
      return 'parked';
    }
    for (const effect of effects) {
      if (effect.type === 'start') this.launch(effect.command);
      else if (effect.type === 'abort') this.abort(effect.attempts);
      else if (effect.type === 'timer') this.timer(effect.at, effect.event);
    }
    return undefined;
  }

  /**
   * The `mule_job_finished` entry of the job's end: with its outcome on a first claim (this process saw every
   * attempt, so it knows the usage a reader would sum), the bare id after a takeover (the api reads the row).
   */
  private finishedPayload(job: NonNullable<TransitionWrites['job']>): string {
    const id = this.job.claim.jobId;
    if (this.job.claim.claim !== 1 || (job.status !== 'completed' && job.status !== 'failed')) return id;
    return finishedEntry({ id, status: job.status, output: job.output ?? null, error: job.error ?? null, usage: this.usage });
  }

  /**
   * A wait step that ends here (timed out, cancelled) has its `waiting` row closed; a wait the api settled is
   * already closed, and the close changes nothing then.
   */
  private closeSettledWaits(result: Extract<TransitionResult, { ok: true }>, writes: TransitionWrites): void {
    for (const command of result.commands) {
      if (command.type !== 'fail_step') continue;
      const index = this.job.program.graph.steps.findIndex((step) => step.id === command.stepId);
      if (this.job.program.graph.steps[index]?.kind !== 'wait') continue;
      writes.ends.push({ index, item: null, attempt: 1, status: 'failed', error: this.errors.of(command.error) });
    }
  }

  private launch(command: Extract<Effect, { type: 'start' }>['command']): void {
    const { stepId, item, attempt } = command;
    const step = this.job.program.runnable.get(stepId);
    const at = () => Date.now();
    if (!step) {
      const error = { code: 'internal_error' as const, message: `step "${stepId}" has nothing to run`, retryable: false };
      this.push({ kind: 'event', event: { type: 'attempt_failed', at: at(), stepId, item, attempt, error }, outcome: { ok: false, usage: null, durationMs: 0, logs: null } });
      return;
    }
    const log = this.deps.log.child({ step_id: stepId, step_attempt: attempt, ...(item === null ? {} : { item }) });
    const run = startAttemptRun(this.deps.steps, {
      jobId: this.job.claim.jobId,
      step,
      item,
      attempt,
      input: command.input,
      timeoutMs: command.timeoutMs,
      jobSignal: this.signal,
      log,
      logContent: this.deps.logContent,
    });
    const key = attemptKey(command);
    this.attempts.set(key, run);
    void run.done.then((outcome) => {
      this.attempts.delete(key);
      const event: LifecycleEvent = outcome.ok
        ? { type: 'attempt_succeeded', at: at(), stepId, item, attempt, output: outcome.output ?? null }
        : { type: 'attempt_failed', at: at(), stepId, item, attempt, error: { code: outcome.error!.code, message: outcome.error!.message, retryable: outcome.error!.retryable } };
      this.push({ kind: 'event', event, outcome });
    });
  }

  private abort(attempts: readonly AttemptRef[]): void {
    for (const ref of attempts) this.attempts.get(attemptKey(ref))?.abort(new MuleError('cancelled', 'the attempt was cancelled: its step or job ended first'));
  }

  /** Wait steps whose unit is open in this process. */
  private openWaits(): string[] {
    const open: string[] = [];
    for (const [stepId, step] of this.state.steps) {
      if (step.status === 'active' && step.units.some((unit) => unit.phase === 'waiting')) open.push(stepId);
    }
    return open;
  }

  /** Feeds wait_resumed / wait_rejected for open waits the api settled while the job ran here. */
  private async readWaits(): Promise<undefined> {
    const open = this.openWaits();
    if (open.length === 0) return undefined;
    for (const row of await readSettledWaits(this.deps.pool, this.job.claim.jobId, open)) {
      const at = Date.now();
      if (row.status === 'completed') this.push({ kind: 'event', event: { type: 'wait_resumed', at, stepId: row.stepId, output: (row.output ?? null) as never } });
      else if (row.error?.code === 'rejected') this.push({ kind: 'event', event: { type: 'wait_rejected', at, stepId: row.stepId, reason: row.error.message } });
    }
    return undefined;
  }
}

/** The steps a transition ended or parked, as a streamed job's progress. */
function announceSteps(progress: Pick<ClaimProgress, 'step'>, commands: readonly LifecycleCommand[]): void {
  for (const command of commands) {
    if (command.type === 'complete_step') progress.step(command.stepId, 'completed');
    else if (command.type === 'fail_step') progress.step(command.stepId, 'failed');
    else if (command.type === 'skip_step') progress.step(command.stepId, 'skipped');
    else if (command.type === 'park_for_wait') progress.step(command.stepId, 'waiting');
  }
}

