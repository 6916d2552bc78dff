export { createLogger, type Logger } from './logger.js';
export { metrics, recordTokens, register } from './metrics.js';
