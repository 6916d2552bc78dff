/**
 * `/mcp`: Mule as an MCP server over Streamable HTTP, stateless. Every POST gets a new server and transport
 * (`sessionIdGenerator: undefined`) that live for that request: no session to keep, share or lose, so any replica
 * answers any request (a task's state is its job, in PostgreSQL). The cost is an `initialize` per client
 * connection and a server object per request, microseconds next to a job. With no session there is no stream
 * for server-sent requests, so GET and DELETE answer 405, as the protocol allows.
 *
 * Authentication, body limits and JSON depth are app.ts's, as on /v1: a missing or bad key is the OpenAI-shaped
 * 401 before the body is read, which an MCP client reports as an HTTP 401.
 */
import { Router, type Request, type Response } from 'express';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { MuleError } from '@mule/core';
import { callerOf } from '../access.js';
import type { ApiContext } from '../api-context.js';
import { createMcpServer } from '../mcp-server.js';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Browsers send Origin; MCP clients do not (or send a local one, the MCP inspector's). A page on another origin
 * that reaches /mcp by DNS rebinding is same-origin to the browser, so no CORS preflight stops it: its Origin
 * header does. Mule serves no pages and answers no preflight, so no legitimate browser caller is refused.
 */
function originRefused(req: Request): boolean {
  const origin = req.get('origin');
  if (origin === undefined) return false;
  try {
    return !LOOPBACK_HOSTS.has(new URL(origin).hostname);
  } catch {
    return true;
  }
}

function methodNotAllowed(_req: Request, res: Response): void {
  res.setHeader('Allow', 'POST');
  res.status(405).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP server is stateless; send POST' }, id: null });
}

export function mcpRouter(ctx: ApiContext): Router {
  const router = Router();
  router.use('/mcp', (req, _res, next) => {
    next(originRefused(req) ? new MuleError('forbidden', `requests from the browser origin ${req.get('origin')} are refused`) : undefined);
  });
  router.post('/mcp', async (req, res) => {
    const server = createMcpServer(ctx, callerOf(res));
    // JSON answers, not SSE: a stateless server sends nothing before the result, and JSON is what curl shows.
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      // Aborts handlers still running (their waits stop; a job goes on, as on /v1).
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  router.get('/mcp', methodNotAllowed);
  router.delete('/mcp', methodNotAllowed);
  return router;
}
