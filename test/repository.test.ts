/**
 * The repository explains itself: no tracked file cites a document a reader of the repository does not have (a
 * numbered spec section, a facts or style file kept elsewhere, an issue number). A comment states the reason, with
 * the number that decided it, or points to a document in the repository (README.md, ARCHITECTURE.md, docs/…).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@jest/globals';
import { REPO_ROOT } from './support/processes.js';

// Spelled with a character class so that this file does not match itself.
const CITATIONS: RegExp[] = [/\bS[P]EC\b/, /\bF[A]CTS(\.md)?\b/, /\bS[T]YLE\.md\b/, /\biss[u]es? #?\d+/i];

/**
 * Applied migrations are immutable: their sha256 is recorded in `_prisma_migrations`, and changing one makes every
 * migrated database report it as modified. A migration written after this test is checked like any file.
 */
const IMMUTABLE = new Set(['prisma/migrations/20261126020000_api_keys/migration.sql']);

/** Binary and generated files hold no prose. */
const SKIPPED = /(^|\/)package-lock\.json$|\.(wasm|png|jpg|ico|gz)$/;

function citationsIn(text: string): string[] {
  return text
    .split('\n')
    .map((line, index) => ({ line, index }))
    .filter(({ line }) => CITATIONS.some((pattern) => pattern.test(line)))
    .map(({ line, index }) => `${index + 1}: ${line.trim()}`);
}

test('the citation check recognises each form a citation of an outside document takes', () => {
  const samples = ['(S' + 'PEC 5.2)', 'F' + 'ACTS.md measured', 'owner (S' + 'TYLE.md)', 'API keys (is' + 'sue 7)', 'Is' + 'sue #12'];
  expect(samples.filter((sample) => citationsIn(sample).length === 0)).toEqual([]);
  expect(citationsIn('TYPE_UNSPECIFIED POD_SPEC_PATHS the spec is silent; an issue with 3 retries')).toEqual([]);
});

test('no tracked file cites a spec section, a facts or style file, or an issue number', () => {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    .split('\0')
    .filter((file) => file !== '' && !SKIPPED.test(file) && !IMMUTABLE.has(file));
  expect(files.length).toBeGreaterThan(100);
  const found: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(join(REPO_ROOT, file), 'utf8');
    } catch {
      continue; // deleted in the work tree, not yet in the index
    }
    if (text.includes('\0')) continue;
    for (const hit of citationsIn(text)) found.push(`${file}:${hit}`);
  }
  expect(found).toEqual([]);
});
