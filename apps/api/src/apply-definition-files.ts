/** MULE_DEFINITIONS: applies a file or folder of definitions at start, in dependency order. */
import { MuleError } from '@mule/core';
import { loadDefinitionFiles } from '@mule/core/files';
import { applyAgent, applyMcpServer, applyModule, applyProvider, applyTrigger, applyWorkflow, type DefinitionContext } from './definitions-service.js';

export async function applyDefinitionFiles(ctx: DefinitionContext, target: string): Promise<string[]> {
  const applied: string[] = [];
  for (const document of await loadDefinitionFiles(target)) {
    const label = `${document.kind}/${document.definition.name}`;
    try {
      switch (document.kind) {
        case 'provider':
          await applyProvider(ctx, document.definition);
          break;
        case 'mcp_server':
          await applyMcpServer(ctx, document.definition);
          break;
        case 'agent':
          await applyAgent(ctx, document.definition);
          break;
        case 'workflow':
          await applyWorkflow(ctx, document.definition);
          break;
        case 'trigger':
          await applyTrigger(ctx, document.definition);
          break;
        case 'wasm_module': {
          const { wasm_base64: base64, ...definition } = document.definition;
          const bytes = document.wasm ?? (base64 ? new Uint8Array(Buffer.from(base64, 'base64')) : undefined);
          if (!bytes) throw new MuleError('invalid_request', 'a wasm_module needs path or wasm_base64', { param: 'path' });
          await applyModule(ctx, definition, bytes);
          break;
        }
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new MuleError('invalid_request', `${document.source}: ${label}: ${message}`, { cause: error });
    }
    applied.push(label);
  }
  return applied;
}
