export { createLogger, type Logger } from './logger.js';
export { enableApiMetrics, enableWorkerMetrics, metrics, recordTokens, register, setQueueDepthReader } from './metrics.js';
