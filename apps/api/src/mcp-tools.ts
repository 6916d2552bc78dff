/**
 * The tools `/mcp` offers: one per workflow and per agent the caller may use (the scopes of `workflow/<name>` and
 * `agent/<name>`), and how a tool's arguments become what runs.
 *
 * Arguments: a tool without an `input_schema` takes `{prompt: string}`, and runs as the chat message
 * `{role: "user", content: prompt}` would (job input `{prompt, messages: [that message]}`). A workflow with an
 * object `input_schema` offers that schema, and its arguments object, once it matches the schema, is the job input
 * as is: its first step reads exactly what the schema describes.
 */
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { buildJobInput, jsonSchemaErrors, MuleError, type ChatMessage } from '@mule/core';
import type { ToolSource } from '@mule/db';
import { allows, type Caller } from './access.js';
import { modelOf, toolNameOf } from './mcp-tool-names.js';

export const PROMPT_SCHEMA = {
  type: 'object',
  properties: { prompt: { type: 'string', description: 'What to ask' } },
  required: ['prompt'],
} as const;

/** A workflow's input_schema when it describes an object (an MCP tool's input is always one), else null. */
export function objectSchemaOf(source: ToolSource): Record<string, unknown> | null {
  const schema = source.inputSchema;
  if (!schema || (schema['type'] !== undefined && schema['type'] !== 'object')) return null;
  return { ...schema, type: 'object' };
}

export function toolOf(source: ToolSource): Tool {
  const model = modelOf(source);
  const fallback = source.kind === 'workflow' ? `Runs the Mule workflow ${model}.` : `Asks the Mule agent ${model}.`;
  return {
    name: toolNameOf(source.kind, source.name),
    title: model,
    description: source.description ?? fallback,
    inputSchema: (objectSchemaOf(source) ?? PROMPT_SCHEMA) as Tool['inputSchema'],
    // A workflow is a job: a client may call it as a task and fetch the result later (mcp-tasks.ts). An agent
    // runs inside the api for the length of the call, so there is nothing to fetch later.
    ...(source.kind === 'workflow' ? { execution: { taskSupport: 'optional' as const } } : {}),
  };
}

export function toolsFor(caller: Caller, sources: ToolSource[]): Tool[] {
  return sources.filter((source) => allows(caller, modelOf(source))).map(toolOf);
}

/** `{prompt}` arguments as the one user message they stand for; `invalid_request` when there is no prompt. */
export function promptMessages(args: Record<string, unknown> | undefined): ChatMessage[] {
  const prompt = args?.['prompt'];
  if (typeof prompt !== 'string') {
    throw new MuleError('invalid_request', 'the arguments must be {"prompt": "<text>"}: prompt is missing or not a string', { param: 'prompt' });
  }
  return [{ role: 'user', content: prompt }];
}

/**
 * A workflow tool's arguments as the job input (see the top of this file). Arguments are checked against the
 * input_schema here (jobs themselves are not checked against it): a mismatch is an `invalid_request` the model
 * reads and can correct, before any job is written.
 */
export function jobInputOf(source: ToolSource, args: Record<string, unknown> | undefined): unknown {
  const schema = objectSchemaOf(source);
  if (!schema) return buildJobInput(promptMessages(args));
  const input = args ?? {};
  const problem = jsonSchemaErrors(schema, input, 'arguments');
  if (problem) throw new MuleError('invalid_request', `the arguments do not match the input_schema of workflow/${source.name}: ${problem}`);
  return input;
}
