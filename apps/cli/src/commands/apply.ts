/**
 * `mule apply <file-or-dir>`: upserts definitions through the HTTP API, in dependency order (providers, modules,
 * MCP servers, agents, workflows, triggers), so it works the same against `npm start` and a deployed cluster. Idempotent: applying the
 * same files twice reports "unchanged".
 */
import { parseArgs } from 'node:util';
import { toMuleError } from '@mule/core';
import { loadDefinitionFiles, type LoadedDefinition } from '@mule/core/files';
import { loadCliConfig } from '../config.js';

const PATHS = { provider: 'providers', agent: 'agents', workflow: 'workflows', wasm_module: 'wasm/modules', mcp_server: 'mcp_servers', trigger: 'triggers' } as const;

function requestFor(document: LoadedDefinition): { path: string; body: Record<string, unknown> } {
  const { name } = document.definition;
  const path = `/v1/${PATHS[document.kind]}/${encodeURIComponent(name)}`;
  if (document.kind === 'wasm_module') {
    const { path: _file, ...rest } = document.definition;
    const body: Record<string, unknown> = { ...rest };
    if (document.wasm) body['wasm_base64'] = Buffer.from(document.wasm).toString('base64');
    return { path, body };
  }
  return { path, body: { ...document.definition } };
}

export async function applyCommand(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  if (positionals.length !== 1) {
    console.error('usage: mule apply <file-or-dir>');
    return 2;
  }
  const config = loadCliConfig();
  const baseUrl = config.MULE_URL.replace(/\/+$/, '');
  const apiKey = config.MULE_API_KEY;
  let documents: LoadedDefinition[];
  try {
    documents = await loadDefinitionFiles(positionals[0]!);
  } catch (error) {
    console.error(`error: ${toMuleError(error).message}`);
    return 1;
  }
  for (const document of documents) {
    const label = `${document.kind}/${document.definition.name}`;
    const { path, body } = requestFor(document);
    let response: Response;
    try {
      response = await fetch(`${baseUrl}${path}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
        body: JSON.stringify(body),
      });
    } catch (error) {
      console.error(`error: cannot reach ${baseUrl} (${(error as Error).message}); set MULE_URL`);
      return 1;
    }
    const text = await response.text();
    if (!response.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error: { message: string } }).error.message;
      } catch {
        // not the error shape: print the text
      }
      console.error(`error: ${label} (${document.source}): ${response.status} ${message}`);
      return 1;
    }
    const before = response.status === 201 ? 'created' : 'applied';
    console.log(`${before.padEnd(8)} ${label}`);
  }
  return 0;
}
