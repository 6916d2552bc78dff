/**
 * Named (prepared) statements for SQL that runs again and again. PostgreSQL parses and plans an unnamed statement
 * every time; a named one is planned once per connection. pg-boss's fetch and insert statements are long
 * (~3 KB with CTEs and json_to_recordset), and re-planning them on every job showed up as most of PostgreSQL's
 * CPU under load here. Names derive from the text; the number of distinct texts is capped so that SQL built with
 * values inline could never fill the server's statement cache. Statements without parameters are left alone.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';

const MAX_PREPARED = 256;
const names = new Map<string, string>();

export function statement(text: string, values?: unknown[]): pg.QueryConfig {
  // Without parameters a statement may hold several commands (pg-boss's maintenance does), which only the simple
  // query protocol accepts; only parameterized statements are prepared here (singleStatement for the others).
  if (!values || values.length === 0) return { text, values };
  return named(text, values);
}

/**
 * `statement` for one command, prepared even without parameters. pg-boss writes its fetch with every value inline
 * (queue name, states, batch size), so as an unnamed statement PostgreSQL planned it on every call: 0.69 ms of
 * planning against 0.46 ms of execution per fetch here, on the path of every job. Prepared, it is planned once per
 * connection and batch size.
 */
export function singleStatement(text: string, values: unknown[] = []): pg.QueryConfig {
  return named(text, values);
}

function named(text: string, values: unknown[]): pg.QueryConfig {
  let name = names.get(text);
  if (name === undefined && names.size < MAX_PREPARED) {
    name = `mule_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    names.set(text, name);
  }
  return name === undefined ? { text, values } : { name, text, values };
}
