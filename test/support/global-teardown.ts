/** Drops the template database and stops the embedded PostgreSQL, if global-setup started one. */
import pg from 'pg';

export default async function globalTeardown(): Promise<void> {
  const adminUrl = process.env['MULE_TEST_ADMIN_URL'];
  const template = process.env['MULE_TEST_TEMPLATE'];
  if (adminUrl && template) {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
  await globalThis.__MULE_EMBEDDED__?.stop();
}
