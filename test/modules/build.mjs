// Compiles every *.wat in this folder to a *.wasm next to it with the wabt npm package (no native toolchain),
// so the sandbox tests run real modules built from source. The output is byte-identical on repeat.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import wabtInit from 'wabt';

const folder = new URL('./', import.meta.url);
// Reference types for table.grow, exceptions for the module that catches its own proc_exit, threads and memory64
// so that the modules the sandbox must refuse can be written at all.
const features = { reference_types: true, bulk_memory: true, exceptions: true, threads: true, memory64: true };

const wabt = await wabtInit();
const sources = (await readdir(folder)).filter((name) => name.endsWith('.wat')).sort();
for (const name of sources) {
  const module = wabt.parseWat(name, await readFile(new URL(name, folder), 'utf8'), features);
  try {
    module.resolveNames();
    module.validate(features);
    const { buffer } = module.toBinary({ canonicalize_lebs: true });
    await writeFile(new URL(name.replace(/\.wat$/, '.wasm'), folder), buffer);
  } finally {
    module.destroy();
  }
}
console.log(`test/modules: built ${sources.length} modules`);
