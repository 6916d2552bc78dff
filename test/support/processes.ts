/**
 * Real api and worker processes for end-to-end tests, started from the built apps (`npm test` builds first).
 * Every process started here is stopped by `stopAllProcesses()` (call it in afterAll), so none outlives its test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this file holding turbo.json (this file is also compiled into bench/). */
function findRepoRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'turbo.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no turbo.json above ${from}`);
    dir = parent;
  }
  return dir;
}

export const REPO_ROOT = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

export interface MuleProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** The HTTP port it listens on (api: PORT; worker: METRICS_PORT). */
  readonly port: number;
  readonly url: string;
  readonly logs: string[];
  /** Sends `signal` and waits for the exit; SIGKILL after `timeoutMs`. Resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** Resolves when a log line matches (already seen lines count). */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
}

const running = new Set<MuleProcess>();

export async function startProcess(
  name: string,
  script: string,
  env: Record<string, string>,
  readyMessage: string,
): Promise<MuleProcess> {
  const child = spawn(process.execPath, [join(REPO_ROOT, script)], {
    cwd: REPO_ROOT,
    env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  // Lines are parsed only when something looks for one: the bench's processes log a line or more per job, and
  // parsing each in the load generator took CPU from the processes it measures on the same two cores.
  const parsed: Record<string, unknown>[] = [];
  const parse = (text: string): Record<string, unknown> => {
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch {
      return { msg: text };
    }
  };
  const parsedSoFar = () => {
    for (let i = parsed.length; i < lines.length; i++) parsed.push(parse(lines[i]!));
    return parsed;
  };
  const lines: string[] = [];
  const watchers = new Set<(line: Record<string, unknown>) => void>();
  let buffer = '';
  const onLine = (text: string) => {
    logs.push(text);
    lines.push(text);
    if (watchers.size === 0) return;
    const line = parsedSoFar()[lines.length - 1]!;
    for (const watcher of watchers) watcher(line);
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      onLine(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => logs.push(`[stderr] ${chunk.toString('utf8')}`));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const waitForLog: MuleProcess['waitForLog'] = (match, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const seen = parsedSoFar().find(match);
      if (seen) return resolve(seen);
      const timer = setTimeout(() => {
        watchers.delete(watcher);
        reject(new Error(`${name}: no matching log line within ${timeoutMs} ms; logs:\n${logs.slice(-30).join('\n')}`));
      }, timeoutMs);
      const watcher = (line: Record<string, unknown>) => {
        if (!match(line)) return;
        clearTimeout(timer);
        watchers.delete(watcher);
        resolve(line);
      };
      watchers.add(watcher);
      void exited.then((code) => {
        if (!watchers.has(watcher)) return;
        clearTimeout(timer);
        watchers.delete(watcher);
        reject(new Error(`${name} exited (${code}) before the expected log line; logs:\n${logs.slice(-30).join('\n')}`));
      });
    });

  const ready = await waitForLog((line) => line['msg'] === readyMessage);
  const port = Number(ready['port']);
  const proc: MuleProcess = {
    name,
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    logs,
    exited,
    waitForLog,
    stop: async (signal = 'SIGTERM', timeoutMs = 15_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      running.delete(proc);
      return code;
    },
  };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

export function startApi(databaseUrl: string, env: Record<string, string> = {}): Promise<MuleProcess> {
  return startProcess('api', 'apps/api/dist/main.js', { DATABASE_URL: databaseUrl, PORT: '0', ...env }, 'api listening');
}

export function startWorker(databaseUrl: string, env: Record<string, string> = {}): Promise<MuleProcess> {
  return startProcess(
    'worker',
    'apps/worker/dist/main.js',
    { DATABASE_URL: databaseUrl, METRICS_PORT: '0', MULE_LEASE_SECONDS: '20', ...env },
    'worker started',
  );
}

export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...running].map((proc) => proc.stop('SIGKILL')));
}

/**
 * Stops every process still running except `keep` (those a file starts in beforeAll). Called in afterEach, so a
 * process a test starts is stopped whether its assertions pass or not, and never runs on into the next test.
 */
export async function stopProcessesExcept(keep: readonly (MuleProcess | undefined)[]): Promise<void> {
  await Promise.all([...running].filter((proc) => !keep.includes(proc)).map((proc) => proc.stop('SIGKILL')));
}
