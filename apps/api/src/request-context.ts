/**
 * A request's trace context across its body parser. Parsers finish in the socket's own callbacks, where the
 * request's context is no longer active; binding the request and response emitters to it kept it, but wrapped
 * every listener of every traced request (about 5% of the api's CPU under async load). A parser wrapped here
 * hands over to the next handler in the context that was active when it started.
 */
import type { RequestHandler } from 'express';
import { context } from '@mule/observability';

export function keepingContext(parser: RequestHandler): RequestHandler {
  return (req, res, next) => {
    const active = context.active();
    parser(req, res, (error?: unknown) => context.with(active, () => next(error)));
  };
}
