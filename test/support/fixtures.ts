/** Test modules (built from source by `npm run build`) and small HTTP helpers for definitions. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './processes.js';

export function testModule(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(REPO_ROOT, 'test', 'modules', `${name}.wasm`)));
}

export function exampleModule(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(REPO_ROOT, 'examples', 'modules', `${name}.wasm`)));
}

export interface HttpResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function http<T = any>(baseUrl: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body instanceof Uint8Array) {
    init.body = body;
    (init.headers as Record<string, string>)['content-type'] ??= 'application/wasm';
  } else if (typeof body === 'string') {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${baseUrl}${path}`, init);
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body: parsed as T };
}

export async function putModule(baseUrl: string, name: string, bytes: Uint8Array, query = ''): Promise<HttpResult> {
  return http(baseUrl, 'PUT', `/v1/wasm/modules/${name}${query}`, bytes);
}

export async function putWorkflow(baseUrl: string, name: string, steps: unknown[]): Promise<HttpResult> {
  return http(baseUrl, 'PUT', `/v1/workflows/${name}`, { steps });
}

/** Polls a condition every 20 ms (tests wait for conditions, never fixed sleeps). */
export async function waitFor<T>(check: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
