/** pino JSON lines on stdout; secrets are redacted wherever they appear in logged objects. */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'mule-api' },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', '*.api_key', 'api_key', '*.apiKey', 'apiKey'],
      censor: '[redacted]',
    },
  });
}
