import { parseHttpDate } from '@image-service/core';

/** HTTP dates and Retry-After are read by the core, which every driver shares. */
export { parseHttpDate, parseRetryAfter } from '@image-service/core';

/** Response headers as undici hands them over (a repeated header is an array). */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** The first value of a header, or undefined. */
export function firstHeader(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** All values of a list-valued header (Cache-Control, ...), joined with commas as RFC 9110 allows. */
export function listHeader(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** A Content-Length: a number, `invalid` for anything but a non-negative safe integer, undefined when absent. */
export function parseContentLength(value: string | undefined): number | 'invalid' | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (!/^\d+$/.test(text)) return 'invalid';
  const length = Number(text);
  return Number.isSafeInteger(length) ? length : 'invalid';
}

/** A parsed Content-Range: a satisfied range (`total` null for `/*`) or the unsatisfied form `bytes * /<total>`. */
export type ContentRange =
  | { kind: 'range'; start: number; end: number; total: number | null }
  | { kind: 'unsatisfied'; total: number };

/** Parses `bytes <start>-<end>/<total|*>` or `bytes * /<total>`; undefined when absent or malformed. */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  if (value === undefined) return undefined;
  const satisfied = /^bytes[ \t]+(\d+)-(\d+)\/(\d+|\*)$/i.exec(value.trim());
  if (satisfied) {
    const start = Number(satisfied[1]);
    const end = Number(satisfied[2]);
    const total = satisfied[3] === '*' ? null : Number(satisfied[3]);
    if (![start, end, total ?? 0].every(Number.isSafeInteger) || end < start) return undefined;
    if (total !== null && end >= total) return undefined;
    return { kind: 'range', start, end, total };
  }
  const unsatisfied = /^bytes[ \t]+\*\/(\d+)$/i.exec(value.trim());
  if (unsatisfied) {
    const total = Number(unsatisfied[1]);
    return Number.isSafeInteger(total) ? { kind: 'unsatisfied', total } : undefined;
  }
  return undefined;
}

/** The directive names of a Cache-Control value, lower case; commas inside quoted arguments do not split. */
export function cacheControlDirectives(value: string | undefined): Set<string> {
  const names = new Set<string>();
  if (!value) return names;
  let current = '';
  let quoted = false;
  const flush = () => {
    const name = current.split('=')[0]?.trim().toLowerCase();
    if (name) names.add(name);
    current = '';
  };
  for (let index = 0; index < value.length; index++) {
    const char = value[index]!;
    if (quoted) {
      if (char === '\\') index += 1;
      else if (char === '"') quoted = false;
      continue;
    }
    if (char === '"') quoted = true;
    else if (char === ',') flush();
    else current += char;
  }
  flush();
  return names;
}

/** A strong entity tag (`"abc"`), or undefined for a weak (`W/"abc"`), malformed or absent one. */
export function strongEtag(value: string | undefined): string | undefined {
  const text = value?.trim();
  return text && /^"[\x21\x23-\x7e\x80-\xff]*"$/.test(text) ? text : undefined;
}

/**
 * What pins a resume to this version of the image, in the form `If-Range` takes: the strong ETag, else the
 * Last-Modified date as sent, else undefined.
 */
export function validatorOf(headers: ResponseHeaders): string | undefined {
  const etag = strongEtag(firstHeader(headers, 'etag'));
  if (etag) return etag;
  const lastModified = firstHeader(headers, 'last-modified')?.trim();
  return lastModified && parseHttpDate(lastModified) ? lastModified : undefined;
}

/** Whether a response's validator matches `validator` (compared the way it was made: ETag or Last-Modified). */
export function sameVersion(headers: ResponseHeaders, validator: string): boolean {
  if (validator.startsWith('"')) return strongEtag(firstHeader(headers, 'etag')) === validator;
  return firstHeader(headers, 'last-modified')?.trim() === validator;
}

/** Whether the server says it serves byte ranges (`Accept-Ranges: bytes`). */
export function acceptsByteRanges(headers: ResponseHeaders): boolean {
  const value = listHeader(headers, 'accept-ranges');
  return (value ?? '').split(',').some((unit) => unit.trim().toLowerCase() === 'bytes');
}
