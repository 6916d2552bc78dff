/** Provider failures as Mule errors: status, retry delay and a masked key, without ADK or HTTP. */
import { describe, expect, test } from '@jest/globals';
import { APIError } from 'openai';
import { fromGeminiError, fromOpenAiError, maskKey, providerError } from './provider-errors.js';

const provider = { name: 'p', apiKey: 'sk-secret-0123456789' };

describe('provider errors', () => {
  test('a key quoted by the provider is masked in the message', () => {
    const error = providerError(provider, 401, 'Incorrect API key provided: sk-secret-0123456789 (sk-secret-0123456789)');
    expect(error.message).toBe('provider "p" answered 401: Incorrect API key provided: [redacted key] ([redacted key])');
    expect(error.retryable).toBe(false);
  });

  test('the openai and Gemini error shapes are both masked', () => {
    const openai = APIError.generate(401, { error: { message: 'bad key sk-secret-0123456789' } }, undefined, new Headers());
    expect(fromOpenAiError(provider, openai).message).not.toContain(provider.apiKey);
    const gemini = Object.assign(new Error(JSON.stringify({ error: { message: 'API key sk-secret-0123456789 not valid' } })), { status: 400 });
    expect(fromGeminiError(provider, gemini).message).toBe('provider "p" answered 400: API key [redacted key] not valid');
  });

  test('no key, or a key too short to mask safely, leaves the text alone', () => {
    expect(maskKey('a b c', undefined)).toBe('a b c');
    expect(maskKey('the key abc', 'abc')).toBe('the key abc');
  });
});
