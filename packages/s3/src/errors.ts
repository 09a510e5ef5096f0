import {
  ImageChecksumError,
  ImageDownloadFailed,
  ImageNotAuthorized,
  ImageNotFound,
  ImageRefValidationFailed,
  type ImageServiceError,
  ImageUnacceptable,
  isImageServiceError,
  isTransientError,
  parseRetryAfter,
  REDACTED,
  scrubText,
} from '@image-service/core';
import type { S3Ref } from './href.js';

/** What the SDK's errors carry that the mapping reads (S3ServiceException and Node's network errors). */
interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  $fault?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number };
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
}

/** Which operation failed: `show` (validateHref and show) fails with validation errors, `read` with download errors. */
export type S3Operation = 'show' | 'read';

/** What an error mapping needs to know besides the error. */
export interface S3ErrorContext {
  /** The href as given (the core's errors redact it). */
  imageHref: string;
  /** The parsed href. */
  ref: S3Ref;
  /** Which operation failed. */
  operation: S3Operation;
  /** Whether the href is secret: then no reason names its bucket, key or version. */
  secret?: boolean;
  /** Credential values to mask, besides the patterns every message is scrubbed of. */
  secrets?: readonly string[];
}

const NOT_AUTHORIZED = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidSecurity',
  'RequestTimeTooSkewed',
  'CredentialsProviderError',
  'InvalidIdentityToken',
]);

const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'ProvisionedThroughputExceededException',
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'PriorRequestNotComplete',
  'TimeoutError',
]);

/** The S3 error code of an SDK error (`NoSuchKey`, `NotFound` for a HEAD, `ECONNRESET` for a network failure). */
export function s3ErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as SdkError;
  const code =
    e.Code ??
    (e.name && e.name !== 'Error' && e.name !== 'S3ServiceException' ? e.name : undefined) ??
    e.code;
  return typeof code === 'string' ? code : undefined;
}

/** The HTTP status of an SDK error, when the store answered. */
export function s3ErrorStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as SdkError;
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Whether the store answered 404 or 403 to a HEAD, whose empty body leaves the reason unknown. */
export function isBodilessHeadFailure(error: unknown): boolean {
  const status = s3ErrorStatus(error);
  return (status === 404 || status === 403) && (error as SdkError).Code === undefined;
}

/** Whether a failure of the SDK (after its own retries) is worth retrying later: throttling, 5xx, network failures. */
export function isTransientS3Error(error: unknown): boolean {
  if (isImageServiceError(error)) return error.transient;
  const code = s3ErrorCode(error);
  const status = s3ErrorStatus(error);
  if (code && THROTTLING.has(code)) return true;
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  if ((error as SdkError | undefined)?.$retryable) return true;
  return isTransientError(error);
}

// What an SDK error message may quote of a request: signatures, credentials, tokens, the canonical request.
const SCRUB_RULES: ReadonlyArray<readonly [RegExp, string]> = [
  [
    /<(AWSAccessKeyId|SignatureProvided|StringToSign|StringToSignBytes|CanonicalRequest|CanonicalRequestBytes|HostId)>[\s\S]*?<\/\1>/gi,
    `<$1>${REDACTED}</$1>`,
  ],
  [/\b(Credential|Signature|SignedHeaders)=[^,\s&"'<]+/g, `$1=${REDACTED}`],
  [/\b(X-Amz-(?:Credential|Signature|Security-Token))=[^&\s"'<]+/gi, `$1=${REDACTED}`],
  [/\b(x-amz-security-token|authorization)(\s*:\s*)[^\n\r]+/gi, `$1$2${REDACTED}`],
  [/\b(?:AKIA|ASIA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)[A-Z0-9]{12,}\b/g, REDACTED],
  [/\b[0-9a-f]{64}\b/gi, REDACTED],
];

/**
 * `text` with every known credential value and everything that looks like one (an access key id, a SigV4 signature or
 * credential scope, a security token, the canonical request an S3 error quotes) masked.
 */
export function scrubS3Text(text: string, secrets: readonly string[] = []): string {
  let out = scrubText(text, secrets);
  for (const [pattern, replacement] of SCRUB_RULES) out = out.replace(pattern, replacement);
  return out;
}

/**
 * A safe copy of an SDK error, for `cause`: its name, code, HTTP status and request id, and its message scrubbed of
 * credentials. The SDK's error objects carry the raw response and fields such as `AWSAccessKeyId` or `StringToSign`,
 * which must not travel on.
 */
export function safeCause(error: unknown, secrets: readonly string[] = []): Error {
  if (isImageServiceError(error)) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as SdkError;
  const message = scrubS3Text(typeof e.message === 'string' ? e.message : String(error), secrets);
  const copy = new Error(message);
  Object.defineProperty(copy, 'name', {
    value: typeof e.name === 'string' ? e.name : 'Error',
    enumerable: false,
    configurable: true,
  });
  const code = s3ErrorCode(error);
  if (code) (copy as Error & { code?: string }).code = code;
  const status = s3ErrorStatus(error);
  if (status !== undefined) (copy as Error & { statusCode?: number }).statusCode = status;
  const requestId = e.$metadata?.requestId;
  if (requestId) (copy as Error & { requestId?: string }).requestId = scrubS3Text(requestId, secrets);
  copy.stack = scrubS3Text(`${copy.name}: ${message}`, secrets);
  return copy;
}

/**
 * Maps an SDK failure to the image-service error for the operation: NoSuchKey, NoSuchVersion and 404 are
 * `ImageNotFound`, NoSuchBucket an `ImageNotFound` naming the bucket, AccessDenied, InvalidAccessKeyId,
 * SignatureDoesNotMatch, 403 and missing credentials `ImageNotAuthorized`, PreconditionFailed a restartable
 * `ImageDownloadFailed`, throttling, 5xx and network failures transient errors. No credential survives in the result.
 */
export function mapS3Error(error: unknown, context: S3ErrorContext): ImageServiceError {
  if (isImageServiceError(error)) return error;
  const { imageHref, ref, operation, secret } = context;
  const secrets = context.secrets ?? [];
  const code = s3ErrorCode(error);
  const status = s3ErrorStatus(error);
  const cause = safeCause(error, secrets);
  const what = describeFailure(code, status, cause.message);
  const bucket = secret ? 'the bucket' : `the bucket "${ref.bucket}"`;
  const object = secret ? 'the object' : `the key "${ref.key}" in bucket "${ref.bucket}"`;
  const version = secret
    ? 'the version'
    : `version "${ref.versionId ?? ''}" of the key "${ref.key}" in bucket "${ref.bucket}"`;
  const base = { imageHref, secret, cause };

  if (code === 'NoSuchBucket')
    return new ImageNotFound({ ...base, reason: `${bucket} does not exist (${what})` });
  if (
    ref.versionId !== undefined &&
    (code === 'NoSuchVersion' || code === 'NoSuchKey' || code === 'InvalidArgument')
  ) {
    return new ImageNotFound({ ...base, reason: `${version} does not exist (${what})` });
  }
  if (ref.versionId !== undefined && code === 'MethodNotAllowed') {
    return new ImageNotFound({ ...base, reason: `${version} is a delete marker (${what})` });
  }
  if (code === 'InvalidObjectState') {
    return new ImageUnacceptable({
      ...base,
      reason: `${object} is archived (Glacier or Deep Archive): restore it before downloading (${what})`,
    });
  }
  if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) {
    return new ImageNotFound({ ...base, reason: `${object} does not exist (${what})` });
  }
  if ((code && NOT_AUTHORIZED.has(code)) || status === 403 || status === 401) {
    return new ImageNotAuthorized({ ...base, reason: notAuthorizedReason(code, what) });
  }
  if (code === 'PreconditionFailed' || status === 412) {
    return new ImageDownloadFailed({
      ...base,
      reason: `the object changed during the download: its ETag no longer matches (${what})`,
      transient: true,
      mustRestart: true,
    });
  }
  if (/^Checksum mismatch/i.test(cause.message)) {
    return new ImageChecksumError({
      ...base,
      reason: `the store's checksum does not match the bytes received: ${cause.message}`,
    });
  }
  if (
    code === 'PermanentRedirect' ||
    code === 'AuthorizationHeaderMalformed' ||
    code === 'IllegalLocationConstraintException'
  ) {
    return new ImageRefValidationFailed({
      ...base,
      reason: `${bucket} is in another region or at another endpoint; set the region (${what})`,
    });
  }
  const transient = isTransientS3Error(error);
  const retryAfterMs = retryAfter(error);
  if (operation === 'show') {
    return new ImageRefValidationFailed({
      ...base,
      reason: transient
        ? `the store did not answer usefully, even after retries (${what})`
        : `the store refused the request (${what})`,
      transient,
      retryAfterMs,
    });
  }
  return new ImageDownloadFailed({
    ...base,
    reason: transient
      ? `fetching the object failed, even after retries (${what})`
      : `the store refused the request (${what})`,
    transient,
    retryAfterMs,
  });
}

function notAuthorizedReason(code: string | undefined, what: string): string {
  switch (code) {
    case 'InvalidAccessKeyId':
      return `the store does not know the access key id (${what})`;
    case 'SignatureDoesNotMatch':
      return `the request's signature does not match: the secret access key is wrong (${what})`;
    case 'ExpiredToken':
    case 'TokenRefreshRequired':
      return `the session token has expired (${what})`;
    case 'InvalidToken':
      return `the session token is invalid (${what})`;
    case 'RequestTimeTooSkewed':
      return `this machine's clock is too far from the store's (${what})`;
    case 'CredentialsProviderError':
      return `no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile or a role (${what})`;
    default:
      return `the store denied access (${what})`;
  }
}

function describeFailure(code: string | undefined, status: number | undefined, message: string): string {
  const parts: string[] = [];
  if (code) parts.push(code);
  if (status !== undefined) parts.push(`HTTP ${status}`);
  const detail =
    message && message !== code && !/^UnknownError$/i.test(message) ? `: ${message.slice(0, 300)}` : '';
  return `${parts.join(', ') || 'error'}${detail}`;
}

function retryAfter(error: unknown): number | undefined {
  return parseRetryAfter((error as SdkError | undefined)?.$response?.headers?.['retry-after']);
}
