/**
 * The other half of the physical floor (see floor.ts), run as its own process: woken by NOTIFY, claims with
 * FOR UPDATE SKIP LOCKED, completes, and NOTIFYs the producer.
 */
import pg from 'pg';

const client = new pg.Client({ connectionString: process.argv[2] });
await client.connect();
let draining = false;
let again = false;
async function drain(): Promise<void> {
  if (draining) {
    again = true;
    return;
  }
  draining = true;
  do {
    again = false;
    for (;;) {
      const { rows } = await client.query<{ id: string }>(
        `UPDATE floor_jobs SET status = 'done'
          WHERE id = (SELECT id FROM floor_jobs WHERE status = 'new' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
          RETURNING id`,
      );
      if (rows.length === 0) break;
      await client.query(`SELECT pg_notify('floor_done', $1)`, [rows[0]!.id]);
    }
  } while (again);
  draining = false;
}
client.on('notification', () => void drain());
await client.query('LISTEN floor_new');
process.stdout.write('ready\n');
process.on('SIGTERM', () => void client.end().then(() => process.exit(0)));
