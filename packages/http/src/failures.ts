import {
  ImageDownloadFailed,
  ImageNotAuthorized,
  ImageNotFound,
  ImageRefValidationFailed,
  type ImageServiceError,
  isTransientError,
} from '@image-service/core';
import { ADDRESS_DENIED } from './addresses.js';
import { firstHeader, parseRetryAfter, type ResponseHeaders } from './headers.js';

/** Which kind of operation failed: it picks the error class of network failures. */
export type Phase = 'validate' | 'download';

/** What an error is about: the href as given, whether it is secret, and the operation. */
export interface FailureContext {
  /** The href as the caller gave it (errors show it redacted). */
  imageHref: string;
  /** Hide the whole href. */
  secret: boolean;
  /** Validation (`validateHref`, `show`) or download. */
  phase: Phase;
  /** Credentials the request carried (Authorization values, configured headers, proxy passwords), masked in errors. */
  secrets?: readonly string[];
}

/** Timeouts, to name them in reasons. */
export interface TimeoutSettings {
  /** Connect timeout, ms. */
  connectTimeoutMs: number;
  /** Response headers timeout, ms. */
  headersTimeoutMs: number;
}

const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function codeOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Whether `error` is undici's parser failing because the connection closed before the end of a response whose end only
 * the parser could tell (a chunked body cut short). undici sets no code on it, so its message tells.
 */
function isCutShort(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === 'HTTPParserError' &&
    error.message.endsWith('(Invalid EOF state)')
  );
}

/** Words for a network or TLS failure: what went wrong and its code, never the host or URL it happened with. */
export function describeNetworkError(error: unknown, timeouts: TimeoutSettings): string {
  const code = codeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.name : '';
  switch (code) {
    case 'ECONNREFUSED':
      return 'the connection was refused (ECONNREFUSED)';
    case 'ECONNRESET':
      return 'the connection was reset (ECONNRESET)';
    case 'EPIPE':
      return 'the connection was closed while sending (EPIPE)';
    case 'ENOTFOUND':
      return 'the host name could not be resolved (ENOTFOUND)';
    case 'EAI_AGAIN':
      return 'the host name could not be resolved for now (EAI_AGAIN)';
    case 'ETIMEDOUT':
      return 'the connection timed out (ETIMEDOUT)';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENETDOWN':
      return `the host cannot be reached (${code})`;
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `connecting timed out after ${timeouts.connectTimeoutMs} ms (UND_ERR_CONNECT_TIMEOUT)`;
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `no response headers arrived within ${timeouts.headersTimeoutMs} ms (UND_ERR_HEADERS_TIMEOUT)`;
    case 'UND_ERR_BODY_TIMEOUT':
      return 'the response body stalled (UND_ERR_BODY_TIMEOUT)';
    case 'UND_ERR_SOCKET':
      return `the connection failed: ${message} (UND_ERR_SOCKET)`;
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return 'the response body does not match its Content-Length (UND_ERR_RES_CONTENT_LENGTH_MISMATCH)';
    case ADDRESS_DENIED:
      return message;
  }
  if (code && CERTIFICATE_CODES.has(code)) return `TLS certificate verification failed: ${message} (${code})`;
  if (code?.startsWith('ERR_SSL_') || code?.startsWith('ERR_TLS_')) {
    const reason = (error as { reason?: unknown }).reason;
    return `the TLS handshake failed: ${typeof reason === 'string' ? reason : message} (${code})`;
  }
  if (isCutShort(error)) return 'the connection closed in the middle of the response';
  if (name === 'HTTPParserError')
    return `the response is not valid HTTP/1.1: ${message.replace(/^Response does not match the HTTP\/1\.1 protocol \((.*)\)$/, '$1')}`;
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

/**
 * A cause that tells only what kind of failure it was (name and code): with a secret href even a redacted copy of the
 * original could show an address, a port or a path of it.
 */
function bareCause(error: unknown): Error {
  const name = error instanceof Error ? error.name : 'Error';
  const code = codeOf(error);
  const cause = new Error(code ? `${name} (${code})` : name);
  Object.defineProperty(cause, 'name', { value: name, enumerable: false, configurable: true });
  if (code) Object.assign(cause, { code });
  return cause;
}

/** A network or TLS failure as the image-service error of the phase; transient when a retry may get past it. */
export function networkFailure(
  error: unknown,
  context: FailureContext,
  timeouts: TimeoutSettings,
): ImageServiceError {
  const options = {
    imageHref: context.imageHref,
    secret: context.secret,
    secrets: context.secrets,
    reason: describeNetworkError(error, timeouts),
    cause: context.secret ? bareCause(error) : error,
    // A chunked body cut short is as transient as a body shorter than its Content-Length.
    transient: isTransientError(error) || isCutShort(error),
  };
  return context.phase === 'download'
    ? new ImageDownloadFailed(options)
    : new ImageRefValidationFailed(options);
}

/** Whether a status is worth retrying: 408, 429 and 5xx. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/**
 * The error for an unexpected status, with the reference's reason ("Got HTTP code <n> instead of 200 in response to
 * <method> request."): 404 is `ImageNotFound`, 401 and 403 `ImageNotAuthorized`, others `ImageRefValidationFailed`;
 * 408, 429 and 5xx are transient, with the server's Retry-After (capped at `maxRetryAfterMs`).
 */
export function statusError(
  status: number,
  method: string,
  headers: ResponseHeaders,
  context: FailureContext,
  maxRetryAfterMs: number,
): ImageServiceError {
  const transient = isTransientStatus(status);
  const options = {
    imageHref: context.imageHref,
    secret: context.secret,
    reason: `Got HTTP code ${status} instead of 200 in response to ${method} request.`,
    transient,
    retryAfterMs: transient
      ? parseRetryAfter(firstHeader(headers, 'retry-after'), maxRetryAfterMs)
      : undefined,
  };
  if (status === 404) return new ImageNotFound(options);
  if (status === 401 || status === 403) return new ImageNotAuthorized(options);
  return new ImageRefValidationFailed(options);
}
