/**
 * pino JSON lines on stdout; secrets are redacted wherever they appear in logged objects. Lines are buffered
 * (4 KiB or 250 ms, whichever comes first) rather than written one syscall each: at hundreds of jobs a second the
 * per-line writes were a measurable share of the process's CPU. The buffer is flushed synchronously on exit.
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Keys that never reach a log line, wherever they appear. */
const REDACT = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  '*.authorization',
  'api_key',
  '*.api_key',
  'apiKey',
  '*.apiKey',
];

export function createLogger(service: string, level: string): Logger {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 250 } as Parameters<typeof pino.destination>[0]);
  process.on('exit', () => destination.flushSync());
  return pino(
    {
      level,
      base: { service },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    destination,
  );
}
