/** `mule <command>`: start (what `npm start` runs), apply, wasm run. */
import { applyCommand } from './commands/apply.js';
import { keysCommand } from './commands/keys.js';
import { startCommand } from './commands/start.js';
import { wasmRunCommand } from './commands/wasm-run.js';

const USAGE = `usage: mule <command>

  mule start                      api + worker (+ embedded PostgreSQL when DATABASE_URL is unset); what npm start runs
  mule apply <file-or-dir>        upsert definitions through the HTTP API (MULE_URL, MULE_API_KEY)
  mule wasm run <module.wasm>     run a module under the sandbox: input JSON on stdin, output JSON on stdout
        [--timeout-ms <n>] [--max-memory-mb <n>]
  mule keys create --name <n>     create an API key in the database (DATABASE_URL); printed once
        [--scope <pattern>]... [--rpm <n>] [--admin]`;

const [command, ...args] = process.argv.slice(2);
let code: number;
switch (command) {
  case 'start':
    code = await startCommand();
    break;
  case 'apply':
    code = await applyCommand(args);
    break;
  case 'keys':
    code = await keysCommand(args);
    break;
  case 'wasm':
    code = args[0] === 'run' ? await wasmRunCommand(args.slice(1)) : usage();
    break;
  case undefined:
  case 'help':
  case '--help':
  case '-h':
    console.log(USAGE);
    code = 0;
    break;
  default:
    code = usage();
}
process.exitCode = code;

function usage(): number {
  console.error(USAGE);
  return 2;
}
