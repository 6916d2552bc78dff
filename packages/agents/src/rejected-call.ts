/**
 * Tool calls that cannot run: an unknown tool name, or arguments that are not a JSON object. ADK throws (and ends
 * the run with a bare error) when a call names a tool it does not know, so such calls are rewritten into calls of
 * one hidden tool that answers the model with the reason. The model sees that error as the tool's result, can
 * correct itself, and the max_tool_calls bound stops a model that keeps trying. Provider adapters turn a rejected
 * call back into what the model actually sent when they replay the history.
 */
import type { FunctionCall } from './adk.js';

/** Not a valid Mule definition name (those start with [a-z0-9]), so it never collides with a real tool. */
export const REJECTED_CALL_TOOL = '_mule_rejected_call';

export interface RejectedCallArgs {
  /** The tool name the model used. */
  name: string;
  /** The arguments as the model sent them: an object, or the raw text when it was not valid JSON. */
  arguments: unknown;
  /** Why the call was rejected; returned to the model as the tool result. */
  error: string;
}

export function rejectCall(call: FunctionCall, error: string, rawArguments?: string): FunctionCall {
  const args: RejectedCallArgs = { name: call.name ?? '', arguments: rawArguments ?? call.args ?? {}, error };
  return { ...(call.id ? { id: call.id } : {}), name: REJECTED_CALL_TOOL, args: args as unknown as Record<string, unknown> };
}

export function isRejectedCall(call: FunctionCall): boolean {
  return call.name === REJECTED_CALL_TOOL;
}

/** The call as the model sent it: name and the arguments' JSON text. */
export function originalCall(call: FunctionCall): { name: string; argumentsText: string } {
  if (isRejectedCall(call)) {
    const args = (call.args ?? {}) as Partial<RejectedCallArgs>;
    const sent = args.arguments;
    return { name: String(args.name ?? ''), argumentsText: typeof sent === 'string' ? sent : JSON.stringify(sent ?? {}) };
  }
  return { name: call.name ?? '', argumentsText: JSON.stringify(call.args ?? {}) };
}

/** Rewrites, in place, calls of tools that are not in `known` (ADK would throw on them). */
export function rejectUnknownCalls(parts: { functionCall?: FunctionCall }[] | undefined, known: ReadonlySet<string>): void {
  for (const part of parts ?? []) {
    const call = part.functionCall;
    if (!call || known.has(call.name ?? '') || isRejectedCall(call)) continue;
    const available = [...known].filter((name) => name !== REJECTED_CALL_TOOL);
    const list = available.length ? available.map((name) => `"${name}"`).join(', ') : 'none';
    part.functionCall = rejectCall(call, `unknown tool "${call.name ?? ''}"; the available tools are: ${list}`);
  }
}
