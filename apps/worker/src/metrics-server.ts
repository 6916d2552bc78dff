/** The worker's small HTTP server on METRICS_PORT: /healthz, /readyz and /metrics (SPEC 5.3). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isMigrated, isQueueInstalled, type Pool } from '@mule/db';
import { metrics, register } from '@mule/observability';

/** A scrape every few seconds must not count a big table each time: the depth is read at most once a second. */
const QUEUE_DEPTH_TTL_MS = 1000;

export function startMetricsServer(pool: Pool, host: string, port: number, isStopping: () => boolean): Promise<Server> {
  let depthReadAt = 0;
  const readQueueDepth = async () => {
    if (Date.now() - depthReadAt < QUEUE_DEPTH_TTL_MS) return;
    depthReadAt = Date.now();
    // Counted on the (status, created_at) index: proportional to the queued jobs only, not the table.
    const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'queued'`);
    metrics.queueDepth.set(rows[0]?.n ?? 0);
  };

  const server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (path === '/healthz') {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
      } else if (path === '/readyz') {
        let ready = false;
        if (!isStopping()) {
          ready = await pool
            .query('SELECT 1')
            .then(async () => (await isMigrated(pool)) && (await isQueueInstalled(pool)))
            .catch(() => false);
        }
        res.writeHead(ready ? 200 : 503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ status: ready ? 'ready' : 'unavailable' }));
      } else if (path === '/metrics') {
        await readQueueDepth().catch(() => {});
        res.writeHead(200, { 'Content-Type': register.contentType }).end(await register.metrics());
      } else {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `no route ${req.method} ${path}`, type: 'not_found_error', param: null, code: 'not_found' } }));
      }
    } catch {
      if (!res.headersSent) res.writeHead(500).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}
