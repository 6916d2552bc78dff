/**
 * The dashboard's only way out: Mule's public HTTP API on this origin, with the signed-in key as a Bearer token.
 * The key lives in sessionStorage (gone when the tab closes), never in localStorage or a cookie.
 */
const KEY_ITEM = 'mule.apiKey';

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY_ITEM),
  signIn: (key: string) => sessionStorage.setItem(KEY_ITEM, key),
  signOut: () => sessionStorage.removeItem(KEY_ITEM),
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = session.key();
  return { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...extra };
}

async function failure(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`;
  let code: string | undefined;
  try {
    const body = (await response.json()) as { error?: { message?: string; code?: string } };
    if (body.error?.message) message = body.error.message;
    code = body.error?.code;
  } catch {
    // Not the OpenAI error shape: the status line says enough.
  }
  return new ApiError(response.status, message, code);
}

export async function api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  return (await response.json()) as T;
}

/**
 * Reads a Server-Sent Events answer with fetch (EventSource cannot send an Authorization header). Calls `onOpen`
 * once the answer's headers arrived, `onData` with each `data:` payload; resolves when the stream ends.
 */
export async function readSse(
  path: string,
  init: { method?: string; body?: unknown; signal: AbortSignal; onOpen?: () => void; onData: (data: string) => void },
): Promise<void> {
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    headers: headers({ Accept: 'text/event-stream', ...(init.body === undefined ? {} : { 'Content-Type': 'application/json' }) }),
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: init.signal,
  });
  if (!response.ok || !response.body) throw await failure(response);
  init.onOpen?.();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      if (data) init.onData(data);
    }
  }
}

export interface JobEvent {
  type: 'job';
  id: string;
  status: string;
  workflow: string;
}

/**
 * Watches `/v1/events` until `signal` aborts, reconnecting after a drop (the api ends streams when it stops).
 * `onOpen` runs at each (re)connect: what changed while away is read again by the caller.
 */
export function watchJobs(signal: AbortSignal, onEvent: (event: JobEvent) => void, onOpen: () => void): void {
  const loop = async () => {
    while (!signal.aborted) {
      try {
        await readSse('/v1/events', { signal, onOpen, onData: (data) => onEvent(JSON.parse(data) as JobEvent) });
      } catch {
        // A drop or a refusal (429 at the stream limit): try again shortly.
      }
      if (!signal.aborted) await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  };
  void loop();
}

export interface StepView {
  id: string;
  item?: number;
  type: string;
  status: string;
  attempt: number;
  input: unknown;
  output: unknown;
  error: { code: string; message: string } | null;
  usage: unknown;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  wait_until?: string | null;
  /** What a WASM step wrote to stderr (capped by the api); null or absent when it wrote nothing. */
  logs?: string | null;
}

export interface JobView {
  id: string;
  workflow: string;
  workflow_version: number;
  model: string;
  status: string;
  input: unknown;
  output: unknown;
  error: { code: string; message: string } | null;
  attempts: number;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  replay_of: string | null;
  trigger: string | null;
  /** Each step with the steps it needs, as the worker runs them (implicit needs resolved). */
  graph: { id: string; type: string; needs: string[] }[];
  steps: StepView[];
}

export interface List<T> {
  data: T[];
  has_more?: boolean;
}
