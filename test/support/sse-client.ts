/** A raw Server-Sent Events reader for tests: every line as it arrives (comments and `data:` lines), until closed. */
export interface SseClient {
  headers: Headers;
  /** Every non-empty line received so far, in order (`: comment`, `data: {...}`). */
  lines: string[];
  /** The `data:` lines parsed as JSON (`[DONE]` kept as the string). */
  events(): unknown[];
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

export async function openSse(url: string, init: RequestInit = {}): Promise<SseClient> {
  const controller = new AbortController();
  const response = await fetch(url, { ...init, signal: controller.signal });
  if (!response.ok || !response.body) throw new Error(`SSE request failed: HTTP ${response.status} ${await response.text()}`);
  const lines: string[] = [];
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const ended = (async () => {
    let buffer = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += value;
        const parts = buffer.split('\n');
        buffer = parts.pop()!;
        for (const line of parts) if (line !== '') lines.push(line);
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    headers: response.headers,
    lines,
    events: () =>
      lines
        .filter((line) => line.startsWith('data: '))
        .map((line) => {
          const text = line.slice('data: '.length);
          return text === '[DONE]' ? text : JSON.parse(text);
        }),
    ended,
    close: () => controller.abort(),
  };
}
