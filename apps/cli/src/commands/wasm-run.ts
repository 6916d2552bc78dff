/** `mule wasm run <module.wasm> < input.json`: tries a module locally under the same sandbox as steps. */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { toMuleError } from '@mule/core';
import { admitModule, WasmRunner } from '@mule/wasm-runner';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function wasmRunCommand(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'timeout-ms': { type: 'string', default: '10000' }, 'max-memory-mb': { type: 'string', default: '64' } },
  });
  const timeoutMs = Number(values['timeout-ms']);
  const maxMemoryMb = Number(values['max-memory-mb']);
  if (positionals.length !== 1 || !Number.isInteger(timeoutMs) || timeoutMs < 1 || !Number.isInteger(maxMemoryMb) || maxMemoryMb < 1) {
    console.error('usage: mule wasm run <module.wasm> [--timeout-ms <n>] [--max-memory-mb <n>] < input.json');
    return 2;
  }
  const runner = new WasmRunner({ threads: 1, maxMemoryMb });
  try {
    const bytes = new Uint8Array(await readFile(positionals[0]!));
    const text = await readStdin();
    let input: unknown = null;
    if (text.trim() !== '') {
      try {
        input = JSON.parse(text);
      } catch (error) {
        console.error(`error: the input on stdin is not JSON: ${(error as Error).message}`);
        return 1;
      }
    }
    const { sha256 } = admitModule(bytes, { maxMemoryMb });
    const result = await runner.run({ sha256, loadBytes: async () => bytes, input, timeoutMs });
    if (result.logs) process.stderr.write(result.logs.endsWith('\n') ? result.logs : `${result.logs}\n`);
    process.stdout.write(`${JSON.stringify(result.output)}\n`);
    console.error(`ok in ${result.durationMs.toFixed(2)} ms`);
    return 0;
  } catch (error) {
    const failure = toMuleError(error);
    console.error(`error ${failure.code}: ${failure.message}`);
    return 1;
  } finally {
    await runner.close();
  }
}
