/**
 * The api's relay rule: a source from payload 0 with no gap; another source followed once it repeats what was sent;
 * else nothing more until the job ends.
 */
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

  test('joining after payload 0 (a job already streaming) relays nothing of that source', () => {
    const { relay, got, text } = watched();
    relay.onTokens(payload('1.1', 4, 'late'));
    relay.onTokens(payload('1.1', 5, 'r'));
    expect(got).toEqual([]);
    expect(text.started).toBe(false);
    expect(text.rest('all of it', 'job-x')).toBe('all of it');
  });

  test('a second source (retry, takeover) that answers differently is not relayed; its different final text is an error', () => {
    const { relay, got, text } = watched();
    relay.onTokens(payload('1.1', 0, 'first try'));
    relay.onTokens(payload('2.1', 0, 'second'));
    relay.onTokens(payload('2.1', 1, ' try, longer than the first'));
    relay.onTokens(payload('1.1', 1, ' more'));
    expect(got).toEqual(['first try']);
    expect(() => text.rest('second try, longer than the first', 'job-x')).toThrow(MuleError);
  });

  test('a second source that repeats what was sent is followed from where the stream stood; the old one is dropped', () => {
    const { relay, got, text } = watched();
    relay.onTokens(payload('1.1', 0, 'Hel'));
    relay.onTokens(payload('1.1', 1, 'lo, w'));
    relay.onTokens(payload('2.1', 0, 'He'));
    relay.onTokens(payload('2.1', 1, 'llo'));
    expect(got).toEqual(['Hel', 'lo, w']);
    relay.onTokens(payload('2.1', 2, ', wor'));
    relay.onTokens(payload('1.1', 2, 'stale'));
    relay.onTokens(payload('2.1', 3, 'ld'));
    expect(got).toEqual(['Hel', 'lo, w', 'or', 'ld']);
    expect(text.rest('Hello, world!', 'job-x')).toBe('!');
  });

  test('a second source with a gap while it catches up is not followed', () => {
    const { relay, got } = watched();
    relay.onTokens(payload('1.1', 0, 'abc'));
    relay.onTokens(payload('2.1', 0, 'a'));
    relay.onTokens(payload('2.1', 2, 'bcdef'));
    expect(got).toEqual(['abc']);
  });

  test('a listener reconnect stops every relay in progress; a source that starts afterwards can take over', () => {
    const { relay, got, text } = watched();
    relay.onTokens(payload('1.1', 0, 'a'));
    relay.interruptAll();
    relay.onTokens(payload('1.1', 1, 'b'));
    expect(got).toEqual(['a']);
    expect(text.rest('ab', 'job-x')).toBe('b');
    relay.onTokens(payload('2.1', 0, 'abc'));
    expect(got).toEqual(['a', 'bc']);
  });

  test('a stopped watch gets nothing and is forgotten', () => {
    const { relay, got, stop } = watched();
    stop();
    relay.onTokens(payload('1.1', 0, 'a'));
    expect(got).toEqual([]);
    expect(relay.size).toBe(0);
  });
});
