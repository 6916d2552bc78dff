/** `npm run migrate`: applies Mule's SQL migrations and installs pg-boss's schema and queue on DATABASE_URL. */
import { migrate } from './migrate.js';
import { installQueue } from './queue.js';

const url = process.env['DATABASE_URL'];
if (!url) {
  console.error('DATABASE_URL is required: the PostgreSQL database to migrate');
  process.exit(1);
}
try {
  const { applied, modified } = await migrate(url);
  await installQueue(url);
  for (const name of modified) console.warn(`warning: migration ${name} was changed after it was applied`);
  console.log(applied.length > 0 ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : 'database is up to date');
} catch (error) {
  console.error(`migration failed: ${(error as Error).message}`);
  process.exit(1);
}
