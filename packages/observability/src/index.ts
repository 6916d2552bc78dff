export { createLogger, type Logger } from './logger.js';
export { enableWorkerMetrics, metrics, recordTokens, register, setQueueDepthReader } from './metrics.js';
