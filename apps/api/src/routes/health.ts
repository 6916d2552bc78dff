/**
 * Health (process up), readiness (database reachable and migrated) and metrics (OpenMetrics when the scraper's Accept
 * asks for it, with trace exemplars; the classic Prometheus text otherwise): open even when API keys are required, for
 * probes and scrapers.
 */
import { Router } from 'express';
import { isMigrated, isQueueInstalled } from '@mule/db';
import { renderMetrics } from '@mule/observability';
import type { ApiContext } from '../api-context.js';

export function healthRouter(ctx: ApiContext): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const checks = { database: false, migrated: false, queue: false, listener: ctx.listener.connected };
    try {
      await ctx.pool.query('SELECT 1');
      checks.database = true;
      checks.migrated = await isMigrated(ctx.pool);
      checks.queue = await isQueueInstalled(ctx.pool);
    } catch {
      // reported through the checks below
    }
    const ready = checks.database && checks.migrated && checks.queue;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks });
  });
  router.get('/metrics', async (req, res) => {
    const { contentType, body } = await renderMetrics(req.headers.accept);
    res.setHeader('Content-Type', contentType);
    res.setHeader('Vary', 'Accept');
    res.send(body);
  });
  return router;
}
