/** ADK contents to OpenAI messages and back, without ADK or HTTP: the mapping rules of message-mapping.ts. */
import { describe, expect, test } from '@jest/globals';
import type { Content, LlmRequest } from './adk.js';
import { toChatMessages, toChatRequest, toFunctionCallParts, toolNamesFor } from './message-mapping.js';
import { REJECTED_CALL_TOOL, rejectCall } from './rejected-call.js';

const plainNames = toolNamesFor([]);

describe('toChatMessages', () => {
  test('pairs tool responses to calls by name, in order, when ADK stripped the call ids', () => {
    const contents: Content[] = [
      { role: 'user', parts: [{ text: 'go' }] },
      {
        role: 'model',
        parts: [
          { functionCall: { name: 'a', args: { n: 1 } } },
          { functionCall: { name: 'b', args: {} } },
          { functionCall: { name: 'a', args: { n: 2 } } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'a', response: { result: 'first a' } } },
          { functionResponse: { name: 'a', response: { result: 'second a' } } },
          { functionResponse: { name: 'b', response: { value: 2 } } },
        ],
      },
    ];
    const messages = toChatMessages(contents, '', plainNames) as any[];
    const ids = messages[1].tool_calls.map((call: any) => call.id);
    expect(new Set(ids).size).toBe(3);
    expect(messages.slice(2)).toEqual([
      { role: 'tool', tool_call_id: ids[0], content: 'first a' },
      { role: 'tool', tool_call_id: ids[2], content: 'second a' },
      { role: 'tool', tool_call_id: ids[1], content: '{"value":2}' },
    ]);
  });

  test('keeps the provider call ids when ADK kept them', () => {
    const contents: Content[] = [
      { role: 'model', parts: [{ functionCall: { id: 'call_x', name: 'a', args: {} } }, { functionCall: { id: 'call_y', name: 'a', args: {} } }] },
      { role: 'user', parts: [{ functionResponse: { id: 'call_y', name: 'a', response: { result: 'y' } } }, { functionResponse: { id: 'call_x', name: 'a', response: { result: 'x' } } }] },
    ];
    const messages = toChatMessages(contents, 'sys', plainNames);
    expect(messages.slice(2)).toEqual([
      { role: 'tool', tool_call_id: 'call_y', content: 'y' },
      { role: 'tool', tool_call_id: 'call_x', content: 'x' },
    ]);
  });

  test('merges consecutive user messages and leaves out thoughts', () => {
    const contents: Content[] = [
      { role: 'user', parts: [{ text: 'one' }] },
      { role: 'user', parts: [{ text: 'two' }] },
      { role: 'model', parts: [{ text: 'thinking…', thought: true }, { text: 'answer' }] },
    ];
    expect(toChatMessages(contents, 'be kind', plainNames)).toEqual([
      { role: 'system', content: 'be kind' },
      { role: 'user', content: 'one\n\ntwo' },
      { role: 'assistant', content: 'answer' },
    ]);
  });

  test('replays a rejected call as the model sent it, under its own name', () => {
    const rejected = rejectCall({ id: 'call_1', name: 'shout', args: {} }, 'not valid JSON', '{"text": ');
    const contents: Content[] = [
      { role: 'model', parts: [{ functionCall: rejected }] },
      { role: 'user', parts: [{ functionResponse: { id: 'call_1', name: REJECTED_CALL_TOOL, response: { error: 'not valid JSON' } } }] },
    ];
    const messages = toChatMessages(contents, '', plainNames) as any[];
    expect(messages[0].tool_calls[0]).toEqual({ id: 'call_1', type: 'function', function: { name: 'shout', arguments: '{"text": ' } });
    expect(messages[1]).toEqual({ role: 'tool', tool_call_id: 'call_1', content: '{"error":"not valid JSON"}' });
  });

  test('a response without a matching call becomes user text rather than an orphan tool message', () => {
    const contents: Content[] = [{ role: 'user', parts: [{ functionResponse: { name: 'a', response: { result: 'late' } } }] }];
    expect(toChatMessages(contents, '', plainNames)).toEqual([{ role: 'user', content: 'Result of tool "a": late' }]);
  });
});

describe('toChatRequest', () => {
  test('declares tools as plain JSON Schema, converting Gemini-dialect schemas, with generation settings', () => {
    const llmRequest = {
      model: 'm1',
      contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
      config: {
        systemInstruction: 'sys',
        temperature: 0.3,
        topP: 0.9,
        maxOutputTokens: 12,
        tools: [
          {
            functionDeclarations: [
              { name: 'json.tool', description: 'd', parametersJsonSchema: { type: 'object', properties: {} } },
              { name: 'gemini_tool', parameters: { type: 'OBJECT', properties: { n: { type: 'INTEGER', nullable: true } }, required: ['n'] } },
              { name: 'bare' },
            ],
          },
        ],
      },
      toolsDict: {},
      liveConnectConfig: {},
    } as unknown as LlmRequest;
    const { body } = toChatRequest(llmRequest, 'default');
    expect(body).toMatchObject({ model: 'm1', temperature: 0.3, top_p: 0.9, max_tokens: 12 });
    expect(body.tools).toEqual([
      { type: 'function', function: { name: 'json_tool', description: 'd', parameters: { type: 'object', properties: {} } } },
      {
        type: 'function',
        function: { name: 'gemini_tool', parameters: { type: 'object', properties: { n: { type: ['integer', 'null'] } }, required: ['n'] } },
      },
      { type: 'function', function: { name: 'bare', parameters: { type: 'object', properties: {} } } },
    ]);
  });
});

describe('tool names and tool calls', () => {
  test('names OpenAI refuses get distinct wire names that map back', () => {
    const names = toolNamesFor(['a.b', 'a_b', 'ok-name']);
    expect(['a.b', 'a_b', 'ok-name'].map((name) => names.toWire(name))).toEqual(['a_b', 'a_b_2', 'ok-name']);
    expect(names.fromWire('a_b')).toBe('a.b');
    expect(names.fromWire('a_b_2')).toBe('a_b');
    expect(names.fromWire('unknown')).toBe('unknown');
  });

  test('arguments that are empty, malformed or not an object', () => {
    const parts = toFunctionCallParts(
      [
        { id: '1', name: 't', arguments: '' },
        { id: '2', name: 't', arguments: '{"a":' },
        { id: '3', name: 't', arguments: '[1]' },
        { id: '4', name: 't', arguments: '{"a":1}' },
      ],
      plainNames,
    );
    expect(parts[0]?.functionCall).toEqual({ id: '1', name: 't', args: {} });
    expect(parts[1]?.functionCall).toMatchObject({ id: '2', name: REJECTED_CALL_TOOL, args: { name: 't', arguments: '{"a":' } });
    expect((parts[1]?.functionCall?.args as { error: string }).error).toContain('not valid JSON');
    expect(parts[2]?.functionCall?.args).toMatchObject({ name: 't', arguments: '[1]', error: 'the arguments must be a JSON object' });
    expect(parts[3]?.functionCall).toEqual({ id: '4', name: 't', args: { a: 1 } });
  });
});
