/**
 * `npm start`: the whole of Mule on one machine. With DATABASE_URL unset it starts an embedded PostgreSQL whose
 * data lives in ./.mule/pg and survives restarts; it generates MULE_SECRET_KEY into ./.mule/secret-key once;
 * migrates; runs the api (loading examples/ unless MULE_DEFINITIONS says otherwise) and one worker; prints the
 * URL and a curl command. Ctrl-C stops all of it cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installQueue, migrate } from '@mule/db';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '@mule/db/embedded';
import { loadCliConfig, type CliConfig } from '../config.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const stateDirOf = (config: CliConfig) => resolve(config.MULE_HOME ?? join(process.cwd(), '.mule'));

async function secretKey(stateDir: string): Promise<string> {
  const file = join(stateDir, 'secret-key');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const key = randomBytes(32).toString('hex');
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  return key;
}

function run(name: string, script: string, env: NodeJS.ProcessEnv, onLine: (line: string) => void): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, script)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      process.stdout.write(`${name.padEnd(6)} ${line}\n`);
      onLine(line);
    }
  });
  return child;
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((done) => child.once('exit', (code) => done(code)));
}

export async function startCommand(): Promise<number> {
  const config = loadCliConfig();
  const stateDir = stateDirOf(config);
  await mkdir(stateDir, { recursive: true });
  let embedded: EmbeddedDatabase | null = null;
  let databaseUrl = config.DATABASE_URL;
  if (!databaseUrl) {
    console.log(`starting the embedded PostgreSQL (data in ${join(stateDir, 'pg')})…`);
    try {
      embedded = await startEmbeddedPostgres({ dataDir: join(stateDir, 'pg'), database: 'mule' });
    } catch (error) {
      console.error(`mule start: ${(error as Error).message}`);
      return 1;
    }
    databaseUrl = embedded.url('mule');
  }
  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map(exitOf));
    await embedded?.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    const { applied } = await migrate(databaseUrl);
    await installQueue(databaseUrl);
    if (applied.length > 0) console.log(`applied ${applied.length} migration(s)`);
  } catch (error) {
    console.error(`migration failed: ${(error as Error).message}`);
    await stopAll(1);
  }

  const env: NodeJS.ProcessEnv = {
    ...config.env,
    DATABASE_URL: databaseUrl,
    MULE_SECRET_KEY: config.MULE_SECRET_KEY ?? (await secretKey(stateDir)),
    MULE_DEFINITIONS: config.MULE_DEFINITIONS ?? join(ROOT, 'examples'),
  };
  let announced = false;
  const api = run('api', 'apps/api/dist/main.js', env, (line) => {
    if (announced || !line.includes('"api listening"')) return;
    announced = true;
    const { port } = JSON.parse(line) as { port: number };
    const host = env['HOST'] && env['HOST'] !== '0.0.0.0' ? env['HOST'] : '127.0.0.1';
    const url = `http://${host}:${port}`;
    const body = JSON.stringify({ model: 'workflow/shout', messages: [{ role: 'user', content: 'hello from mule' }] });
    console.log(`\nMule is running at ${url}  (Ctrl-C stops it)\nDashboard: ${url}/ui\n\nTry it:\n  curl -s ${url}/v1/chat/completions -H 'Content-Type: application/json' -d '${body}'\n`);
  });
  const worker = run('worker', 'apps/worker/dist/main.js', env, () => {});
  children.push(api, worker);
  for (const child of children) {
    void exitOf(child).then((code) => {
      if (stopping) return;
      console.error(`a Mule process exited (code ${code}); stopping the rest`);
      void stopAll(code || 1);
    });
  }
  await new Promise(() => {});
  return 0;
}
