/** The api's relay rule: one source from payload 0 with no gap, else nothing more until the job ends. */
import { describe, expect, test } from '@jest/globals';
import { MuleError } from '@mule/core';
import { TokenRelay } from './token-relay.js';

const JOB = '00000000-0000-4000-8000-000000000001';
const payload = (source: string, seq: number, text: string, job = JOB) => `${job},${source},${seq},${text}`;

function watched() {
  const relay = new TokenRelay();
  const got: string[] = [];
  const { text, stop } = relay.watch(JOB, (piece) => got.push(piece));
  return { relay, got, text, stop };
}

describe('token relay (api)', () => {
  test('in-order payloads of one source are relayed, commas in the text kept; the rest is what the output adds', () => {
    const { relay, got, text } = watched();
    relay.onTokens(payload('1.1', 0, 'Hello, '));
    relay.onTokens(payload('1.1', 1, 'wor'));
    relay.onTokens(payload('1.1', 0, 'x', '00000000-0000-4000-8000-000000000002'));
    expect(got).toEqual(['Hello, ', 'wor']);
    expect(text.rest('Hello, world', 'job-x')).toBe('ld');
  });

  test('a gap stops the relay; the rest completes the content', () => {
    const { relay, got, text } = watched();
    relay.onTokens(payload('1.1', 0, 'a'));
    relay.onTokens(payload('1.1', 2, 'c'));
    relay.onTokens(payload('1.1', 3, 'd'));
    expect(got).toEqual(['a']);
    expect(text.rest('abcd', 'job-x')).toBe('bcd');
  });

  test('joining after payload 0 (a job already streaming) relays nothing', () => {
    const { relay, got, text } = watched();
    relay.onTokens(payload('1.1', 4, 'late'));
    relay.onTokens(payload('1.1', 5, 'r'));
    expect(got).toEqual([]);
    expect(text.started).toBe(false);
    expect(text.rest('all of it', 'job-x')).toBe('all of it');
  });

  test('a second source (retry, takeover) stops the relay; a different final text is an error', () => {
    const { relay, got, text } = watched();
    relay.onTokens(payload('1.1', 0, 'first try'));
    relay.onTokens(payload('2.1', 0, 'second'));
    relay.onTokens(payload('2.1', 1, ' try'));
    expect(got).toEqual(['first try']);
    expect(() => text.rest('second try', 'job-x')).toThrow(MuleError);
  });

  test('a listener reconnect stops every relay in progress', () => {
    const { relay, got, text } = watched();
    relay.onTokens(payload('1.1', 0, 'a'));
    relay.interruptAll();
    relay.onTokens(payload('1.1', 1, 'b'));
    expect(got).toEqual(['a']);
    expect(text.rest('ab', 'job-x')).toBe('b');
  });

  test('a stopped watch gets nothing and is forgotten', () => {
    const { relay, got, stop } = watched();
    stop();
    relay.onTokens(payload('1.1', 0, 'a'));
    expect(got).toEqual([]);
    expect(relay.size).toBe(0);
  });
});
