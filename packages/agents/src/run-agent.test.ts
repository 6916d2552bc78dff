/**
 * Agent runs end to end on ADK against the fake provider over real HTTP: OpenAI-compatible and Gemini paths,
 * tools, streaming, conversation history, usage, provider errors, bounds and cancellation.
 * (The one test file of this package that loads ADK: ~1 s.)
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { MuleError, type AgentDefinition, type ChatMessage } from '@mule/core';
import { startFakeProvider, type FakeProvider, type RecordedRequest } from '@mule/test/support/fake-provider.js';
import { runAgent, type AgentRunRequest, type AgentTool, type ProviderConfig } from './index.js';

let fake: FakeProvider;
let openai: ProviderConfig;
let gemini: ProviderConfig;

beforeAll(async () => {
  fake = await startFakeProvider();
  openai = { name: 'fake', type: 'openai', baseUrl: fake.url, apiKey: 'sk-fake-key' };
  gemini = { name: 'fake-gemini', type: 'gemini', baseUrl: fake.geminiUrl, apiKey: 'gemini-fake-key' };
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => fake.reset());

const agent: AgentDefinition = { name: 'helper', provider: 'fake', model: 'fake-model', instruction: 'You answer in French.' };
const ask = (text: string): ChatMessage[] => [{ role: 'user', content: text }];

function request(overrides: Partial<AgentRunRequest> = {}): AgentRunRequest {
  return { agent, provider: openai, tools: [], messages: ask('Hello'), ...overrides };
}

/** A tool that uppercases `text` and remembers what it was called with. */
function uppercaseTool(): AgentTool & { calls: unknown[] } {
  const calls: unknown[] = [];
  return {
    calls,
    name: 'uppercase',
    description: 'Uppercase a text',
    parameters: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    async run(args) {
      calls.push(args);
      return { text: String((args as { text: string }).text).toUpperCase() };
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<MuleError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(MuleError);
    return error as MuleError;
  }
  throw new Error('expected the run to fail');
}

const toolMessages = (recorded: RecordedRequest | undefined): any[] =>
  (recorded?.body.messages ?? []).filter((message: any) => message.role === 'tool');

describe('OpenAI-compatible provider', () => {
  test('an agent answers with its instruction and the provider key sent', async () => {
    fake.script({ text: 'Bonjour !' });
    const result = await runAgent(request());
    expect(result).toMatchObject({ text: 'Bonjour !', finishReason: 'stop', llmCalls: 1, toolCalls: 0 });
    const [sent] = fake.requests;
    expect(sent?.headers.authorization).toBe('Bearer sk-fake-key');
    expect(sent?.body.model).toBe('fake-model');
    expect(sent?.body.messages).toEqual([
      { role: 'system', content: 'You answer in French.' },
      { role: 'user', content: 'Hello' },
    ]);
    expect(sent?.body.tools).toBeUndefined();
  });

  test('a provider without a key (a local server) sends no Authorization header', async () => {
    const { apiKey: _key, ...keyless } = openai;
    await runAgent(request({ provider: keyless, agent: { ...agent, instruction: undefined } }));
    expect(fake.requests[0]?.headers.authorization).toBeUndefined();
    expect(fake.requests[0]?.body.messages).toEqual([{ role: 'user', content: 'Hello' }]);
  });

  test('an instruction with {braces} is sent as written, not read as an ADK state placeholder', async () => {
    await runAgent(request({ agent: { ...agent, instruction: 'Reply as JSON like {"answer": {text}}.' } }));
    expect(fake.requests[0]?.body.messages[0]).toEqual({ role: 'system', content: 'Reply as JSON like {"answer": {text}}.' });
  });

  test('earlier turns reach the provider and system messages add to the instruction', async () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'Enchantée, Ada.' },
      { role: 'user', content: [{ type: 'text', text: 'What is my name?' }] },
    ];
    fake.script({ text: 'Ada.' });
    const result = await runAgent(request({ messages }));
    expect(result.text).toBe('Ada.');
    expect(fake.requests[0]?.body.messages).toEqual([
      { role: 'system', content: 'You answer in French.\n\nBe brief.' },
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'Enchantée, Ada.' },
      { role: 'user', content: 'What is my name?' },
    ]);
  });

  test('per-request model parameters win over the definition', async () => {
    const tuned = { ...agent, temperature: 0.2, top_p: 0.5, max_tokens: 100 };
    await runAgent(request({ agent: tuned, overrides: { temperature: 0.9, max_tokens: 7 } }));
    expect(fake.requests[0]?.body).toMatchObject({ temperature: 0.9, top_p: 0.5, max_tokens: 7 });
  });

  test('an agent calls a tool and answers with its result', async () => {
    const tool = uppercaseTool();
    fake.script({ toolCalls: [{ name: 'uppercase', arguments: '{"text":"bonjour"}' }] }, { text: 'Voilà : BONJOUR' });
    const result = await runAgent(request({ tools: [tool] }));
    expect(result).toMatchObject({ text: 'Voilà : BONJOUR', llmCalls: 2, toolCalls: 1 });
    expect(tool.calls).toEqual([{ text: 'bonjour' }]);
    expect(fake.requests[0]?.body.tools).toEqual([
      {
        type: 'function',
        function: { name: 'uppercase', description: 'Uppercase a text', parameters: tool.parameters },
      },
    ]);
    const [assistant, result1] = fake.requests[1]?.body.messages.slice(-2) ?? [];
    expect(assistant.tool_calls[0].function).toEqual({ name: 'uppercase', arguments: '{"text":"bonjour"}' });
    expect(result1).toEqual({ role: 'tool', tool_call_id: assistant.tool_calls[0].id, content: '{"text":"BONJOUR"}' });
  });

  test('tool names OpenAI would refuse (dots) are mapped both ways', async () => {
    const tool = { ...uppercaseTool(), name: 'text.upper' };
    fake.script({ toolCalls: [{ name: 'text_upper', arguments: '{"text":"a"}' }] }, { text: 'A' });
    await runAgent(request({ tools: [tool] }));
    expect(fake.requests[0]?.body.tools[0].function.name).toBe('text_upper');
    expect(tool.calls).toEqual([{ text: 'a' }]);
  });

  test('usage is summed over all LLM calls of the run', async () => {
    fake.script(
      { toolCalls: [{ name: 'uppercase', arguments: '{"text":"a"}' }], usage: { prompt_tokens: 11, completion_tokens: 3 } },
      { text: 'A', usage: { prompt_tokens: 20, completion_tokens: 4 } },
    );
    const result = await runAgent(request({ tools: [uppercaseTool()] }));
    expect(result.usage).toEqual({ prompt_tokens: 31, completion_tokens: 7, total_tokens: 38 });
  });

  test('streamed deltas add up to the answer, tool rounds included', async () => {
    fake.script(
      { toolCalls: [{ name: 'uppercase', arguments: '{"text":"salut"}' }], usage: { prompt_tokens: 5, completion_tokens: 1 } },
      { text: 'Le résultat est SALUT, voilà.', usage: { prompt_tokens: 9, completion_tokens: 6 } },
    );
    const deltas: string[] = [];
    const result = await runAgent(request({ tools: [uppercaseTool()], onTextDelta: (delta) => deltas.push(delta) }));
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(result.text);
    expect(result.text).toBe('Le résultat est SALUT, voilà.');
    expect(result.usage).toEqual({ prompt_tokens: 14, completion_tokens: 7, total_tokens: 21 });
    expect(fake.requests[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(toolMessages(fake.requests[1])[0].content).toBe('{"text":"SALUT"}');
  });

  test('a model that stops on its token limit reports finishReason length', async () => {
    fake.script({ text: 'Le début', finishReason: 'length' });
    expect(await runAgent(request())).toMatchObject({ text: 'Le début', finishReason: 'length' });
  });

  test('a provider 500 fails the run with provider_error and the status in details', async () => {
    fake.script({ error: { status: 500, message: 'the model is on fire' } });
    const error = await failure(runAgent(request()));
    expect(error.code).toBe('provider_error');
    expect(error.message).toContain('500');
    expect(error.message).toContain('the model is on fire');
    expect(error.details).toMatchObject({ status: 500 });
    expect(fake.requests).toHaveLength(1); // no hidden retries
  });

  test('a provider 429 with Retry-After carries retryAfterSeconds', async () => {
    fake.script({ error: { status: 429, message: 'rate limited', retryAfter: '17' } });
    const error = await failure(runAgent(request({ onTextDelta: () => undefined })));
    expect(error.code).toBe('provider_error');
    expect(error.details).toMatchObject({ status: 429, retryAfterSeconds: 17 });
  });

  test('an unreachable provider fails with provider_error', async () => {
    const closed = await startFakeProvider();
    await closed.close();
    const error = await failure(runAgent(request({ provider: { ...openai, baseUrl: closed.url } })));
    expect(error.code).toBe('provider_error');
    expect(error.message).toContain('could not connect');
  });

  test('an unknown tool name is answered as an error, and a model that insists stops at max_tool_calls', async () => {
    fake.onRequest = () => ({ toolCalls: [{ name: 'launch_rockets', arguments: '{}' }] });
    const tool = uppercaseTool();
    const error = await failure(runAgent(request({ agent: { ...agent, max_tool_calls: 3 }, tools: [tool] })));
    expect(error.code).toBe('tool_call_limit');
    expect(error.message).toBe('agent "helper" asked for more than its max_tool_calls (3) tool calls; the run was stopped');
    expect(fake.requests).toHaveLength(4);
    const answer = JSON.parse(toolMessages(fake.requests[1])[0].content);
    expect(answer.error).toBe('unknown tool "launch_rockets"; the available tools are: "uppercase"');
    // The model sees its own call replayed as it made it.
    expect(fake.requests[1]?.body.messages.at(-2).tool_calls[0].function.name).toBe('launch_rockets');
    expect(tool.calls).toHaveLength(0);
  });

  test('a tool loop stops at max_tool_calls with tool_call_limit, the extra call never running', async () => {
    fake.onRequest = () => ({ toolCalls: [{ name: 'uppercase', arguments: '{"text":"again"}' }] });
    const tool = uppercaseTool();
    const error = await failure(runAgent(request({ agent: { ...agent, max_tool_calls: 2 }, tools: [tool] })));
    expect(error.code).toBe('tool_call_limit');
    expect(tool.calls).toHaveLength(2);
  });

  test('max_tool_calls 0 lets the agent answer but not call tools', async () => {
    const tool = uppercaseTool();
    const limited = { ...agent, max_tool_calls: 0 };
    fake.script({ text: 'Sans outil.' });
    expect((await runAgent(request({ agent: limited, tools: [tool] }))).text).toBe('Sans outil.');
    fake.script({ toolCalls: [{ name: 'uppercase', arguments: '{"text":"x"}' }] });
    expect((await failure(runAgent(request({ agent: limited, tools: [tool] })))).code).toBe('tool_call_limit');
    expect(tool.calls).toHaveLength(0);
  });

  test('malformed tool arguments are reported back to the model, which can correct itself', async () => {
    const tool = uppercaseTool();
    fake.script(
      { toolCalls: [{ name: 'uppercase', arguments: '{"text": "oops' }] },
      { toolCalls: [{ name: 'uppercase', arguments: '{"text":"fixed"}' }] },
      { text: 'FIXED' },
    );
    const result = await runAgent(request({ tools: [tool] }));
    expect(result).toMatchObject({ text: 'FIXED', toolCalls: 2, llmCalls: 3 });
    expect(tool.calls).toEqual([{ text: 'fixed' }]);
    const answer = JSON.parse(toolMessages(fake.requests[1])[0].content);
    expect(answer.error).toContain('not valid JSON');
    expect(fake.requests[1]?.body.messages.at(-2).tool_calls[0].function).toEqual({ name: 'uppercase', arguments: '{"text": "oops' });
  });

  test("arguments that violate the tool's JSON Schema are reported back without running it", async () => {
    const tool = uppercaseTool();
    fake.script({ toolCalls: [{ name: 'uppercase', arguments: '{"txt":"a"}' }] }, { text: 'Pardon.' });
    const result = await runAgent(request({ tools: [tool] }));
    expect(result.text).toBe('Pardon.');
    expect(tool.calls).toHaveLength(0);
    const answer = JSON.parse(toolMessages(fake.requests[1])[0].content);
    expect(answer.error).toBe("arguments do not match the tool's parameter schema: arguments must have required property 'text'");
  });

  test('a tool failing with a MuleError gives the model its message and the run goes on', async () => {
    const trapping: AgentTool = {
      name: 'uppercase',
      description: 'Uppercase a text',
      run: async () => {
        throw new MuleError('wasm_trap', 'module "uppercase" trapped: unreachable');
      },
    };
    fake.script({ toolCalls: [{ name: 'uppercase', arguments: '{"text":"a"}' }] }, { text: 'The tool failed.' });
    const result = await runAgent(request({ tools: [trapping] }));
    expect(result.text).toBe('The tool failed.');
    expect(JSON.parse(toolMessages(fake.requests[1])[0].content)).toEqual({ error: 'module "uppercase" trapped: unreachable' });
  });

  test('a tool failing with anything else is a bug and fails the run with internal_error', async () => {
    const broken: AgentTool = { name: 'uppercase', description: 'x', run: async () => Promise.reject(new TypeError('oops')) };
    fake.script({ toolCalls: [{ name: 'uppercase', arguments: '{}' }] }, { text: 'never' });
    const error = await failure(runAgent(request({ tools: [broken] })));
    expect(error.code).toBe('internal_error');
    expect(fake.requests).toHaveLength(1);
  });

  test('abort during a slow reply rejects with cancelled and aborts the provider request', async () => {
    fake.script({ hang: true });
    const controller = new AbortController();
    const run = failure(runAgent(request({ signal: controller.signal })));
    await fake.waitFor((requests) => requests.length === 1);
    controller.abort();
    expect((await run).code).toBe('cancelled');
    await fake.waitFor((requests) => requests[0]?.aborted === true);
  });

  test('abort while streaming rejects with cancelled and aborts the provider request', async () => {
    fake.script({ text: 'slow', delayMs: 60_000 });
    const controller = new AbortController();
    const run = failure(runAgent(request({ signal: controller.signal, onTextDelta: () => undefined })));
    await fake.waitFor((requests) => requests.length === 1);
    controller.abort();
    expect((await run).code).toBe('cancelled');
    await fake.waitFor((requests) => requests[0]?.aborted === true);
  });

  test('a tool gets the run signal, aborted when the run is cancelled', async () => {
    let seen: AbortSignal | undefined;
    let markStarted = (): void => undefined;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    const waiting: AgentTool = {
      name: 'uppercase',
      description: 'x',
      run: (_args, signal) => {
        seen = signal;
        markStarted();
        return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new MuleError('cancelled', 'tool stopped'))));
      },
    };
    fake.script({ toolCalls: [{ name: 'uppercase', arguments: '{}' }] });
    const controller = new AbortController();
    const run = failure(runAgent(request({ tools: [waiting], signal: controller.signal })));
    await started;
    controller.abort();
    expect((await run).code).toBe('cancelled');
    expect(seen?.aborted).toBe(true);
  });

  test('an already aborted signal fails at once without calling the provider', async () => {
    const error = await failure(runAgent(request({ signal: AbortSignal.abort() })));
    expect(error.code).toBe('cancelled');
    expect(fake.requests).toHaveLength(0);
  });

  test('a conversation that does not end with a user message is an invalid request', async () => {
    const messages: ChatMessage[] = [...ask('Hi'), { role: 'assistant', content: 'Hello' }];
    const error = await failure(runAgent(request({ messages })));
    expect(error).toMatchObject({ code: 'invalid_request', param: 'messages' });
  });
});

describe('Gemini provider (ADK Gemini model)', () => {
  const geminiAgent: AgentDefinition = { ...agent, provider: 'fake-gemini', model: 'gemini-2.5-flash' };
  const geminiRequest = (overrides: Partial<AgentRunRequest> = {}): AgentRunRequest =>
    request({ agent: geminiAgent, provider: gemini, ...overrides });

  test('a Gemini agent calls a tool and answers, with its key and instruction sent', async () => {
    const tool = { ...uppercaseTool(), name: 'text.upper' };
    fake.script(
      { toolCalls: [{ name: 'text.upper', arguments: '{"text":"ciao"}' }], usage: { prompt_tokens: 8, completion_tokens: 2 } },
      { text: 'CIAO', usage: { prompt_tokens: 12, completion_tokens: 1 } },
    );
    const result = await runAgent(geminiRequest({ tools: [tool] }));
    expect(result).toMatchObject({ text: 'CIAO', llmCalls: 2, toolCalls: 1, finishReason: 'stop' });
    expect(result.usage).toEqual({ prompt_tokens: 20, completion_tokens: 3, total_tokens: 23 });
    expect(tool.calls).toEqual([{ text: 'ciao' }]);
    const [first, second] = fake.requests;
    expect(first?.path).toBe('/gemini/v1beta/models/gemini-2.5-flash:generateContent');
    expect(first?.headers['x-goog-api-key']).toBe('gemini-fake-key');
    expect(first?.body.systemInstruction.parts[0].text).toBe('You answer in French.');
    expect(first?.body.tools[0].functionDeclarations[0]).toMatchObject({ name: 'text.upper', parametersJsonSchema: tool.parameters });
    expect(second?.body.contents.at(-1).parts[0].functionResponse).toMatchObject({ name: 'text.upper', response: { text: 'CIAO' } });
  });

  test('Gemini streaming deltas add up to the answer', async () => {
    fake.script({ text: 'Uno due tre quattro' });
    const deltas: string[] = [];
    const result = await runAgent(geminiRequest({ onTextDelta: (delta) => deltas.push(delta) }));
    expect(fake.requests[0]?.path).toContain(':streamGenerateContent?alt=sse');
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('Uno due tre quattro');
    expect(result.text).toBe('Uno due tre quattro');
  });

  test('earlier turns reach Gemini as user and model contents', async () => {
    const messages: ChatMessage[] = [...ask('Je suis Ada.'), { role: 'assistant', content: 'Bonjour Ada.' }, ...ask('Qui suis-je ?')];
    await runAgent(geminiRequest({ messages }));
    expect(fake.requests[0]?.body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Je suis Ada.' }] },
      { role: 'model', parts: [{ text: 'Bonjour Ada.' }] },
      { role: 'user', parts: [{ text: 'Qui suis-je ?' }] },
    ]);
  });

  test('a Gemini 500 fails with provider_error and status 500', async () => {
    fake.script({ error: { status: 500, message: 'backend exploded' } });
    const error = await failure(runAgent(geminiRequest()));
    expect(error.code).toBe('provider_error');
    expect(error.message).toContain('backend exploded');
    expect(error.details).toMatchObject({ status: 500 });
  });

  test('a Gemini 429 carries retryAfterSeconds from its RetryInfo', async () => {
    fake.script({ error: { status: 429, message: 'quota', retryAfter: '30' } });
    const error = await failure(runAgent(geminiRequest()));
    expect(error.details).toMatchObject({ status: 429, retryAfterSeconds: 30 });
  });

  test('an unknown tool name from Gemini is answered as an error, then bounded by max_tool_calls', async () => {
    fake.onRequest = () => ({ toolCalls: [{ name: 'nope', arguments: '{}' }] });
    const error = await failure(runAgent(geminiRequest({ agent: { ...geminiAgent, max_tool_calls: 2 }, tools: [uppercaseTool()] })));
    expect(error.code).toBe('tool_call_limit');
    expect(fake.requests).toHaveLength(3);
    const reply = fake.requests[1]?.body.contents.at(-1).parts[0].functionResponse;
    expect(reply.response.error).toContain('unknown tool "nope"');
  });

  test('abort during a slow Gemini reply rejects with cancelled and aborts the request', async () => {
    fake.script({ hang: true });
    const controller = new AbortController();
    const run = failure(runAgent(geminiRequest({ signal: controller.signal })));
    await fake.waitFor((requests) => requests.length === 1);
    controller.abort();
    expect((await run).code).toBe('cancelled');
    await fake.waitFor((requests) => requests[0]?.aborted === true);
  });
});
