/** The worker's small HTTP server on METRICS_PORT: /healthz, /readyz and /metrics (deploy/README.md "Monitoring"). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { countJobs, isMigrated, isQueueInstalled, type Pool } from '@mule/db';
import { renderMetrics, setJobCountsReader } from '@mule/observability';

export function startMetricsServer(pool: Pool, host: string, port: number, isStopping: () => boolean): Promise<Server> {
  setJobCountsReader(() => countJobs(pool));

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
        // OpenMetrics (with trace exemplars) when the scraper asks for it, the classic Prometheus text otherwise.
        const { contentType, body } = await renderMetrics(req.headers.accept);
        res.writeHead(200, { 'Content-Type': contentType, Vary: 'Accept' }).end(body);
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
