/**
 * History for the "cost as data grows" figures, written in SQL in seconds instead of hours of real jobs. Every
 * row is a copy of rows a real job left behind on this same database (a template job run through the api and a
 * worker just before), so the shapes (plan, input, output, step rows, pg-boss entry columns) are exactly Mule's,
 * whatever they are at the time of the run. Copies get new ids and are moved back in time (every timestamp of a
 * copied row by the same amount, so their order and gaps stay as the template's):
 *
 * - `finished` completed one-step jobs with their step rows, spread over the last 29 days (retention deletes
 *   finished jobs after 30 by default). The newest `recentEntries` of them finished in the last 10 minutes and
 *   get copies of whatever pg-boss entries the template job still has: a completed entry stays 10 minutes
 *   (deleteAfterSeconds in the db package's queue.ts) unless Mule deletes it when the job ends, so this is the
 *   queue of a system that has been finishing jobs at recentEntries / 600 a second, as Mule leaves it.
 * - `parked` jobs parked on a wait step (an approval with a 7-day timeout), status `waiting`, each with its
 *   pg-boss entry in state `created` due when the wait times out: queued work that every worker's fetch must
 *   skip, and the only kind Mule leaves in its queue (a job that is due is claimed).
 *
 * Then VACUUM ANALYZE and a CHECKPOINT, as autovacuum and the checkpointer would long have done on a system that
 * grew this history over weeks; without them the measured run would pay a one-off catch-up instead.
 */
import pg from 'pg';

export interface GrowthSeed {
  finished: number;
  /** How many of the finished jobs were given the template's pg-boss entries (those from the last 10 minutes). */
  recent_entries: number;
  parked: number;
  /** pg-boss entries actually written: as many as the templates had (a job's settled entry may already be gone). */
  queue_entries: number;
  seconds: number;
  /** Size of jobs + job_steps + pgboss.job with their indexes after seeding. */
  database_mb: number;
}

interface Column {
  name: string;
  type: string;
  default: string | null;
}

async function columnsOf(client: pg.Client, schema: string, table: string): Promise<Column[]> {
  const { rows } = await client.query<Column>(
    `SELECT column_name AS name, data_type AS type, column_default AS default
       FROM information_schema.columns
      WHERE table_schema = $1 AND table_name = $2 AND is_generated = 'NEVER' AND is_identity = 'NO'
      ORDER BY ordinal_position`,
    [schema, table],
  );
  if (rows.length === 0) throw new Error(`no columns found for ${schema}.${table}`);
  // Serial ids (job_steps.id) come from their sequence.
  return rows.filter((c) => !(c.default ?? '').startsWith('nextval('));
}

/**
 * INSERT INTO `table` a copy of each template row (`t`, those matching `where`) for every row of bench_seed (`s`,
 * `seedWhere`): columns from `overrides` as given, timestamps moved by s.shift, the rest as the template has them.
 */
async function copyRows(
  client: pg.Client,
  schema: string,
  table: string,
  where: string,
  seedWhere: string,
  overrides: Record<string, string>,
  values: unknown[],
): Promise<number> {
  const columns = await columnsOf(client, schema, table);
  const select = columns.map((c) => {
    if (c.name in overrides) return overrides[c.name]!;
    if (c.type.startsWith('timestamp')) return `t.${c.name} + s.shift`;
    return `t.${c.name}`;
  });
  const result = await client.query(
    `INSERT INTO ${schema}.${table} (${columns.map((c) => c.name).join(', ')})
     SELECT ${select.join(', ')} FROM bench_seed s CROSS JOIN (SELECT * FROM ${schema}.${table} WHERE ${where}) t WHERE ${seedWhere}`,
    values,
  );
  return result.rowCount ?? 0;
}

interface Template {
  id: string;
  queueId: string | null;
  kind: 'finished' | 'parked';
  /** Which of its pg-boss entries are copied (SQL over pgboss.job's columns), and for which seed rows. */
  entries: { where: string; seedWhere: string };
}

/** The template's job row, once per seed row of its kind. */
function copyJobRows(client: pg.Client, template: Template): Promise<number> {
  return copyRows(client, 'public', 'jobs', 'id = $1', `s.kind = '${template.kind}'`, {
    id: 's.id',
    queue_id: template.queueId === null ? 'NULL' : 's.qid',
    idempotency_key: 'NULL',
  }, [template.id]);
}

/** The template's step rows, once per seed row of its kind. */
function copyStepRows(client: pg.Client, template: Template): Promise<number> {
  return copyRows(client, 'public', 'job_steps', 'job_id = $1', `s.kind = '${template.kind}'`, { job_id: 's.id' }, [template.id]);
}

/** The template's chosen pg-boss entries (either queue). A job's first entry has the job's own id (JobQueue.send); one made by parking it is jobs.queue_id, in the timers queue. */
function copyEntries(client: pg.Client, template: Template): Promise<number> {
  return copyRows(client, 'pgboss', 'job', `name IN ('mule-jobs', 'mule-timers') AND data->>'jobId' = $1::text AND (${template.entries.where})`, template.entries.seedWhere, {
    id: 'CASE WHEN t.id = $1::uuid THEN s.id ELSE s.qid END',
    data: `jsonb_set(t.data, '{jobId}', to_jsonb(s.id::text))`,
  }, [template.id]);
}

async function connect(databaseUrl: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  return client;
}

export async function seedGrowth(
  databaseUrl: string,
  templates: { finished: string; parked: string },
  sizes: { finished: number; recentEntries: number; parked: number },
): Promise<GrowthSeed> {
  const started = performance.now();
  const client = await connect(databaseUrl);
  try {
    const found = await client.query<{ id: string; queue_id: string | null; status: string }>(
      'SELECT id, queue_id, status FROM jobs WHERE id = ANY($1::uuid[])',
      [[templates.finished, templates.parked]],
    );
    const row = (id: string) => found.rows.find((r) => r.id === id) ?? null;
    const finishedRow = row(templates.finished);
    const parkedRow = row(templates.parked);
    if (finishedRow?.status !== 'completed') throw new Error(`the finished template job is ${finishedRow?.status ?? 'missing'}`);
    if (parkedRow?.status !== 'waiting') throw new Error(`the parked template job is ${parkedRow?.status ?? 'missing'}`);
    const recent = Math.min(sizes.recentEntries, sizes.finished);
    const finished: Template = {
      id: finishedRow.id,
      queueId: finishedRow.queue_id,
      kind: 'finished',
      // Only the newest finished jobs still have their (completed) entry.
      entries: { where: 'true', seedWhere: `s.kind = 'finished' AND s.g <= ${recent}` },
    };
    const parked: Template = {
      id: parkedRow.id,
      queueId: parkedRow.queue_id,
      kind: 'parked',
      // Only its parking entry: its first one, completed when it parked, is deleted 10 minutes later.
      entries: { where: `id = '${parkedRow.queue_id ?? parkedRow.id}'::uuid`, seedWhere: `s.kind = 'parked'` },
    };

    // Each copy's `at` (when it finished, or when it was submitted for a parked one) and how far every timestamp
    // of the template's rows moves to get there.
    await client.query(
      `CREATE UNLOGGED TABLE bench_seed AS
       SELECT g, id, qid, kind, at - CASE kind WHEN 'finished' THEN (SELECT completed_at FROM jobs WHERE id = $4)
                                                ELSE (SELECT created_at FROM jobs WHERE id = $5) END AS shift
         FROM (SELECT g, gen_random_uuid() AS id, gen_random_uuid() AS qid, 'finished' AS kind,
                      CASE WHEN g <= $1::int THEN now() - g * (interval '590 seconds' / GREATEST($1::int, 1))
                           ELSE now() - interval '600 seconds' - (g - $1::int) * (interval '29 days' / GREATEST($2::int - $1::int, 1)) END AS at
                 FROM generate_series(1, $2::int) g
               UNION ALL
               SELECT g, gen_random_uuid(), gen_random_uuid(), 'parked', now() - g * (interval '1 day' / $3::int)
                 FROM generate_series(1, $3::int) g) seed`,
      [recent, sizes.finished, sizes.parked, finished.id, parked.id],
    );
    await client.query(`CREATE INDEX ON bench_seed (kind, g)`);
    await client.query('ANALYZE bench_seed');
    // Three connections at once: the machine has two cores, and the job rows alone are a third of the work. The
    // step rows' foreign key is not checked while they are copied (session_replication_role = replica skips
    // the check's trigger; the bench's user is a superuser): each one names a job the first connection writes,
    // so the check would only serialize the two.
    const extra = await Promise.all([connect(databaseUrl), connect(databaseUrl)]);
    let queueEntries = 0;
    try {
      const [steps, entries] = extra as [pg.Client, pg.Client];
      await steps.query(`SET session_replication_role = replica`);
      const copied = await Promise.all([
        (async () => {
          for (const template of [finished, parked]) await copyJobRows(client, template);
        })(),
        (async () => {
          for (const template of [finished, parked]) await copyStepRows(steps, template);
        })(),
        (async () => (await copyEntries(entries, finished)) + (await copyEntries(entries, parked)))(),
      ]);
      queueEntries = copied[2];
      await client.query('DROP TABLE bench_seed');
      await Promise.all([client.query('VACUUM ANALYZE jobs'), steps.query('VACUUM ANALYZE job_steps'), entries.query('VACUUM ANALYZE pgboss.job')]);
    } finally {
      await Promise.all(extra.map((c) => c.end()));
    }
    await client.query('CHECKPOINT');
    const size = await client.query<{ mb: number }>(
      `SELECT round((pg_total_relation_size('jobs') + pg_total_relation_size('job_steps')
                     + (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                         WHERE i.inhparent = 'pgboss.job'::regclass)) / 1e6)::int AS mb`,
    );
    return {
      finished: sizes.finished,
      recent_entries: recent,
      parked: sizes.parked,
      queue_entries: queueEntries,
      seconds: Math.round((performance.now() - started) / 100) / 10,
      database_mb: size.rows[0]!.mb,
    };
  } finally {
    await client.end();
  }
}
