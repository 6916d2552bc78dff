/**
 * pg-boss's own SQL, taken apart so that it can run inside a larger statement of ours: a data-modifying WITH must
 * be at the top level, so pg-boss's `WITH … UPDATE …` becomes CTEs of our statement (queue.ts). Each split checks
 * the shape it assumes and throws when pg-boss's SQL no longer has it, which the queue tests catch on an upgrade.
 */

/**
 * pg-boss's fetch statement (`WITH <ctes> UPDATE … RETURNING …`) split at its top-level UPDATE, so the UPDATE can
 * become a CTE of a larger statement (a data-modifying WITH must be at the top level). Throws when pg-boss's SQL
 * no longer has that shape, which the queue tests catch on an upgrade.
 */
export function splitFetch(sql: string): { ctes: string; update: string } {
  if (!/\sRETURNING\s/i.test(sql)) throw new Error('pg-boss fetch is no longer WITH … UPDATE … RETURNING: revisit JobQueue.claims');
  const { ctes, rest } = splitAtTopLevel(sql, 'UPDATE');
  return { ctes, update: rest };
}

/** pg-boss's completion text -> its CTEs (the text repeats; only the values change). */
const completionTexts = new Map<string, string>();

/** pg-boss's completion statement (`WITH results AS (UPDATE …) SELECT …`) as its CTEs alone, once per text. */
export function completionCtesOf(text: string): string {
  const known = completionTexts.get(text);
  if (known !== undefined) return known;
  const { ctes } = splitAtTopLevel(text, 'SELECT');
  if (!/^results AS \(/.test(ctes)) throw new Error('pg-boss complete no longer starts WITH results AS (…): revisit JobQueue.completionCtes');
  if (completionTexts.size < 64) completionTexts.set(text, ctes);
  return ctes;
}

/** `WITH <ctes> <keyword> …` split at the first `keyword` outside parentheses and quotes. */
function splitAtTopLevel(sql: string, keyword: 'UPDATE' | 'SELECT'): { ctes: string; rest: string } {
  const text = sql.trim();
  if (!/^WITH\s/i.test(text)) throw new Error(`pg-boss SQL no longer starts with WITH: revisit JobQueue (${keyword})`);
  const at = new RegExp(`^${keyword}\\s`, 'i');
  let depth = 0;
  let quoted = false;
  for (let i = 4; i < text.length; i++) {
    const c = text[i];
    if (c === "'") quoted = !quoted;
    if (quoted) continue;
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && /\s/.test(text[i - 1]!) && at.test(text.slice(i, i + 7))) {
      return { ctes: text.slice(4, i).trim().replace(/,$/, ''), rest: text.slice(i) };
    }
  }
  throw new Error(`pg-boss SQL has no top-level ${keyword}: revisit JobQueue`);
}
