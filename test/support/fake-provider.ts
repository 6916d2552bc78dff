/**
 * The only fake in the suite: a real HTTP server on 127.0.0.1 that speaks the edge we do not own, the OpenAI
 * chat-completions API (`POST {url}/chat/completions`) and Gemini's `generateContent` / `streamGenerateContent`
 * (`POST {geminiUrl}/v1beta/models/{model}:…`, as @google/genai calls them through ADK).
 *
 * Tests script replies in order (`script`) or answer dynamically (`onRequest`); with nothing scripted the fake
 * echoes the last user message. Every request is recorded with its headers and parsed body, and `aborted` tells
 * whether the client went away before the reply finished. Only Node built-ins, so bench/ can compile it too.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

export interface FakeToolCall {
  name: string;
  /** Raw JSON text as a model would send it; may be malformed on purpose (OpenAI path only). */
  arguments: string;
}

export type FakeFinishReason = 'stop' | 'length' | 'content_filter';

export type FakeReply =
  /** `tokenDelayMs`: a streamed reply waits this long before each text delta after the first (a slow model). */
  | { text: string; usage?: FakeUsage; delayMs?: number; finishReason?: FakeFinishReason; tokenDelayMs?: number }
  | { toolCalls: FakeToolCall[]; text?: string; usage?: FakeUsage; delayMs?: number }
  | { error: { status: number; message: string; retryAfter?: string }; delayMs?: number }
  /** Never answers; the request is recorded `aborted: true` once the client gives up. */
  | { hang: true };

export interface RecordedRequest {
  method: string;
  /** Path and query, e.g. `/v1/chat/completions` or `/gemini/v1beta/models/m:streamGenerateContent?alt=sse`. */
  path: string;
  api: 'openai' | 'gemini' | 'unknown';
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (the raw text when it was not JSON). */
  body: any;
  /** The client closed the connection before the reply was complete. */
  aborted: boolean;
  /** The reply finished being written. */
  answered: boolean;
}

export interface FakeProvider {
  /** Base URL for OpenAI clients, e.g. http://127.0.0.1:PORT/v1 */
  readonly url: string;
  /** Base URL for @google/genai (`httpOptions.baseUrl`). */
  readonly geminiUrl: string;
  readonly requests: RecordedRequest[];
  /** Queues replies, consumed in order by requests of either API. */
  script(...replies: FakeReply[]): void;
  /** Dynamic behaviour: consulted before the script; return undefined to fall through to it. */
  onRequest: ((request: RecordedRequest) => FakeReply | undefined) | undefined;
  /** Resolves when `predicate` holds, re-checked whenever a request arrives or ends (no sleeps). */
  waitFor(predicate: (requests: RecordedRequest[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Forgets recorded requests, queued replies and `onRequest`. */
  reset(): void;
  close(): Promise<void>;
}

const DEFAULT_USAGE: FakeUsage = { prompt_tokens: 10, completion_tokens: 5 };

export async function startFakeProvider(): Promise<FakeProvider> {
  const requests: RecordedRequest[] = [];
  const queue: FakeReply[] = [];
  const watchers = new Set<() => void>();
  const timers = new Set<NodeJS.Timeout>();
  let callCounter = 0;
  const notify = (): void => watchers.forEach((watcher) => watcher());

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `fake provider bug: ${String(error)}` } }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const path = req.url ?? '/';
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      api: path.startsWith('/gemini/') ? 'gemini' : path.startsWith('/v1/') ? 'openai' : 'unknown',
      headers: req.headers,
      body: parseJson(raw),
      aborted: false,
      answered: false,
    };
    requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
      else record.answered = true;
      notify();
    });
    notify();

    const reply = fake.onRequest?.(record) ?? queue.shift() ?? echoReply(record);
    if ('hang' in reply) return;
    if (reply.delayMs) await sleep(reply.delayMs);
    if (res.destroyed) return;

    if (record.api === 'openai' && req.method === 'POST' && path.split('?')[0] === '/v1/chat/completions') {
      await answerOpenAi(record, reply, res);
    } else if (record.api === 'gemini' && req.method === 'POST' && /:(stream)?[gG]enerateContent\b/.test(path)) {
      answerGemini(record, reply, res);
    } else {
      sendJson(res, 404, { error: { message: `fake provider: no route ${req.method} ${path}` } });
    }
  }

  async function answerOpenAi(record: RecordedRequest, reply: Exclude<FakeReply, { hang: true }>, res: ServerResponse): Promise<void> {
    if ('error' in reply) {
      const headers: Record<string, string> = reply.error.retryAfter ? { 'retry-after': reply.error.retryAfter } : {};
      const type = reply.error.status === 429 ? 'rate_limit_error' : reply.error.status >= 500 ? 'server_error' : 'invalid_request_error';
      sendJson(res, reply.error.status, { error: { message: reply.error.message, type, param: null, code: null } }, headers);
      return;
    }
    const id = `chatcmpl-fake-${requests.length}`;
    const created = Math.floor(Date.now() / 1000);
    const model = String(record.body?.model ?? 'fake-model');
    const usage = usageOf(reply.usage);
    const toolCalls =
      'toolCalls' in reply
        ? reply.toolCalls.map((call) => ({ id: `call_${++callCounter}`, type: 'function' as const, function: call }))
        : [];
    const text = 'toolCalls' in reply ? (reply.text ?? null) : reply.text;
    const finishReason = toolCalls.length > 0 ? 'tool_calls' : ('finishReason' in reply && reply.finishReason) || 'stop';

    if (record.body?.stream !== true) {
      const message = { role: 'assistant', content: text, refusal: null, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) };
      sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message, finish_reason: finishReason, logprobs: null }],
        usage,
      });
      return;
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): void => {
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`);
    };
    chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
    const tokenDelayMs = 'tokenDelayMs' in reply ? (reply.tokenDelayMs ?? 0) : 0;
    for (const [index, piece] of splitText(text ?? '').entries()) {
      if (tokenDelayMs > 0 && index > 0) await sleep(tokenDelayMs);
      if (res.destroyed) return;
      chunk([{ index: 0, delta: { content: piece }, finish_reason: null }]);
    }
    toolCalls.forEach((call, index) => {
      const head = { index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } };
      chunk([{ index: 0, delta: { tool_calls: [head] }, finish_reason: null }]);
      for (const piece of splitHalves(call.function.arguments)) {
        chunk([{ index: 0, delta: { tool_calls: [{ index, function: { arguments: piece } }] }, finish_reason: null }]);
      }
    });
    chunk([{ index: 0, delta: {}, finish_reason: finishReason }]);
    if (record.body?.stream_options?.include_usage === true) chunk([], { usage });
    res.end('data: [DONE]\n\n');
  }

  function answerGemini(record: RecordedRequest, reply: Exclude<FakeReply, { hang: true }>, res: ServerResponse): void {
    if ('error' in reply) {
      const { status, message, retryAfter } = reply.error;
      const details = retryAfter ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryAfter}s` }] : undefined;
      const headers: Record<string, string> = retryAfter ? { 'retry-after': retryAfter } : {};
      sendJson(res, status, { error: { code: status, message, status: grpcStatus(status), ...(details ? { details } : {}) } }, headers);
      return;
    }
    const usage = usageOf(reply.usage);
    const usageMetadata = {
      promptTokenCount: usage.prompt_tokens,
      candidatesTokenCount: usage.completion_tokens,
      totalTokenCount: usage.total_tokens,
    };
    const finishReason = { stop: 'STOP', length: 'MAX_TOKENS', content_filter: 'SAFETY' }[
      ('finishReason' in reply && reply.finishReason) || 'stop'
    ];
    const text = 'toolCalls' in reply ? reply.text : reply.text;
    const callParts: unknown[] = [];
    if ('toolCalls' in reply) {
      for (const call of reply.toolCalls) {
        const args = parseJson(call.arguments);
        if (args === null || typeof args !== 'object') {
          sendJson(res, 400, { error: { code: 400, message: 'fake provider: Gemini tool call arguments must be a JSON object', status: 'INVALID_ARGUMENT' } });
          return;
        }
        callParts.push({ functionCall: { name: call.name, args } });
      }
    }
    const response = (parts: unknown[], last: boolean): unknown => ({
      candidates: [{ content: { role: 'model', parts }, index: 0, ...(last ? { finishReason } : {}) }],
      ...(last ? { usageMetadata } : {}),
      modelVersion: 'fake-gemini',
    });

    if (!record.path.includes(':streamGenerateContent')) {
      sendJson(res, 200, response([...(text ? [{ text }] : []), ...callParts], true));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const pieces = splitText(text ?? '');
    const events: unknown[][] = [...pieces.map((piece) => [{ text: piece }]), ...(callParts.length ? [callParts] : [])];
    if (events.length === 0) events.push([{ text: '' }]);
    events.forEach((parts, index) => res.write(`data: ${JSON.stringify(response(parts, index === events.length - 1))}\r\n\r\n`));
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const fake: FakeProvider = {
    url: `http://127.0.0.1:${port}/v1`,
    geminiUrl: `http://127.0.0.1:${port}/gemini`,
    requests,
    onRequest: undefined,
    script(...replies) {
      queue.push(...replies);
    },
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (!predicate(requests)) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`fake provider: condition not met after ${timeoutMs} ms (${requests.length} requests)`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          watchers.delete(check);
        };
        watchers.add(check);
        check();
      });
    },
    reset() {
      requests.length = 0;
      queue.length = 0;
      fake.onRequest = undefined;
    },
    async close() {
      timers.forEach((timer) => clearTimeout(timer));
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
  return fake;
}

/** Without a script: echo the last user message's text, as both APIs would carry it. */
function echoReply(record: RecordedRequest): FakeReply {
  if (record.api === 'gemini') {
    const contents: any[] = Array.isArray(record.body?.contents) ? record.body.contents : [];
    const lastUser = [...contents].reverse().find((content) => content?.role === 'user' && content.parts?.some((part: any) => typeof part?.text === 'string'));
    const text = (lastUser?.parts ?? []).map((part: any) => (typeof part?.text === 'string' ? part.text : '')).join('');
    return { text };
  }
  const messages: any[] = Array.isArray(record.body?.messages) ? record.body.messages : [];
  const lastUser = [...messages].reverse().find((message) => message?.role === 'user');
  const content = lastUser?.content;
  const text = typeof content === 'string' ? content : Array.isArray(content) ? content.map((part: any) => part?.text ?? '').join('') : '';
  return { text };
}

function usageOf(usage: FakeUsage | undefined): FakeUsage & { total_tokens: number } {
  const { prompt_tokens, completion_tokens } = usage ?? DEFAULT_USAGE;
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

/** Words with their trailing spaces, so streamed deltas concatenate back to the text exactly. */
function splitText(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text ? [text] : []);
}

function splitHalves(text: string): string[] {
  const middle = Math.ceil(text.length / 2);
  return [text.slice(0, middle), text.slice(middle)].filter((piece) => piece.length > 0);
}

function grpcStatus(status: number): string {
  if (status === 429) return 'RESOURCE_EXHAUSTED';
  if (status === 400) return 'INVALID_ARGUMENT';
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'PERMISSION_DENIED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 503) return 'UNAVAILABLE';
  return 'INTERNAL';
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function parseJson(text: string): any {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
