/**
 * The SQL migrations and schema.prisma must agree (nothing here can diff them: `prisma migrate diff`
 * needs Prisma's native schema engine, which is not installed): migrate an empty
 * database with our runner and exercise every Prisma model against it. Also: the runner records migrations the
 * way `prisma migrate deploy` does.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@mule/test/support/database.js';
import { isMigrated, migrate, MIGRATIONS_DIR, readMigrations } from './migrate.js';
import { createPool } from './pool.js';
import { createPrisma, type PrismaClient } from './prisma-client.js';

let db: TestDatabase;
let pool: pg.Pool;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase();
  // Start from an empty database, not the migrated template.
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP SCHEMA IF EXISTS pgboss CASCADE');
  await admin.end();
  pool = createPool({ connectionString: db.url, max: 2 });
  prisma = createPrisma(pool);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await pool?.end();
  await db?.drop();
});

test('migrate applies every migration once and records it as prisma migrate deploy does', async () => {
  expect(await isMigrated(pool)).toBe(false);
  const migrations = await readMigrations();
  const first = await migrate(db.url);
  expect(first.applied).toEqual(migrations.map((m) => m.name));
  const again = await migrate(db.url);
  expect(again).toEqual({ applied: [], modified: [] });
  expect(await isMigrated(pool)).toBe(true);
  const { rows } = await pool.query('SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name');
  const firstName = migrations[0]!.name;
  const sql = await readFile(join(MIGRATIONS_DIR, firstName, 'migration.sql'));
  expect(rows[0]).toMatchObject({
    migration_name: firstName,
    checksum: createHash('sha256').update(sql).digest('hex'),
    applied_steps_count: 1,
  });
  expect(rows[0].finished_at).toBeInstanceOf(Date);
});

test('every Prisma model can be written and read against the migrated schema', async () => {
  await prisma.provider.create({ data: { name: 'p', spec: { type: 'openai' }, apiKeyCipher: 'v1.x.y.z' } });
  await prisma.agent.create({ data: { name: 'a', spec: { provider: 'p', model: 'm' } } });
  await prisma.wasmBlob.create({ data: { sha256: 'f'.repeat(64), bytes: Buffer.from([0, 97, 115, 109]), size: 4 } });
  await prisma.wasmModule.create({ data: { name: 'm', sha256: 'f'.repeat(64), spec: { name: 'm' } } });
  await prisma.workflow.create({ data: { name: 'w', version: 1, versions: { create: { version: 1, spec: { steps: [] } } } } });
  const id = '6f1c2d3e-4a5b-4c6d-8e7f-001122334455';
  await prisma.job.create({
    data: {
      id,
      workflowName: 'w',
      workflowVersion: 1,
      model: 'workflow/w',
      status: 'queued',
      input: { prompt: 'x' },
      plan: { steps: [] },
      idempotencyKey: 'k',
      steps: { create: { stepIndex: 0, attempt: 1, stepId: 's', type: 'wasm', status: 'running', input: {} } },
    },
  });
  const job = await prisma.job.findUnique({ where: { id }, include: { steps: true } });
  expect(job).toMatchObject({ status: 'queued', attempts: 0, steps: [{ stepId: 's', attempt: 1 }] });
  const module = await prisma.wasmModule.findUnique({ where: { name: 'm' }, include: { blob: true } });
  expect(module?.blob.size).toBe(4);
  expect((await prisma.workflow.findUnique({ where: { name: 'w' }, include: { versions: true } }))?.versions).toHaveLength(1);
  expect(await prisma.provider.count()).toBe(1);
  expect(await prisma.agent.count()).toBe(1);
  await expect(prisma.job.update({ where: { id }, data: { status: 'sleeping' } })).rejects.toThrow();
});

test('only jobs that carry an idempotency key have an entry in its unique index', async () => {
  // Every job row version (queued, running, ended) would otherwise write one, for a key that can never conflict.
  const { rows } = await pool.query<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE indexname = 'jobs_idempotency_key_key'`);
  expect(rows[0]?.indexdef).toMatch(/UNIQUE INDEX .* WHERE \(idempotency_key IS NOT NULL\)$/);
});
