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

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH = '(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** RFC 1123: `Tue, 15 Nov 2014 08:12:31 GMT`. */
const RFC_1123 = new RegExp(
  `^(?:mon|tue|wed|thu|fri|sat|sun), (\\d{1,2}) ${MONTH} (\\d{4}) ${TIME} GMT$`,
  'i',
);
/** RFC 850: `Tuesday, 15-Nov-14 08:12:31 GMT`. */
const RFC_850 = new RegExp(
  `^(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), (\\d{1,2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
  'i',
);
/** asctime: `Tue Nov 15 08:12:31 2014` (a one-digit day is space-padded). */
const ASCTIME = new RegExp(`^(?:mon|tue|wed|thu|fri|sat|sun) ${MONTH} +(\\d{1,2}) ${TIME} (\\d{4})$`, 'i');

/**
 * A date in one of the three forms the reference accepts (RFC 1123, RFC 850 and asctime, all GMT), or null when the
 * text is none of them or names no real moment. A two-digit RFC 850 year is 1969-2068, as Python's `%y` reads it.
 */
export function parseHttpDate(value: string | undefined): Date | null {
  if (value === undefined) return null;
  const text = value.trim();
  let parts:
    | [day: string, month: string, year: number, hour: string, minute: string, second: string]
    | undefined;
  const rfc1123 = RFC_1123.exec(text);
  const rfc850 = rfc1123 ? null : RFC_850.exec(text);
  const asctime = rfc1123 || rfc850 ? null : ASCTIME.exec(text);
  if (rfc1123) {
    parts = [rfc1123[1]!, rfc1123[2]!, Number(rfc1123[3]), rfc1123[4]!, rfc1123[5]!, rfc1123[6]!];
  } else if (rfc850) {
    const short = Number(rfc850[3]);
    parts = [
      rfc850[1]!,
      rfc850[2]!,
      short < 69 ? 2000 + short : 1900 + short,
      rfc850[4]!,
      rfc850[5]!,
      rfc850[6]!,
    ];
  } else if (asctime) {
    parts = [asctime[2]!, asctime[1]!, Number(asctime[6]), asctime[3]!, asctime[4]!, asctime[5]!];
  }
  if (!parts) return null;
  const [dayText, monthText, year, hourText, minuteText, secondText] = parts;
  const month = MONTHS.indexOf(monthText.toLowerCase());
  const [day, hour, minute, second] = [dayText, hourText, minuteText, secondText].map(Number) as [
    number,
    number,
    number,
    number,
  ];
  if (hour > 23 || minute > 59 || second > 59) return null;
  const date = new Date(Date.UTC(year, month, day, hour, minute, second));
  // Date.UTC rolls 31 Feb over into March; such a date names no real moment.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month || date.getUTCDate() !== day)
    return null;
  return date;
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

/**
 * Retry-After as milliseconds from `now`: delay-seconds or an HTTP date (a past date is 0), capped at `maxMs`;
 * undefined when absent or unreadable.
 */
export function parseRetryAfter(
  value: string | undefined,
  maxMs: number,
  now = Date.now(),
): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let ms: number | undefined;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const date = parseHttpDate(text);
    if (date) ms = Math.max(0, date.getTime() - now);
  }
  return ms === undefined || !Number.isFinite(ms) ? undefined : Math.min(ms, maxMs);
}

/** Whether the server says it serves byte ranges (`Accept-Ranges: bytes`). */
export function acceptsByteRanges(headers: ResponseHeaders): boolean {
  const value = listHeader(headers, 'accept-ranges');
  return (value ?? '').split(',').some((unit) => unit.trim().toLowerCase() === 'bytes');
}
