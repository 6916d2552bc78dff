/**
 * The lifecycle's commands as the driver performs them: first what they write (one statement per transition,
 * with the attempt result that caused them, see packages/db job-graph-writes.ts), then, once that is stored,
 * what they do in this process (start attempts, arm timers, abort attempts). So an attempt's result is stored
 * before anything that depends on it starts.
 */
import { storableText, type AttemptRef, type LifecycleCommand, type StepError } from '@mule/core';
import type { RowEnd, RowStart, StoredError, TransitionWrites } from '@mule/db';
import type { JobProgram } from './job-graph.js';

export type Effect =
  | { type: 'start'; command: Extract<LifecycleCommand, { type: 'start_attempt' }> }
  | { type: 'abort'; attempts: AttemptRef[] }
  | { type: 'timer'; at: number; event: { type: 'retry_due'; stepId: string; item: number | null; attempt: number } | { type: 'wait_timed_out'; stepId: string } }
  | { type: 'finish'; status: 'completed' | 'failed' | 'cancelled' };

/** Messages can quote a module's stderr: what jsonb cannot hold (NUL, unpaired surrogates) is made storable. */
export const stored = (error: StepError): StoredError => ({ code: error.code, message: storableText(error.message) });
const errorKey = (error: { code: string; message: string }) => `${error.code}\u0000${storableText(error.message)}`;

/**
 * The stored form of the errors attempts failed with, by code and message: the lifecycle carries an error as
 * {code, message}, and what a step or job ends with is then stored as the attempt stored it (a provider's HTTP
 * status and Retry-After, which the api answers a workflow's 429 with).
 */
export class StoredErrors {
  private readonly known = new Map<string, StoredError>();

  remember(error: StoredError): StoredError {
    this.known.set(errorKey(error), error);
    return error;
  }

  of(error: StepError): StoredError {
    return this.known.get(errorKey(error)) ?? stored(error);
  }
}

const CANCELLED: StoredError = { code: 'cancelled', message: 'stopped because its step failed first' };

/**
 * `alreadyStarted`: the attempt row claimJob already wrote (the first step's first attempt on a first claim);
 * its start_attempt writes nothing.
 */
export function performCommands(
  program: JobProgram,
  commands: readonly LifecycleCommand[],
  writes: TransitionWrites,
  alreadyStarted: (command: AttemptRef) => boolean,
  errors: StoredErrors,
): Effect[] {
  const effects: Effect[] = [];
  const index = (stepId: string) => program.graph.steps.findIndex((step) => step.id === stepId);
  const type = (stepId: string) => program.types.get(stepId) ?? 'wasm';
  const ownRow = (stepId: string, row: Omit<RowStart, 'index' | 'item' | 'attempt' | 'stepId' | 'type'>): RowStart => ({
    index: index(stepId),
    item: null,
    attempt: 1,
    stepId,
    type: type(stepId),
    ...row,
  });
  const jobEnd = commands.find((command) => command.type === 'finish_job');
  for (const command of commands) {
    switch (command.type) {
      case 'start_attempt':
        if (!alreadyStarted(command)) {
          writes.starts.push({ index: index(command.stepId), item: command.item, attempt: command.attempt, stepId: command.stepId, type: type(command.stepId), status: 'running', input: command.input });
        }
        effects.push({ type: 'start', command });
        break;
      case 'schedule_retry':
        effects.push({ type: 'timer', at: command.dueAt, event: { type: 'retry_due', stepId: command.stepId, item: command.item, attempt: command.attempt } });
        break;
      case 'park_for_wait':
        // Sent again on a re-entry with the stored deadline: the row is there already (the insert changes nothing).
        writes.starts.push(ownRow(command.stepId, { status: 'waiting', input: command.input, waitUntil: command.timeoutAt }));
        effects.push({ type: 'timer', at: command.timeoutAt, event: { type: 'wait_timed_out', stepId: command.stepId } });
        break;
      case 'skip_step':
        writes.starts.push(ownRow(command.stepId, { status: 'skipped', output: null }));
        break;
      case 'complete_step':
        // A plain step's attempt row is its row; a for_each step gets its own, with its items' outputs.
        if (program.graph.steps[index(command.stepId)]?.forEach) writes.starts.push(ownRow(command.stepId, { status: 'completed', output: command.output }));
        break;
      case 'fail_step':
        // A plain step that failed in an attempt has its row (attempt 1 exists, so this insert changes nothing).
        writes.starts.push(ownRow(command.stepId, { status: 'failed', error: errors.of(command.error) }));
        break;
      case 'cancel_attempts': {
        const error = jobEnd?.type === 'finish_job' && jobEnd.error ? errors.of(jobEnd.error) : CANCELLED;
        for (const attempt of command.attempts) {
          const end: RowEnd = { index: index(attempt.stepId), item: attempt.item, attempt: attempt.attempt, status: 'cancelled', error };
          writes.ends.push(end);
        }
        effects.push({ type: 'abort', attempts: command.attempts });
        break;
      }
      case 'finish_job':
        if (command.status !== 'cancelled') {
          writes.job = {
            status: command.status,
            ...(command.status === 'completed' ? { output: command.output ?? null } : {}),
            ...(command.error ? { error: errors.of(command.error) } : {}),
          };
        }
        effects.push({ type: 'finish', status: command.status });
        break;
    }
  }
  return effects;
}
