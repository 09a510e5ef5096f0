import {
  REDACTED,
  type RedactOptions,
  redactHref,
  redactText,
  redactUrlsIn,
  scrubText,
  secretsOf,
} from './redact.js';

/** Stable error codes, one per error class; check them with {@link isImageServiceError}. */
export const ErrorCode = {
  /** Any image-service failure (the base class). */
  ImageServiceError: 'IMAGE_SERVICE_ERROR',
  /** The href is malformed, unsupported, or its image cannot be validated. */
  ImageRefValidationFailed: 'IMAGE_REF_VALIDATION_FAILED',
  /** The href answers with a redirect to another URL, which the caller may follow. */
  ImageRefIsARedirect: 'IMAGE_REF_IS_A_REDIRECT',
  /** The image does not exist (a subclass of validation failed). */
  ImageNotFound: 'IMAGE_NOT_FOUND',
  /** The store refused access to the image (a subclass of validation failed). */
  ImageNotAuthorized: 'IMAGE_NOT_AUTHORIZED',
  /** Fetching or writing the image's bytes failed. */
  ImageDownloadFailed: 'IMAGE_DOWNLOAD_FAILED',
  /** The image exists but cannot be used as it is (not active, no data). */
  ImageUnacceptable: 'IMAGE_UNACCEPTABLE',
  /** The downloaded bytes do not match the expected digest. */
  ImageChecksumError: 'IMAGE_CHECKSUM_ERROR',
  /** The caller's AbortSignal ended the operation. */
  ImageOperationAborted: 'IMAGE_OPERATION_ABORTED',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const BRAND = Symbol.for('@image-service/core:error');

/** Builds an error's message from its redacted href and reason; subclasses pass their own to `super`. */
export type MessageFormat = (imageHref: string, reason: string) => string;

/** What every image-service error is built from. */
export interface ImageServiceErrorOptions {
  /** The href the operation was given; it is stored and shown redacted, never as given. */
  imageHref?: string;
  /** Why it failed, in words; secrets of the href are masked from it. */
  reason?: string;
  /** The underlying error; kept as a redacted copy so that no secret survives in its message or stack. */
  cause?: unknown;
  /** Hide the whole href (the seed's `secret=True`): nothing of it appears in the message, reason or cause. */
  secret?: boolean;
  /**
   * Credentials that are not in the href (a configured password or token, keys): masked wherever they appear in the
   * message, reason and cause, raw or percent-encoded.
   */
  secrets?: readonly string[];
  /** Trying again may succeed (a dropped connection, a 503); the core's retries act on it. */
  transient?: boolean;
  /** How long the server asked to wait before trying again (Retry-After), in ms. */
  retryAfterMs?: number;
  /** Resuming where the transfer stopped is not possible; a retry must start again from the first byte. */
  mustRestart?: boolean;
}

/**
 * The base of every error image-service throws: a stable `code`, the redacted `imageHref`, a `reason` and a redacted
 * `cause`. Use {@link isImageServiceError} rather than `instanceof` where two copies of the core may be installed.
 */
export class ImageServiceError extends Error {
  /** This error's own code: one of {@link ErrorCode}, or a driver's own for a subclass it defines. */
  readonly code: ErrorCode | (string & {});
  /** The codes of this error's class and of all its base classes, most specific first. */
  readonly codes: readonly string[];
  /** The href, redacted (`***` when it was secret); empty when the operation had none. */
  readonly imageHref: string;
  /** Why it failed, redacted. */
  readonly reason: string;
  /** Whether trying again may succeed. */
  readonly transient: boolean;
  /** How long the server asked to wait before trying again, in ms. */
  readonly retryAfterMs: number | undefined;
  /** Whether a retry must start again from the first byte rather than resume. */
  readonly mustRestart: boolean;
  declare readonly cause?: unknown;

  constructor(options: ImageServiceErrorOptions = {}, format?: MessageFormat) {
    const redaction: RedactOptions = { secret: options.secret ?? false };
    const href = options.imageHref ?? '';
    const shownHref = href ? redactHref(href, redaction) : '';
    const secrets = [
      ...(href ? secretsOf(href, redaction) : []),
      ...encodedForms(options.secrets ?? []),
    ].sort((a, b) => b.length - a.length);
    const reason =
      options.reason === undefined ? '' : scrubText(redactText(options.reason, href, redaction), secrets);
    super(scrubText(format ? format(shownHref, reason) : reason || 'Image service error', secrets));
    this.code = ErrorCode.ImageServiceError;
    this.codes = [ErrorCode.ImageServiceError];
    this.imageHref = shownHref;
    this.reason = reason;
    this.transient = options.transient ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.mustRestart = options.mustRestart ?? false;
    if (options.cause !== undefined) {
      Object.defineProperty(this, 'cause', {
        value: sanitizeCause(options.cause, secrets),
        enumerable: false,
        writable: true,
        configurable: true,
      });
    }
    Object.defineProperty(this, BRAND, { value: true });
    Object.defineProperty(this, 'name', { value: new.target.name, enumerable: false, configurable: true });
  }

  /**
   * Gives this error its own code ahead of its base classes' (call it in a subclass's constructor, after `super`), so
   * `isImageServiceError(error, code)` matches both the subclass's code and every code it inherits.
   */
  protected adoptCode(code: string): void {
    Object.defineProperty(this, 'code', { value: code, enumerable: true });
    Object.defineProperty(this, 'codes', { value: [code, ...this.codes], enumerable: true });
  }

  /** A plain object for logs and JSON output: code, message, href and reason, all redacted. */
  toJSON(): { code: string; name: string; message: string; imageHref: string; reason: string } {
    return {
      code: this.code,
      name: this.name,
      message: this.message,
      imageHref: this.imageHref,
      reason: this.reason,
    };
  }
}

/** The href is malformed or unsupported, or the image behind it cannot be validated. */
export class ImageRefValidationFailed extends ImageServiceError {
  constructor(options: ImageServiceErrorOptions = {}, format?: MessageFormat) {
    super(
      options,
      format ?? ((href, reason) => `Validation of image href ${href} failed, reason: ${reason}`),
    );
    this.adoptCode(ErrorCode.ImageRefValidationFailed);
  }
}

/** The image does not exist. A subclass of {@link ImageRefValidationFailed}, so code written for the seed still catches it. */
export class ImageNotFound extends ImageRefValidationFailed {
  constructor(options: ImageServiceErrorOptions = {}, format?: MessageFormat) {
    super(
      options,
      format ??
        ((href, reason) =>
          reason
            ? `Image ${href} could not be found, reason: ${reason}`
            : `Image ${href} could not be found.`),
    );
    this.adoptCode(ErrorCode.ImageNotFound);
  }
}

/** The store refused access to the image. A subclass of {@link ImageRefValidationFailed}. */
export class ImageNotAuthorized extends ImageRefValidationFailed {
  constructor(options: ImageServiceErrorOptions = {}, format?: MessageFormat) {
    super(
      options,
      format ??
        ((href, reason) =>
          reason
            ? `Not authorized for image ${href}, reason: ${reason}`
            : `Not authorized for image ${href}.`),
    );
    this.adoptCode(ErrorCode.ImageNotAuthorized);
  }
}

/** Options of {@link ImageRefIsARedirect}. */
export interface ImageRefIsARedirectOptions extends ImageServiceErrorOptions {
  /** The absolute URL the href redirects to. */
  location: string;
  /** The redirect's HTTP status (301, 302, 303, 307 or 308). */
  status?: number;
}

/** The href answers with a redirect to another URL; the caller may follow `location` itself. */
export class ImageRefIsARedirect extends ImageRefValidationFailed {
  /** The absolute URL the href redirects to, as the server sent it (use `redactHref` before printing it). */
  readonly location: string;
  /** The redirect's HTTP status. */
  readonly status: number | undefined;

  constructor(options: ImageRefIsARedirectOptions) {
    const shownLocation = options.secret ? REDACTED : redactHref(options.location);
    super(
      options,
      (href) =>
        `Received a URL redirect when attempting to evaluate image reference ${href} pointing to URL ` +
        `${shownLocation}. This may, or may not be recoverable.`,
    );
    this.adoptCode(ErrorCode.ImageRefIsARedirect);
    this.location = options.location;
    this.status = options.status;
    Object.defineProperty(this, 'location', { enumerable: false });
  }
}

/** Fetching or writing the image's bytes failed. */
export class ImageDownloadFailed extends ImageServiceError {
  constructor(options: ImageServiceErrorOptions = {}, format?: MessageFormat) {
    super(options, format ?? ((href, reason) => `Failed to download image ${href}, reason: ${reason}`));
    this.adoptCode(ErrorCode.ImageDownloadFailed);
  }
}

/** The image exists but cannot be used as it is (for example a Glance image that is not active). */
export class ImageUnacceptable extends ImageServiceError {
  constructor(options: ImageServiceErrorOptions = {}, format?: MessageFormat) {
    super(options, format ?? ((href, reason) => `Image ${href} is unacceptable: ${reason}`));
    this.adoptCode(ErrorCode.ImageUnacceptable);
  }
}

/** Options of {@link ImageChecksumError}. */
export interface ImageChecksumErrorOptions extends ImageServiceErrorOptions {
  /** The digest that was expected, `algorithm:hex`. */
  expected?: string;
  /** The digest of the bytes received, `algorithm:hex`. */
  actual?: string;
}

/** The downloaded bytes do not match the expected digest. */
export class ImageChecksumError extends ImageServiceError {
  /** The digest that was expected, `algorithm:hex`. */
  readonly expected: string | undefined;
  /** The digest of the bytes received, `algorithm:hex`. */
  readonly actual: string | undefined;

  constructor(options: ImageChecksumErrorOptions = {}) {
    super(options, (_href, reason) =>
      reason
        ? `The supplied image checksum is invalid or does not match: ${reason}`
        : 'The supplied image checksum is invalid or does not match.',
    );
    this.adoptCode(ErrorCode.ImageChecksumError);
    this.expected = options.expected;
    this.actual = options.actual;
  }
}

/** The caller's AbortSignal ended the operation. Its `name` is `AbortError`, as Node's own aborts are. */
export class ImageOperationAborted extends ImageServiceError {
  constructor(options: ImageServiceErrorOptions = {}) {
    super({ reason: 'the operation was aborted', ...options }, (href, reason) =>
      href ? `Operation on image ${href} aborted: ${reason}` : `Operation aborted: ${reason}`,
    );
    this.adoptCode(ErrorCode.ImageOperationAborted);
    Object.defineProperty(this, 'name', { value: 'AbortError' });
  }
}

/**
 * Whether `error` is an image-service error (of any installed copy of the core), and, with `code`, whether it is of that
 * code or of a subclass of it: `isImageServiceError(e, 'IMAGE_REF_VALIDATION_FAILED')` is true for an `ImageNotFound`.
 */
export function isImageServiceError(
  error: unknown,
  code?: ErrorCode | (string & {}),
): error is ImageServiceError {
  if (typeof error !== 'object' || error === null || !(BRAND in error)) return false;
  if (code === undefined) return true;
  const codes = (error as { codes?: unknown }).codes;
  return Array.isArray(codes) && codes.includes(code);
}

/** Each secret as it is and percent-encoded (as it appears in a URL or a header). */
function encodedForms(secrets: readonly string[]): string[] {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (typeof secret !== 'string' || secret.length === 0) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
  }
  return [...forms];
}

/** Fields of an error that hold payloads (raw responses, requests), which may echo credentials: never copied. */
const PAYLOAD_FIELDS = new Set(['data', 'body', 'response', 'request', 'headers', 'config', 'options']);

/** A copy of `cause` (and its own causes) whose message, stack and string fields have the secrets masked. */
function sanitizeCause(cause: unknown, secrets: readonly string[], depth = 0): unknown {
  const scrub = (text: string) => scrubText(redactUrlsIn(text), secrets);
  if (isImageServiceError(cause)) return cause;
  if (!(cause instanceof Error)) {
    return typeof cause === 'string' ? scrub(cause) : cause;
  }
  const copy = new Error(scrub(cause.message));
  Object.defineProperty(copy, 'name', { value: cause.name, enumerable: false, configurable: true });
  copy.stack = cause.stack === undefined ? undefined : scrub(cause.stack);
  for (const [key, value] of Object.entries(cause)) {
    if (key === 'message' || key === 'stack' || key === 'name' || key === 'cause' || PAYLOAD_FIELDS.has(key))
      continue;
    if (typeof value === 'string') (copy as unknown as Record<string, unknown>)[key] = scrub(value);
    else if (typeof value === 'number' || typeof value === 'boolean')
      (copy as unknown as Record<string, unknown>)[key] = value;
  }
  if (depth < 5 && cause.cause !== undefined) {
    Object.defineProperty(copy, 'cause', {
      value: sanitizeCause(cause.cause, secrets, depth + 1),
      enumerable: false,
      configurable: true,
      writable: true,
    });
  }
  return copy;
}
