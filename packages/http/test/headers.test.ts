import { describe, expect, it } from 'vitest';
import {
  acceptsByteRanges,
  cacheControlDirectives,
  parseContentLength,
  parseContentRange,
  parseHttpDate,
  parseRetryAfter,
  sameVersion,
  strongEtag,
  validatorOf,
} from '../src/headers.js';

const NOV_15_2014 = Date.UTC(2014, 10, 15, 8, 12, 31);

describe('parseHttpDate', () => {
  it('reads the three forms the reference accepts', () => {
    expect(parseHttpDate('Tue, 15 Nov 2014 08:12:31 GMT')?.getTime()).toBe(NOV_15_2014);
    expect(parseHttpDate('Tuesday, 15-Nov-14 08:12:31 GMT')?.getTime()).toBe(NOV_15_2014);
    expect(parseHttpDate('Tue Nov 15 08:12:31 2014')?.getTime()).toBe(NOV_15_2014);
  });

  it('reads a space-padded asctime day and names in any case', () => {
    expect(parseHttpDate('Wed Nov  5 08:12:31 2014')?.getTime()).toBe(Date.UTC(2014, 10, 5, 8, 12, 31));
    expect(parseHttpDate('tue, 15 NOV 2014 08:12:31 GMT')?.getTime()).toBe(NOV_15_2014);
  });

  it('reads a two-digit RFC 850 year as Python does (69-99: 19xx, 00-68: 20xx)', () => {
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')?.getUTCFullYear()).toBe(1994);
    expect(parseHttpDate('Saturday, 06-Nov-68 08:49:37 GMT')?.getUTCFullYear()).toBe(2068);
  });

  it('gives null for absent, other or impossible dates', () => {
    for (const text of [
      undefined,
      '',
      'yesterday',
      '2014-11-15T08:12:31Z',
      'Tue, 15 Nov 2014 08:12:31 UTC',
      'Tue, 15 Nov 2014 08:12:31',
      'Tue, 31 Feb 2014 08:12:31 GMT',
      'Tue, 15 Nov 2014 25:12:31 GMT',
      'Tue, 15 Foo 2014 08:12:31 GMT',
    ]) {
      expect(parseHttpDate(text), String(text)).toBeNull();
    }
  });
});

describe('Cache-Control', () => {
  it('finds no-store among directives, in any case, not inside a quoted argument', () => {
    expect(cacheControlDirectives('no-store').has('no-store')).toBe(true);
    expect(cacheControlDirectives('private, NO-STORE, max-age=0').has('no-store')).toBe(true);
    expect(cacheControlDirectives('public, max-age=60').has('no-store')).toBe(false);
    expect(cacheControlDirectives('no-cache="set-cookie, no-store"').has('no-store')).toBe(false);
    expect(cacheControlDirectives('no-cache="a,b", no-store').has('no-store')).toBe(true);
    expect(cacheControlDirectives(undefined).size).toBe(0);
  });
});

describe('Content-Length and Content-Range', () => {
  it('accepts only non-negative integers as a length', () => {
    expect(parseContentLength('1234')).toBe(1234);
    expect(parseContentLength(' 0 ')).toBe(0);
    expect(parseContentLength(undefined)).toBeUndefined();
    for (const bad of ['-5', 'abc', '1.5', '', '1e3', '99999999999999999999']) {
      expect(parseContentLength(bad), bad).toBe('invalid');
    }
  });

  it('parses satisfied and unsatisfied ranges and rejects inconsistent ones', () => {
    expect(parseContentRange('bytes 0-0/1234')).toEqual({ kind: 'range', start: 0, end: 0, total: 1234 });
    expect(parseContentRange('bytes 10-19/*')).toEqual({ kind: 'range', start: 10, end: 19, total: null });
    expect(parseContentRange('bytes */0')).toEqual({ kind: 'unsatisfied', total: 0 });
    expect(parseContentRange('bytes 5-4/10')).toBeUndefined();
    expect(parseContentRange('bytes 0-10/10')).toBeUndefined();
    expect(parseContentRange('items 0-1/2')).toBeUndefined();
    expect(parseContentRange(undefined)).toBeUndefined();
  });
});

describe('validators', () => {
  it('prefers a strong ETag, falls back to Last-Modified, ignores weak tags', () => {
    expect(strongEtag('"abc"')).toBe('"abc"');
    expect(strongEtag('W/"abc"')).toBeUndefined();
    expect(validatorOf({ etag: '"abc"', 'last-modified': 'Tue, 15 Nov 2014 08:12:31 GMT' })).toBe('"abc"');
    expect(validatorOf({ etag: 'W/"abc"', 'last-modified': 'Tue, 15 Nov 2014 08:12:31 GMT' })).toBe(
      'Tue, 15 Nov 2014 08:12:31 GMT',
    );
    expect(validatorOf({ 'last-modified': 'not a date' })).toBeUndefined();
    expect(validatorOf({})).toBeUndefined();
  });

  it('compares a response with a validator the way it was made', () => {
    expect(sameVersion({ etag: '"a"' }, '"a"')).toBe(true);
    expect(sameVersion({ etag: '"b"' }, '"a"')).toBe(false);
    expect(sameVersion({}, '"a"')).toBe(false);
    const date = 'Tue, 15 Nov 2014 08:12:31 GMT';
    expect(sameVersion({ 'last-modified': date }, date)).toBe(true);
    expect(sameVersion({ 'last-modified': 'Wed, 16 Nov 2014 08:12:31 GMT' }, date)).toBe(false);
  });
});

describe('Retry-After', () => {
  const now = Date.UTC(2026, 0, 1, 0, 0, 0);
  it('reads seconds and HTTP dates, caps them, and ignores junk', () => {
    expect(parseRetryAfter('3', 60_000, now)).toBe(3000);
    expect(parseRetryAfter('3600', 60_000, now)).toBe(60_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', 60_000, now)).toBe(10_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', 60_000, now)).toBe(0);
    expect(parseRetryAfter('-1', 60_000, now)).toBeUndefined();
    expect(parseRetryAfter('soon', 60_000, now)).toBeUndefined();
    expect(parseRetryAfter(undefined, 60_000, now)).toBeUndefined();
  });
});

describe('Accept-Ranges', () => {
  it('is true only for the bytes unit', () => {
    expect(acceptsByteRanges({ 'accept-ranges': 'bytes' })).toBe(true);
    expect(acceptsByteRanges({ 'accept-ranges': 'none' })).toBe(false);
    expect(acceptsByteRanges({})).toBe(false);
  });
});
