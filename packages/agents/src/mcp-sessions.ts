/**
 * One MCP session per server (name + url + header values) per process, shared by every agent run that uses it.
 * ADK's own MCP toolset opens a session per call: `initialize`, the `initialized` notification, the call and the
 * session's DELETE, four HTTP requests where a reused session needs one. Measured against a local SDK server, a call
 * took ~0.6–1 ms over a reused session against ~2.6–3.9 ms with a session per call; with 10 ms of server latency per
 * request, ~12 ms against ~50 ms.
 *
 * Sessions connect lazily, list their tools once (until the session is replaced), and are replaced when a call fails
 * in transport: the call is retried once on a fresh session, and a second failure is `tool_error`. Results and
 * JSON-RPC errors the server answered with are the tool's answer, not failures of the session.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { McpError } from '@modelcontextprotocol/sdk/types.js';
import { MuleError } from '@mule/core';

// The SDK client takes ~110 ms to import: loaded on the first session, so processes without MCP servers never pay.
interface Sdk {
  Client: typeof Client;
  StreamableHTTPClientTransport: typeof StreamableHTTPClientTransport;
  McpError: typeof McpError;
  connectionClosed: number;
  requestTimeout: number;
}
let sdk: Sdk | undefined;

async function loadSdk(): Promise<Sdk> {
  if (sdk) return sdk;
  const [client, http, types] = await Promise.all([
    import('@modelcontextprotocol/sdk/client/index.js'),
    import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ]);
  sdk = {
    Client: client.Client,
    StreamableHTTPClientTransport: http.StreamableHTTPClientTransport,
    McpError: types.McpError,
    connectionClosed: types.ErrorCode.ConnectionClosed,
    requestTimeout: types.ErrorCode.RequestTimeout,
  };
  return sdk;
}

/** A server as a run reaches it: header values already read from the environment. */
export interface McpServerTarget {
  name: string;
  url: string;
  headers: Record<string, string>;
}

export interface McpToolInfo {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/** What a tool call answered: text for the model, and whether the server flagged it as an error (`isError`). */
export interface McpCallAnswer {
  text: string;
  isError: boolean;
}

// A server listing more than this many pages is treated as broken rather than followed forever.
const MAX_TOOL_PAGES = 20;

const keyOf = (target: McpServerTarget) =>
  JSON.stringify([target.name, target.url, Object.entries(target.headers).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);

/** A JSON-RPC error the server sent back (not a lost connection or a timeout): the tool's own answer. */
function answeredByServer(error: unknown): error is McpError {
  return sdk !== undefined && error instanceof sdk.McpError && error.code !== sdk.connectionClosed && error.code !== sdk.requestTimeout;
}

function unreachable(target: McpServerTarget, error: unknown): MuleError {
  const reason = error instanceof Error ? error.message : String(error);
  return new MuleError('tool_error', `MCP server "${target.name}" (${target.url}) cannot be reached: ${reason}`, {
    details: { server: target.name },
    cause: error,
  });
}

class McpSession {
  private client: Promise<Client> | undefined;
  private tools: Promise<McpToolInfo[]> | undefined;

  constructor(
    readonly target: McpServerTarget,
    private readonly onInitialize: () => void,
  ) {}

  private connect(): Promise<Client> {
    this.client ??= (async () => {
      const { Client, StreamableHTTPClientTransport } = await loadSdk();
      const client = new Client({ name: 'mule', version: '0.1.0' });
      const transport = new StreamableHTTPClientTransport(new URL(this.target.url), { requestInit: { headers: this.target.headers } });
      this.onInitialize();
      await client.connect(transport);
      // A closed transport (server gone, session ended) makes the next call connect again.
      client.onclose = () => this.forget(client);
      return client;
    })();
    const pending = this.client;
    pending.catch(() => {
      if (this.client === pending) this.client = undefined;
    });
    return pending;
  }

  private forget(client: Client): void {
    void this.client?.then((current) => {
      if (current !== client) return;
      this.client = undefined;
      this.tools = undefined;
    }, () => undefined);
  }

  /** Runs `use` on the session; a transport failure drops the session and tries once more on a new one. */
  private async withClient<T>(use: (client: Client) => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      let client: Client | undefined;
      try {
        client = await this.connect();
        return await use(client);
      } catch (error) {
        if (signal?.aborted || answeredByServer(error)) throw error;
        if (client) {
          this.forget(client);
          void client.close().catch(() => undefined);
        }
        if (attempt >= 2) throw unreachable(this.target, error);
      }
    }
  }

  listTools(): Promise<McpToolInfo[]> {
    this.tools ??= this.withClient(async (client) => {
      const found: McpToolInfo[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < MAX_TOOL_PAGES; page += 1) {
        const answer = await client.listTools(cursor ? { cursor } : {});
        for (const tool of answer.tools) {
          found.push({ name: tool.name, description: tool.description ?? tool.title ?? tool.name, inputSchema: tool.inputSchema as Record<string, unknown> });
        }
        cursor = answer.nextCursor;
        if (!cursor) break;
      }
      return found;
    });
    const pending = this.tools;
    pending.catch(() => {
      if (this.tools === pending) this.tools = undefined;
    });
    return pending;
  }

  async callTool(name: string, args: Record<string, unknown>, signal: AbortSignal): Promise<McpCallAnswer> {
    // A signal of its own per call: the SDK leaves its listeners on the signal it is given, and a run's signal serves
    // up to max_tool_calls calls (Node warns past 10 listeners).
    const call = new AbortController();
    const abort = () => call.abort(signal.reason);
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    try {
      const result = await this.withClient((client) => client.callTool({ name, arguments: args }, undefined, { signal: call.signal }), signal);
      return { text: resultText(result.content), isError: result.isError === true };
    } catch (error) {
      if (answeredByServer(error)) return { text: error.message, isError: true };
      throw error;
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.tools = undefined;
    const open = await client?.catch(() => undefined);
    if (!open) return;
    // Ends the session on the server too (HTTP DELETE), so it does not keep state for a client that is gone.
    const transport = open.transport as StreamableHTTPClientTransport | undefined;
    await transport?.terminateSession().catch(() => undefined);
    await open.close().catch(() => undefined);
  }
}

/** A tool result's content as text: text parts joined; other parts (images, resources) described briefly. */
function resultText(content: unknown): string {
  if (!Array.isArray(content)) return '';
  return content
    .map((part: { type?: string; text?: string; mimeType?: string; resource?: { uri?: string; text?: string }; uri?: string }) => {
      if (part.type === 'text') return part.text ?? '';
      if (part.type === 'resource') return part.resource?.text ?? `[resource ${part.resource?.uri ?? ''}]`;
      if (part.type === 'resource_link') return `[resource ${part.uri ?? ''}]`;
      return `[${part.type ?? 'content'}${part.mimeType ? ` ${part.mimeType}` : ''}]`;
    })
    .join('\n');
}

/** The sessions of one process. */
export class McpSessionPool {
  private readonly sessions = new Map<string, McpSession>();
  /** How many sessions were opened (an `initialize` each): the reuse measure. */
  initializations = 0;

  private session(target: McpServerTarget): McpSession {
    const key = keyOf(target);
    let session = this.sessions.get(key);
    if (!session) {
      session = new McpSession(target, () => (this.initializations += 1));
      this.sessions.set(key, session);
    }
    return session;
  }

  listTools(target: McpServerTarget): Promise<McpToolInfo[]> {
    return this.session(target).listTools();
  }

  callTool(target: McpServerTarget, tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<McpCallAnswer> {
    return this.session(target).callTool(tool, args, signal);
  }

  /** Closes the sessions whose server is not among `current` any more (removed, or its url or headers changed). */
  async retain(current: McpServerTarget[]): Promise<void> {
    const keep = new Set(current.map(keyOf));
    const stale = [...this.sessions.entries()].filter(([key]) => !keep.has(key));
    for (const [key] of stale) this.sessions.delete(key);
    await Promise.allSettled(stale.map(([, session]) => session.close()));
  }

  async close(): Promise<void> {
    await this.retain([]);
  }
}
