export { createLogger, type Logger } from './logger.js';
export { metrics, recordTokens, register, setQueueDepthReader } from './metrics.js';
