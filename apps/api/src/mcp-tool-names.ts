/**
 * MCP tool names for workflows and agents: `workflow/<name>` is the tool `workflow_<name>`, `agent/<name>` is
 * `agent_<name>`. MCP allows `[A-Za-z0-9_.-]` in a tool name, but Claude Desktop (and the model APIs behind other
 * clients) accept only `^[a-zA-Z0-9_-]{1,64}$`: no dot. Mule names are lower case (`[a-z0-9][a-z0-9._-]*`), so a
 * dot is written `_D_` (an upper-case letter never occurs in a name), and every tool name maps back to exactly one
 * model: decoding and encoding again must give the same text, or it is no Mule tool.
 */
import { isValidName } from '@mule/core';

export type ToolKind = 'workflow' | 'agent';

export interface ToolTarget {
  kind: ToolKind;
  name: string;
}

const PREFIX: Record<ToolKind, string> = { workflow: 'workflow_', agent: 'agent_' };
const DOT = '_D_';

export function toolNameOf(kind: ToolKind, name: string): string {
  return PREFIX[kind] + name.replaceAll('.', DOT);
}

/** The workflow or agent a tool name stands for, or null when it names none. */
export function parseToolName(tool: string): ToolTarget | null {
  for (const kind of ['workflow', 'agent'] as const) {
    if (!tool.startsWith(PREFIX[kind])) continue;
    const name = tool.slice(PREFIX[kind].length).replaceAll(DOT, '.');
    return isValidName(name) && toolNameOf(kind, name) === tool ? { kind, name } : null;
  }
  return null;
}

/** The model a tool stands for, as /v1 names it (scopes are checked on it). */
export function modelOf(target: ToolTarget): string {
  return `${target.kind}/${target.name}`;
}
