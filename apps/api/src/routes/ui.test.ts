import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import express from 'express';
import { uiRouter } from './ui.js';

/** The ui router alone, over a dist folder of our making (or none), on a loopback port. */
async function serve(dist: string): Promise<{ url: string; close: () => void }> {
  const app = express();
  app.use(uiRouter({ enabled: () => Promise.resolve(true) }, dist));
  app.use((_req, res) => void res.status(404).send('not found'));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'mule-ui-'));
  mkdirSync(join(root, 'built', 'assets'), { recursive: true });
  writeFileSync(join(root, 'built', 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(join(root, 'built', 'assets', 'app-123.js'), 'export {}');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('uiRouter', () => {
  test('without a build /ui answers 503 naming how to build it, and the rest of the api is untouched', async () => {
    const { url, close } = await serve(join(root, 'missing'));
    try {
      const page = await fetch(`${url}/ui/runs`);
      expect(page.status).toBe(503);
      expect(await page.text()).toContain('npm run build');
      expect((await fetch(`${url}/v1/models`)).status).toBe(404);
      expect(await (await fetch(`${url}/ui/access.json`)).json()).toEqual({ needs_key: true });
    } finally {
      close();
    }
  });

  test('with a build: files by name (hashed assets cached for good), index.html for app paths, 404 for a missing asset', async () => {
    const { url, close } = await serve(join(root, 'built'));
    try {
      const asset = await fetch(`${url}/ui/assets/app-123.js`);
      expect([asset.status, asset.headers.get('cache-control')]).toEqual([200, 'public, max-age=31536000, immutable']);
      for (const path of ['/ui', '/ui/', '/ui/runs/job-1']) {
        const page = await fetch(`${url}${path}`);
        expect([path, page.status, await page.text()]).toEqual([path, 200, '<!doctype html><title>app</title>']);
        expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
      }
      expect((await fetch(`${url}/ui/assets/gone-456.js`)).status).toBe(404);
    } finally {
      close();
    }
  });
});
