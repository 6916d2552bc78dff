/**
 * The recipes of docs/wasm-modules.md, built from the files it quotes (examples/modules/*-uppercase) into a
 * temporary folder and run as a module author runs them: `mule wasm run`, and POST /v1/wasm/execute after an
 * application/wasm upload to a real api. The AssemblyScript example always runs; Rust and C need their
 * toolchains (.ci/run installs Debian's, and sets MULE_TEST_REQUIRE_TOOLCHAINS=1 so that CI cannot skip them).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule } from './support/fixtures.js';
import { runCli } from './support/mule-cli.js';
import { REPO_ROOT, startApi, stopAllProcesses, type MuleProcess } from './support/processes.js';
import { buildC, buildRust, findC, findRust, RECIPES } from './support/wasm-toolchains.js';

const folder = mkdtempSync(join(tmpdir(), 'mule-recipes-'));

interface Recipe {
  name: string;
  /** Why it cannot be built here, or null. */
  missing: string | null;
  build: () => string;
  /** "straße" uppercased: Rust and AssemblyScript map ß to "SS"; C's towupper maps one code point to one, "ẞ". */
  strasse: string;
}

const rust = findRust();
const c = findC(folder);
const recipes: Recipe[] = [
  { name: 'AssemblyScript', missing: null, build: () => join(RECIPES, 'uppercase.wasm'), strasse: 'STRASSE' },
  {
    name: 'Rust',
    missing: 'missing' in rust ? rust.missing : null,
    build: () => ('found' in rust ? buildRust(rust.found, join(folder, 'rust')) : ''),
    strasse: 'STRASSE',
  },
  {
    name: 'C',
    missing: 'missing' in c ? c.missing : null,
    build: () => ('found' in c ? buildC(c.found, folder) : ''),
    strasse: 'STRAẞE',
  },
];
for (const recipe of recipes) {
  if (recipe.missing === null) continue;
  if (process.env['MULE_TEST_REQUIRE_TOOLCHAINS'] === '1') throw new Error(`the ${recipe.name} recipe cannot be built: ${recipe.missing}`);
  console.warn(`skipped: the ${recipe.name} recipe of docs/wasm-modules.md, ${recipe.missing}`);
}

let db: TestDatabase;
let api: MuleProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi(db.url);
});

afterAll(async () => {
  await stopAllProcesses();
  await db?.drop();
  rmSync(folder, { recursive: true, force: true });
});

// Keys in an order no sorting gives (serde_json sorts them unless its preserve_order feature is on), escapes,
// every JSON type and non-ASCII letters.
const sample = { Name: 'straße café', list: [1, -2.5e-7, true, null, 'ω x'], nested: { z: 'é', a: '"quoted"\n\ttab' } };
const sampleUpper = (strasse: string) => ({ Name: `${strasse} CAFÉ`, list: [1, -2.5e-7, true, null, 'Ω X'], nested: { z: 'É', a: '"QUOTED"\n\tTAB' } });

/** About 1 MB of small objects (the sizes where a quadratic module took seconds), under the 1 MiB output cap. */
function bigInput(): { items: unknown[]; text: string } {
  const items: { id: number; name: string; ok: boolean }[] = [];
  let size = 2;
  while (size < 1_000_000) {
    const item = { id: items.length, name: `item ${items.length} café`, ok: items.length % 2 === 0 };
    items.push(item);
    size += JSON.stringify(item).length + 1;
  }
  return { items, text: JSON.stringify(items) };
}

for (const recipe of recipes) {
  const run = recipe.missing === null ? test : test.skip;
  describe(`the ${recipe.name} recipe`, () => {
    let module = '';

    beforeAll(() => {
      if (recipe.missing === null) module = recipe.build();
    }, 300_000);

    run('mule wasm run: every string value uppercased; keys, their order, numbers and literals as written', async () => {
      const result = await runCli(['wasm', 'run', module], JSON.stringify(sample));
      expect(result.stderr).toMatch(/^ok in [\d.]+ ms\n$/);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`${JSON.stringify(sampleUpper(recipe.strasse))}\n`);
    });

    run('POST /v1/wasm/execute after an application/wasm upload', async () => {
      const name = `${recipe.name.toLowerCase()}-uppercase`;
      const upload = await putModule(api.url, name, new Uint8Array(readFileSync(module)));
      expect(upload.status).toBe(201);
      const answer = await http(api.url, 'POST', '/v1/wasm/execute', { module: name, input: sample });
      expect(answer.status).toBe(200);
      expect(JSON.stringify(answer.body.output)).toBe(JSON.stringify(sampleUpper(recipe.strasse)));
    });

    run('a ~1 MB input finishes within mule wasm run\'s default 10 s timeout', async () => {
      const { items, text } = bigInput();
      const result = await runCli(['wasm', 'run', module], text);
      expect(result.stderr).toMatch(/^ok in [\d.]+ ms\n$/);
      expect(result.code).toBe(0);
      const output = JSON.parse(result.stdout) as { id: number; name: string; ok: boolean }[];
      expect(output).toHaveLength(items.length);
      expect(output).toEqual(items.map((item) => ({ ...(item as object), name: `ITEM ${(item as { id: number }).id} CAFÉ` })));
    });
  });
}

describe('docs/wasm-modules.md', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'wasm-modules.md'), 'utf8');

  test('quotes the Rust and C recipes\' files as they are', () => {
    for (const file of ['rust-uppercase/Cargo.toml', 'rust-uppercase/src/main.rs', 'rust-uppercase/debian-registry.toml', 'c-uppercase/uppercase.c']) {
      expect(doc).toContain(`\n${readFileSync(join(RECIPES, file), 'utf8')}\`\`\`\n`);
    }
  });

  test('its minimal AssemblyScript module builds with the asc command it gives, and runs', async () => {
    const source = /A minimal module declares[^]*?```ts\n([^]*?)```/.exec(doc)?.[1];
    const command = /\nnpx (asc index\.ts [^\n]*)\n/.exec(doc)?.[1];
    expect(source).toBeDefined();
    expect(command).toBeDefined();
    const build = mkdtempSync(join(folder, 'assemblyscript-'));
    writeFileSync(join(build, 'index.ts'), source!);
    const asc = join(REPO_ROOT, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
    const compiled = spawnSync(process.execPath, [asc, ...command!.split(' ').slice(1)], { cwd: build, encoding: 'utf8' });
    expect(compiled.stderr).toBe('');
    expect(compiled.status).toBe(0);
    const result = await runCli(['wasm', 'run', join(build, 'module.wasm')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('{"hello":"world"}\n');
  });
});
