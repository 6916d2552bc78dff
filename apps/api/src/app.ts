/** The express application: body parsing, routes, and the one error handler (OpenAI error shape everywhere). */
import express, { type NextFunction, type Request, type Response } from 'express';
import { MuleError } from '@mule/core';
import { isConnectionError } from '@mule/db';
import { context, contextFromHeaders, metrics, SpanKind, SpanStatusCode, trace, tracer } from '@mule/observability';
import type { ApiContext } from './api-context.js';
import type { DefinitionContext } from './definitions-service.js';
import { sendError } from './http-errors.js';
import { chatCompletionsRouter } from './routes/chat-completions.js';
import { definitionsRouter } from './routes/definitions.js';
import { eventsRouter } from './routes/events.js';
import { healthRouter } from './routes/health.js';
import { hooksRouter } from './routes/hooks.js';
import { jobsRouter } from './routes/jobs.js';
import { keysRouter } from './routes/keys.js';
import { mcpRouter } from './routes/mcp.js';
import { modelsRouter } from './routes/models.js';
import { responsesRouter } from './routes/responses.js';
import { uiRouter } from './routes/ui.js';
import { waitsRouter } from './routes/waits.js';
import { wasmExecuteRouter } from './routes/wasm-execute.js';
import { keyOrResumeToken } from './resume-links.js';
import { bodyProblem } from './json-body-check.js';
import { keepingContext } from './request-context.js';

const MODULE_UPLOAD = /^\/v1\/wasm\/modules\/[^/]+$/;

function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
  res.setHeader('Cache-Control', 'no-store');
  next();
}

function checkJsonBody(req: Request, _res: Response, next: NextFunction): void {
  if (req.body === null || typeof req.body !== 'object' || Buffer.isBuffer(req.body)) return next();
  const problem = bodyProblem(req.body as object);
  next(problem ? new MuleError('invalid_request', problem) : undefined);
}

export function createApp(ctx: ApiContext, defs: DefinitionContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    // The request's server span continues the caller's W3C traceparent; without tracing it is the no-op span.
    const span = tracer.startSpan(
      req.method,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'url.path': req.path } },
      contextFromHeaders(req.headers),
    );
    const traceId = span.isRecording() ? span.spanContext().traceId : undefined;
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The route pattern, not the path: job ids and names must not become label values.
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      metrics.httpDuration.observe({ route }, ms / 1000, traceId);
      if (traceId) {
        span.updateName(`${req.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': res.statusCode });
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
      ctx.log.info({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 100) / 100, ...(traceId ? { trace_id: traceId } : {}) }, 'request');
    });
    if (!traceId) return next();
    // Kept across the body parsers by keepingContext (request-context.ts).
    context.with(trace.setSpan(context.active(), span), next);
  });

  app.use(securityHeaders);
  app.use((_req, res, next) => {
    if (!ctx.isStopping()) return next();
    // A request that arrives on a kept-alive connection while we stop: answered, and the connection closed.
    res.setHeader('Connection', 'close');
    sendError(res, new MuleError('unavailable', 'the api is stopping; send the request again', { details: { retryAfterSeconds: 1 } }));
  });
  // The dashboard's static files: no key (the page asks for one and sends it on its /v1 calls).
  app.use(uiRouter(ctx.access));
  // Webhooks: no API key (the signature over the raw body authenticates them), their own raw-body parser.
  app.use(hooksRouter(ctx));
  // Who is calling, before any body is read: an unauthenticated flood costs no parsing.
  // A resume or reject with a resume token is authorized by the token (routes/waits.ts), not by a key.
  app.use('/v1', keyOrResumeToken(ctx.access.middleware()));
  app.use('/mcp', ctx.access.middleware());
  const json = keepingContext(express.json({ limit: ctx.config.MULE_MAX_BODY_BYTES, type: ['application/json', 'application/*+json'] }));
  // Module uploads parse their own bodies (raw bytes, or JSON larger than MULE_MAX_BODY_BYTES).
  app.use((req, res, next) => (req.method === 'PUT' && MODULE_UPLOAD.test(req.path) ? next() : json(req, res, next)));
  app.use(checkJsonBody);

  app.use(healthRouter(ctx));
  app.use(modelsRouter(ctx));
  app.use(chatCompletionsRouter(ctx));
  app.use(responsesRouter(ctx));
  app.use(jobsRouter(ctx));
  app.use(eventsRouter(ctx));
  app.use(waitsRouter(ctx));
  app.use(wasmExecuteRouter(ctx));
  app.use(definitionsRouter(ctx, defs));
  app.use(keysRouter(ctx));
  app.use(mcpRouter(ctx));

  app.use((req: Request, res: Response) => {
    sendError(res, new MuleError('not_found', `no route ${req.method} ${req.path}`));
  });
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const parserError = error as { type?: string; status?: number; message?: string };
    if (parserError?.type === 'entity.too.large') {
      sendError(res, new MuleError('payload_too_large', `the request body is larger than MULE_MAX_BODY_BYTES (${ctx.config.MULE_MAX_BODY_BYTES} bytes)`));
      return;
    }
    if (parserError?.type === 'entity.parse.failed') {
      sendError(res, new MuleError('invalid_request', `the request body is not valid JSON: ${parserError.message ?? ''}`.trim()));
      return;
    }
    if (typeof parserError?.status === 'number' && parserError.status >= 400 && parserError.status < 500 && !(error instanceof MuleError)) {
      // Other body-parser refusals: unsupported charset or encoding, aborted upload.
      sendError(res, new MuleError('invalid_request', parserError.message ?? 'bad request'));
      return;
    }
    if (isConnectionError(error)) {
      ctx.log.warn({ err: (error as Error).message, method: req.method, path: req.path }, 'database unreachable');
      if (!res.headersSent) sendError(res, new MuleError('unavailable', 'the database is unreachable; try again shortly'));
      else res.end();
      return;
    }
    if (!(error instanceof MuleError) || error.code === 'internal_error') {
      ctx.log.error({ err: error, method: req.method, path: req.path }, 'request failed');
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    sendError(res, error);
  });
  return app;
}
