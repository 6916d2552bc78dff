/**
 * Runs one attempt of an agent or WASM step: the step's runner with its input, its time limit and a signal that
 * the job's abort (cancel, lost claim, shutdown) or a `cancel_attempts` stops. Never throws: the outcome is the
 * lifecycle event to feed, with what the attempt row stores besides (usage, duration).
 */
import { MuleError, toMuleError, type JsonValue, type TokenUsage } from '@mule/core';
import type { Logger } from '@mule/observability';
import { context as otelContext, metrics, SpanStatusCode, trace, tracer } from '@mule/observability';
import { runStep, stepBackstopMs, type RunnableStep, type StepRunners } from '../steps/step-runner.js';

export interface AttemptOutcome {
  ok: boolean;
  output?: JsonValue;
  error?: MuleError;
  usage: TokenUsage | null;
  durationMs: number;
  /** A WASM attempt's stderr (also of a failed run: the sandbox's error carries it in details.logs); else null. */
  logs: string | null;
}

export interface AttemptRun {
  /** Aborts the attempt (its WASM thread is terminated, its provider call aborted). */
  abort(reason: Error): void;
  done: Promise<AttemptOutcome>;
}

export function startAttemptRun(
  runners: StepRunners,
  context: {
    jobId: string;
    step: RunnableStep;
    /** A for_each item's index, or null for the step itself. */
    item: number | null;
    attempt: number;
    input: JsonValue;
    timeoutMs: number;
    jobSignal: AbortSignal;
    log: Logger;
    logContent: boolean;
  },
): AttemptRun {
  const { step, jobSignal, timeoutMs } = context;
  const controller = new AbortController();
  const onJob = () => controller.abort(jobSignal.reason);
  if (jobSignal.aborted) onJob();
  else jobSignal.addEventListener('abort', onJob, { once: true });
  // One controller and one timer per attempt, cleared when it ends (AbortSignal.any + AbortSignal.timeout cost ~5%
  // of a worker's CPU at ~500 jobs/s).
  const timer = setTimeout(
    () => controller.abort(new MuleError('step_timeout', `step ran longer than ${timeoutMs} ms`)),
    stepBackstopMs(step, timeoutMs),
  );
  const started = performance.now();
  // A child of the job's invoke_workflow span (the active one); the no-op tracer makes this free without tracing.
  const span = tracer.startSpan(context.item === null ? `step ${step.id}` : `step ${step.id} item ${context.item}`, {
    attributes: {
      'mule.job.id': context.jobId,
      'mule.step.id': step.id,
      'mule.step.type': step.type,
      'mule.step.attempt': context.attempt,
      ...(context.item === null ? {} : { 'mule.step.item': context.item }),
    },
  });
  const spanContext = trace.setSpan(otelContext.active(), span);
  const run = async (): Promise<AttemptOutcome> => {
    try {
      const result = await otelContext.with(spanContext, () => runStep(runners, {
        jobId: context.jobId,
        step: { ...step, timeout_ms: timeoutMs },
        input: context.input,
        signal: controller.signal,
        log: context.log,
      }));
      return { ok: true, output: result.output as JsonValue, usage: result.usage, durationMs: performance.now() - started, logs: result.logs ?? null };
    } catch (thrown) {
      const logs = thrown instanceof MuleError && typeof thrown.details?.['logs'] === 'string' ? thrown.details['logs'] : null;
      return { ok: false, error: attemptError(thrown, step, timeoutMs, controller.signal, jobSignal), usage: null, durationMs: performance.now() - started, logs };
    } finally {
      clearTimeout(timer);
      jobSignal.removeEventListener('abort', onJob);
    }
  };
  const done = run().then((outcome) => {
    span.setAttribute('mule.step.status', outcome.ok ? 'completed' : 'failed');
    if (outcome.error) {
      span.setAttribute('error.type', outcome.error.code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error.message });
    }
    span.end();
    metrics.steps.inc({ type: step.type, status: outcome.ok ? 'completed' : 'failed' });
    if (outcome.error) metrics.stepFailures.inc({ type: step.type, code: outcome.error.code });
    metrics.stepDuration.observe({ type: step.type }, outcome.durationMs / 1000);
    if (outcome.ok) {
      context.log.info({ ms: Math.round(outcome.durationMs), ...(context.logContent ? { output: outcome.output } : {}) }, 'step completed');
    } else if (!controller.signal.aborted || controller.signal.reason instanceof MuleError) {
      context.log.warn({ code: outcome.error?.code, err: outcome.error?.message }, 'step failed');
    }
    return outcome;
  });
  return { abort: (reason) => controller.abort(reason), done };
}

/** The error an attempt ended with; an abort by its own timer is a step_timeout (a WASM run's own wasm_timeout wins). */
function attemptError(thrown: unknown, step: RunnableStep, timeoutMs: number, signal: AbortSignal, jobSignal: AbortSignal): MuleError {
  if (signal.aborted && !jobSignal.aborted && !(thrown instanceof MuleError && thrown.code === 'wasm_timeout')) {
    const reason: unknown = signal.reason;
    if (reason instanceof MuleError && reason.code === 'step_timeout') {
      return new MuleError('step_timeout', `step "${step.id}" ran longer than its timeout of ${timeoutMs} ms`);
    }
  }
  return toMuleError(thrown);
}
