import { redactUrlsIn, scrubText } from './redact.js';

/** Writes one debug line; every line is redacted first. */
export type Logger = (message: string, ...secretsToMask: string[]) => void;

/** Where enabled debug lines go; replace it to route them elsewhere (each line arrives redacted). */
export const logSink: { write: (line: string) => void } = {
  write: (line) => {
    process.stderr.write(`${line}\n`);
  },
};

function enabled(namespace: string): boolean {
  const setting = process.env.IMAGE_SERVICE_DEBUG ?? '';
  return setting
    .split(/[\s,]+/)
    .filter(Boolean)
    .some(
      (pattern) =>
        pattern === '*' ||
        pattern === namespace ||
        (pattern.endsWith('*') && namespace.startsWith(pattern.slice(0, -1))),
    );
}

/**
 * A debug logger for `namespace` (such as `image-service:http`), on when `IMAGE_SERVICE_DEBUG` names it (`*` and
 * `prefix*` patterns work). URLs in a line are redacted, and any extra arguments are masked as secrets.
 */
export function createLogger(namespace: string): Logger {
  return (message, ...secretsToMask) => {
    if (!enabled(namespace)) return;
    logSink.write(`${namespace} ${scrubText(redactUrlsIn(message), secretsToMask)}`);
  };
}
