import { setTimeout as sleep } from 'node:timers/promises';
import { abortedError } from './abort.js';
import { isImageServiceError } from './errors.js';
import type { RetryOptions } from './types.js';

/** The retry policy with every field set. */
export type RetryPolicy = Required<RetryOptions>;

/** The defaults: 5 retries, backoff from 250 ms doubling up to 30 s. */
export const DEFAULT_RETRY: RetryPolicy = { retries: 5, minDelayMs: 250, maxDelayMs: 30_000 };

/** The retry policy from options (`false`: no retries), checked and with defaults filled in. */
export function retryPolicy(
  options: RetryOptions | false | undefined,
  defaults: RetryPolicy = DEFAULT_RETRY,
): RetryPolicy {
  if (options === false) return { ...defaults, retries: 0 };
  const policy = { ...defaults, ...options };
  for (const [key, value] of Object.entries(policy)) {
    if (!Number.isFinite(value) || value < 0) throw new TypeError(`retry.${key} must be a number >= 0`);
  }
  return policy;
}

/**
 * How long to wait before retry number `attempt` (1-based): the server's Retry-After when it gave one (capped at
 * maxDelayMs), else exponential backoff with full jitter.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0) {
    return Math.min(retryAfterMs, policy.maxDelayMs);
  }
  const ceiling = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(Math.random() * ceiling);
}

/** Waits `ms`, rejecting with `ImageOperationAborted` when `signal` fires. */
export async function waitFor(
  ms: number,
  signal: AbortSignal | undefined,
  imageHref?: string,
): Promise<void> {
  if (ms <= 0) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch (error) {
    if (signal?.aborted) throw abortedError(signal, imageHref);
    throw error;
  }
}

/** Error codes of Node's and undici's network failures that a retry may get past. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * Whether trying again may get past `error`: an image-service error says so itself; otherwise a network failure
 * (connection reset or refused, timeouts, a body cut short) is transient, anything else is not.
 */
export function isTransientError(error: unknown): boolean {
  if (isImageServiceError(error)) return error.transient;
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
