/**
 * Once per `npm test`: find a PostgreSQL (DATABASE_URL, else 127.0.0.1:5432 if it answers, else an embedded
 * one started here), migrate a template database, and hand both to the test files through the environment.
 * Each test file then clones the template (test/support/database.ts), which takes ~50 ms instead of migrating.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { installQueue, migrate } from '@mule/db';
import { findOrStartPostgres, withDatabase, type EmbeddedDatabase } from '@mule/db/embedded';

declare global {
  var __MULE_EMBEDDED__: EmbeddedDatabase | undefined;
}

export default async function globalSetup(): Promise<void> {
  const { adminUrl, embedded } = await findOrStartPostgres({
    dataDir: join(tmpdir(), `mule-test-pg-${process.pid}`),
    // A throwaway cluster: durability is not what these tests measure.
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' },
  });
  globalThis.__MULE_EMBEDDED__ = embedded ?? undefined;
  const template = `mule_tpl_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${template}`);
  await admin.end();
  const templateUrl = withDatabase(adminUrl, template);
  await migrate(templateUrl);
  await installQueue(templateUrl);
  process.env['MULE_TEST_ADMIN_URL'] = adminUrl;
  process.env['MULE_TEST_TEMPLATE'] = template;
}
