// Runs `prisma generate` offline. Every Prisma 7 CLI command first tries to download a native schema engine
// these machines cannot reach; `generate` does not use it, and pointing PRISMA_SCHEMA_ENGINE_BINARY at any
// existing file skips the download. The schema stays in the repository's prisma/ folder, where Prisma's tools
// and operators look for it; the client is generated into this package: src/generated/prisma (compiled by tsc).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const schema = join(root, '..', '..', 'prisma', 'schema.prisma');
const cli = createRequire(import.meta.url).resolve('prisma/build/index.js');
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1',
};
const result = spawnSync(process.execPath, [cli, 'generate', '--schema', schema], {
  cwd: root,
  env,
  stdio: ['ignore', 'pipe', 'pipe'],
});
if (result.status !== 0) {
  process.stdout.write(result.stdout ?? '');
  process.stderr.write(result.stderr ?? '');
  process.exit(result.status ?? 1);
}
