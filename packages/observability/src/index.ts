export { createLogger, type Logger } from './logger.js';
export { enableApiMetrics, enableWorkerMetrics, metrics, recordTokens, register, setJobCountsReader } from './metrics.js';
export type { JobCountsReading } from './metrics.js';
