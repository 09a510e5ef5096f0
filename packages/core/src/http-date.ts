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

/**
 * Retry-After as milliseconds from `now`: delay-seconds or an HTTP date (a past date is 0), capped at `maxMs`;
 * undefined when absent or unreadable.
 */
export function parseRetryAfter(
  value: string | undefined,
  maxMs: number = Number.POSITIVE_INFINITY,
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
