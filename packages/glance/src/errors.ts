import { ImageDownloadFailed, type ImageServiceErrorOptions, redactHref } from '@image-service/core';

/** Options of {@link GlanceConnectionFailed} and {@link KeystoneConnectionFailed}. */
export interface ConnectionFailedOptions extends Omit<ImageServiceErrorOptions, 'transient'> {
  /** The endpoint that could not be reached or answered with a server error (shown redacted). */
  endpoint: string;
}

/** The codes of the glance driver's own errors. */
export const GlanceErrorCode = {
  /** Glance could not be reached or answered with a server error. */
  GlanceConnectionFailed: 'GLANCE_CONNECTION_FAILED',
  /** Keystone could not be reached or answered with a server error. */
  KeystoneConnectionFailed: 'KEYSTONE_CONNECTION_FAILED',
} as const;

/**
 * Glance could not be reached or answered with a server error (5xx): Ironic's "Connection to glance endpoint <e> failed: <r>".
 * Always transient. Its code is `GLANCE_CONNECTION_FAILED`; it is also an `ImageDownloadFailed`.
 */
export class GlanceConnectionFailed extends ImageDownloadFailed {
  /** The Glance endpoint, redacted. */
  readonly endpoint: string;

  constructor(options: ConnectionFailedOptions) {
    const endpoint = redactHref(options.endpoint);
    super(
      { ...options, transient: true },
      (_href, reason) => `Connection to glance endpoint ${endpoint} failed: ${reason}`,
    );
    this.adoptCode(GlanceErrorCode.GlanceConnectionFailed);
    this.endpoint = endpoint;
  }
}

/**
 * Keystone could not be reached or answered with a server error (5xx) while authenticating. Always transient. Its code
 * is `KEYSTONE_CONNECTION_FAILED`; it is also an `ImageDownloadFailed`.
 */
export class KeystoneConnectionFailed extends ImageDownloadFailed {
  /** The Keystone endpoint, redacted. */
  readonly endpoint: string;

  constructor(options: ConnectionFailedOptions) {
    const endpoint = redactHref(options.endpoint);
    super(
      { ...options, transient: true },
      (_href, reason) => `Connection to keystone endpoint ${endpoint} failed: ${reason}`,
    );
    this.adoptCode(GlanceErrorCode.KeystoneConnectionFailed);
    this.endpoint = endpoint;
  }
}
