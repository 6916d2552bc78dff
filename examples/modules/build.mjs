// Builds the example modules from source with the assemblyscript npm package: uppercase/index.ts -> uppercase.wasm
// and words/index.ts -> words.wasm, WASI preview1 commands whose only imports are WASI functions. The build is
// deterministic: the same source gives the same bytes (and so the same sha256).
import asc from 'assemblyscript/asc';

const folder = new URL('./', import.meta.url);

const modules = [
  { entry: 'uppercase/index.ts', output: 'uppercase.wasm', abort: 'uppercase/index/abortHandler' },
  { entry: 'words/index.ts', output: 'words.wasm', abort: 'words/index/abortHandler' },
];

for (const { entry, output, abort } of modules) {
  const { error, stderr } = await asc.main(
    [
      entry,
      '--outFile', output,
      '--baseDir', folder.pathname,
      '--optimizeLevel', '3',
      '--shrinkLevel', '1',
      '--converge',
      '--noAssert',
      '--runtime', 'incremental',
      // Run the top-level statements as the WASI entry point instead of a start function, so the runner has the
      // exported memory before the module's first WASI call.
      '--exportStart', '_start',
      // Our own abort (stderr + exit 134) instead of an `env.abort` import.
      '--use', `abort=${abort}`,
    ],
  );
  if (error) {
    console.error(stderr.toString());
    throw error;
  }
}
console.log(`examples/modules: built ${modules.map((m) => m.output).join(', ')}`);
