/**
 * The dashboard at `/ui`: the static single-page app of apps/ui, built into apps/ui/dist, served as files, with
 * every other `/ui/…` path answered by its index.html (the app routes in the browser). It talks to the api only
 * through the public `/v1` routes, with the caller's own key.
 *
 * The api's default policy is `default-src 'none'` (nothing here is a page); the dashboard's routes get a policy
 * that lets the page load its own scripts, styles and data from this origin and nothing from anywhere else, with no
 * inline script. A missing build is not fatal: the api starts and `/ui` answers 503 saying how to build it.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router, type NextFunction, type Request, type Response } from 'express';

/** apps/api/dist/routes/ui.js → apps/ui/dist (the same layout in the repository and in the api image). */
export const UI_DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../../../ui/dist');

const UI_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Mule dashboard not built</title></head>
<body><h1>The Mule dashboard is not built</h1><p>This api serves it from apps/ui/dist. Build it with <code>npm run build</code> in the repository, then reload.</p></body></html>`;

/** A favicon (the browser asks for one; a 404 would be a failed load in its console). */
const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#4b5fd6"/><text x="8" y="12" font-size="10" text-anchor="middle" fill="#fff" font-family="sans-serif">M</text></svg>`;

/** What the page asks before it signs in: whether the api needs a key (so an open api shows no sign-in, and a closed one no 401). */
export interface UiAccess {
  enabled(): Promise<boolean>;
}

export function uiRouter(access: UiAccess, dist = UI_DIST): Router {
  const router = Router();
  const index = join(dist, 'index.html');
  const files = express.static(dist, { index: false, fallthrough: true, redirect: false, cacheControl: false });

  router.get('/favicon.ico', (_req, res) => {
    res.type('image/svg+xml').send(FAVICON);
  });

  router.get('/ui/access.json', async (_req, res) => {
    res.json({ needs_key: await access.enabled() });
  });

  router.use('/ui', (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    res.setHeader('Content-Security-Policy', UI_POLICY);
    // The app's files are named by their content's hash: they never change under one name.
    if (req.path.startsWith('/assets/')) res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    if (!existsSync(index)) {
      res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
      res.status(503).type('html').send(NOT_BUILT);
      return;
    }
    if (req.path === '/' || req.path === '') return res.sendFile(index);
    files(req, res, () => {
      // An asset that is not there is a 404, not the app's page: a stale page asking for an old chunk must fail.
      if (req.path.startsWith('/assets/') || req.path === '/favicon.svg') return next();
      res.setHeader('Cache-Control', 'no-store');
      res.sendFile(index);
    });
  });
  return router;
}
