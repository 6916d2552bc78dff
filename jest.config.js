// One jest run for the whole repo: TypeScript through @swc/jest in native ESM (swc strips types file by file, so
// tests start fast; `npm run lint` type-checks them), tests next to the code
// they prove plus cross-process end-to-end tests in test/. Each test file gets its own database (test/support).
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  // Test support is imported as @mule/test/support/*.js (the bench runs its compiled copy); jest runs its source.
  moduleNameMapper: { '^@mule/test/support/(.*)\\.js$': '<rootDir>/test/support/$1', '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' } }],
  },
  testMatch: ['<rootDir>/{apps,packages,test}/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Files that load @google/adk keep ~50 MB each; recycle a jest worker once it holds this much.
  workerIdleMemoryLimit: '1GB',
  testTimeout: 60_000,
  slowTestThreshold: 20,
};
