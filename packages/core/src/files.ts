/**
 * Reads definition files from disk (`mule apply`, MULE_DEFINITIONS). The one part of core that does I/O, kept
 * out of the package's main entry (import it as `@mule/core/files`).
 *
 * A folder means its own *.yaml, *.yml and *.json files (not sub-folders), read in name order. Module `path`s are
 * relative to the file that names them. The result is in dependency order (providers, modules, agents, workflows).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { parseDefinitionText, type DefinitionDocument } from './definition-documents.js';
import { APPLY_ORDER } from './definitions.js';
import { MuleError } from './errors.js';

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export type LoadedDefinition = DefinitionDocument & {
  /** wasm_module documents with `path`: the module's bytes. */
  wasm?: Uint8Array;
};

export async function loadDefinitionFiles(target: string): Promise<LoadedDefinition[]> {
  const root = resolve(target);
  const info = await stat(root).catch(() => null);
  if (!info) throw new MuleError('not_found', `no such file or folder: ${target}`);
  const files = info.isDirectory()
    ? (await readdir(root)).filter((name) => EXTENSIONS.has(extname(name).toLowerCase())).sort().map((name) => join(root, name))
    : [root];

  const loaded: LoadedDefinition[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    for (const document of parseDefinitionText(text, file)) {
      if (document.kind === 'wasm_module' && document.definition.path !== undefined) {
        const modulePath = resolve(dirname(file), document.definition.path);
        const bytes = await readFile(modulePath).catch(() => {
          throw new MuleError('invalid_request', `${document.source}: cannot read module file ${modulePath}`, { param: 'path' });
        });
        loaded.push({ ...document, wasm: new Uint8Array(bytes) });
      } else {
        loaded.push(document);
      }
    }
  }
  const seen = new Set<string>();
  for (const { kind, definition, source } of loaded) {
    const key = `${kind}/${definition.name}`;
    if (seen.has(key)) throw new MuleError('invalid_request', `${source}: ${kind} "${definition.name}" is defined twice`);
    seen.add(key);
  }
  return loaded.sort((a, b) => APPLY_ORDER.indexOf(a.kind) - APPLY_ORDER.indexOf(b.kind));
}
