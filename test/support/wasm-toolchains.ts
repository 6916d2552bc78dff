/**
 * Finds the toolchains that build the Rust and C recipes of docs/wasm-modules.md (examples/modules/*-uppercase)
 * and builds them into a folder of the caller's. Either the upstream names (rustup's `wasm32-wasip1`, wasi-sdk's
 * clang) or Debian's (`/usr/bin/cargo` with `wasm32-wasi` and its crates in /usr/share/cargo/registry; clang 14
 * with wasi-libc). A missing toolchain is reported as a reason, so the tests can say what they skipped.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './processes.js';

export const RECIPES = join(REPO_ROOT, 'examples', 'modules');
/** Debian's crates (librust-*-dev), used as a cargo directory source by examples/modules/rust-uppercase/debian-registry.toml. */
const DEBIAN_CRATES = '/usr/share/cargo/registry';
/** Newest name first: Rust 1.78 and wasi-sdk 22 renamed wasm32-wasi to wasm32-wasip1. */
const WASI_TARGETS = ['wasm32-wasip1', 'wasm32-wasi'];

export type Toolchain<T> = { found: T } | { missing: string };

function run(command: string, args: string[], env: Record<string, string> = {}, cwd?: string) {
  const result = spawnSync(command, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}` };
}

export interface RustToolchain {
  cargo: string;
  rustc: string;
  target: string;
  /** Builds against Debian's crates instead of crates.io. */
  debianCrates: boolean;
}

/** The first cargo whose rustc has a WASI preview1 standard library: the one on PATH (rustup), then Debian's. */
export function findRust(): Toolchain<RustToolchain> {
  const tried: string[] = [];
  for (const [cargo, rustc] of [['cargo', 'rustc'], ['/usr/bin/cargo', '/usr/bin/rustc']] as const) {
    const sysroot = run(rustc, ['--print', 'sysroot']);
    if (!sysroot.ok || !run(cargo, ['--version']).ok) {
      tried.push(`${cargo}: not installed`);
      continue;
    }
    const target = WASI_TARGETS.find((name) => existsSync(join(sysroot.output.trim(), 'lib', 'rustlib', name)));
    if (!target) {
      tried.push(`${rustc}: no ${WASI_TARGETS.join(' or ')} standard library`);
      continue;
    }
    const debianCrates = existsSync(DEBIAN_CRATES) && readdirSync(DEBIAN_CRATES).some((name) => name.startsWith('serde_json-'));
    return { found: { cargo, rustc, target, debianCrates } };
  }
  return { missing: `no Rust toolchain for WASI (${tried.join('; ')})` };
}

/** Builds examples/modules/rust-uppercase in `folder`; returns the module's path. */
export function buildRust(rust: RustToolchain, folder: string): string {
  cpSync(join(RECIPES, 'rust-uppercase'), folder, { recursive: true, filter: (path) => !/[/\\](target|Cargo\.lock)$/.test(path) });
  const args = ['build', '--release', '--target', rust.target, ...(rust.debianCrates ? ['--config', 'debian-registry.toml'] : [])];
  const build = run(rust.cargo, args, { RUSTC: rust.rustc, CARGO_TARGET_DIR: join(folder, 'target') }, folder);
  if (!build.ok) throw new Error(`${rust.cargo} ${args.join(' ')} failed:\n${build.output}`);
  return join(folder, 'target', rust.target, 'release', 'uppercase.wasm');
}

export interface CToolchain {
  clang: string;
  target: string;
}

/** wasi-sdk's clang (WASI_SDK_PATH), else the clang on PATH, with the first WASI target it can link a program for. */
export function findC(folder: string): Toolchain<CToolchain> {
  const sdk = process.env['WASI_SDK_PATH'];
  const clang = sdk ? join(sdk, 'bin', 'clang') : 'clang';
  if (!run(clang, ['--version']).ok) return { missing: `no ${clang} (install clang lld wasi-libc libclang-rt-14-dev-wasm32, or a wasi-sdk)` };
  // A probe program that needs libc, so that a missing wasi-libc or compiler-rt skips the test rather than failing it.
  const probe = join(folder, 'probe.c');
  writeFileSync(probe, '#include <stdio.h>\nint main(void) { puts("{}"); return 0; }\n');
  const errors: string[] = [];
  for (const target of WASI_TARGETS) {
    const link = run(clang, [`--target=${target}`, '-O2', '-o', join(folder, 'probe.wasm'), probe]);
    if (link.ok) return { found: { clang, target } };
    errors.push(`${target}: ${link.output.trim().split('\n').slice(-1)[0] ?? ''}`);
  }
  return { missing: `${clang} cannot link a WASI program (${errors.join('; ')})` };
}

/** Builds examples/modules/c-uppercase/uppercase.c into `folder`; returns the module's path. */
export function buildC(c: CToolchain, folder: string): string {
  const output = join(folder, 'uppercase.wasm');
  // The command docs/wasm-modules.md gives.
  const args = [`--target=${c.target}`, '-O2', '-Wl,--strip-all', '-o', output, join(RECIPES, 'c-uppercase', 'uppercase.c')];
  const build = run(c.clang, args);
  if (!build.ok) throw new Error(`${c.clang} ${args.join(' ')} failed:\n${build.output}`);
  return output;
}
