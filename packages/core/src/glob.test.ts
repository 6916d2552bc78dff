import { describe, expect, test } from '@jest/globals';
import { envVarAllowed, DEFAULT_ENV_ALLOW } from './env-allow.js';
import { globMatches } from './glob.js';

describe('globMatches', () => {
  test.each([
    ['workflow/x', 'workflow/x', true],
    ['workflow/x', 'workflow/xy', false],
    ['workflow/*', 'workflow/x', true],
    ['workflow/*', 'workflow/', true],
    ['workflow/*', 'agent/x', false],
    ['*', '', true],
    ['*/x', 'agent/x', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'acb', false],
    ['ab*ba', 'aba', false],
    ['a*a', 'a', false],
    ['*_API_KEY', 'OPENAI_API_KEY', true],
    ['*_API_KEY', '_API_KEY', true],
    ['*_API_KEY', 'API_KEY', false],
    ['a.b', 'aXb', false],
    ['x**y', 'xy', true],
  ])('%s against %s: %s', (pattern, text, expected) => {
    expect(globMatches(pattern, text)).toBe(expected);
  });

  test('a pattern a regex would backtrack on for ever answers at once', () => {
    // As ^a.*a.*…b$ this is C(10000, 40) paths; the matcher makes one indexOf pass per piece.
    expect(globMatches(`${'a*'.repeat(100)}b`, 'a'.repeat(10_000))).toBe(false);
    expect(globMatches(`${'a*'.repeat(100)}b`, `${'a'.repeat(10_000)}b`)).toBe(true);
  });
});

describe('envVarAllowed', () => {
  test('the default list, and the three names no list allows', () => {
    for (const name of ['MULE_PROVIDER_X', 'OPENAI_BASE_URL', 'GEMINI_API_KEY', 'ANTHROPIC_API_KEY', 'GITHUB_TOKEN', 'SLACK_WEBHOOK_SECRET']) {
      expect([name, envVarAllowed(name, DEFAULT_ENV_ALLOW)]).toEqual([name, true]);
    }
    for (const name of ['DATABASE_URL', 'MULE_SECRET_KEY', 'MULE_API_KEYS', 'HOME', 'PATH', 'PGPASSWORD', 'MULE_SYNC_TIMEOUT_MS']) {
      expect([name, envVarAllowed(name, DEFAULT_ENV_ALLOW)]).toEqual([name, false]);
    }
    for (const name of ['DATABASE_URL', 'MULE_SECRET_KEY', 'MULE_API_KEYS', 'database_url']) expect(envVarAllowed(name, ['*'])).toBe(false);
    expect(envVarAllowed('HOME', ['*'])).toBe(true);
  });
});
