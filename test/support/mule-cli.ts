/** Runs the built `mule` command (apps/cli/dist/main.js) as a user does, with text on its stdin. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './processes.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], stdin = ''): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'apps', 'cli', 'dist', 'main.js'), ...args], {
      env: { PATH: process.env['PATH'] ?? '' },
    });
    // Decoded once at the end: a chunk may end inside a multi-byte character.
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }),
    );
    child.stdin.end(stdin);
  });
}
