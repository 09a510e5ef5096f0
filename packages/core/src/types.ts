import type { ParallelOptions } from './parallel.js';

/** A digest algorithm image-service can compute and verify. */
export type ChecksumAlgorithm = 'md5' | 'sha1' | 'sha256' | 'sha512';

/** A digest of an image's bytes. */
export interface Checksum {
  /** The algorithm that made it. */
  algorithm: ChecksumAlgorithm;
  /** The digest, lower-case hex. */
  value: string;
}

/** What `show` tells of an image (the seed's `size`, `updated_at` and `properties`, and more). */
export interface ImageInfo {
  /** The image's size in bytes. */
  size: number;
  /** When the image last changed, in UTC; null when the store does not say. */
  updatedAt: Date | null;
  /** What else the store says of the image (content type, custom properties, ...). */
  properties: Record<string, unknown>;
  /** True when the image must not be cached (a local file, or `Cache-Control: no-store`). */
  noCache?: boolean;
  /** The store's entity tag for this version of the image. */
  etag?: string;
  /** The image's digest, when the store knows it. */
  checksum?: Checksum;
}

/** How far a download has come. */
export interface Progress {
  /** Bytes written so far; never goes down. */
  bytes: number;
  /** The image's size, when known. */
  total: number | null;
}

/** Options every operation takes. */
export interface OperationOptions {
  /** Ends the operation early; it then rejects with `ImageOperationAborted`. */
  signal?: AbortSignal;
}

/** Options of `validateHref`. */
export interface ValidateOptions extends OperationOptions {
  /** Show nothing of the href in any error (the seed's `secret=True`). */
  secret?: boolean;
}

/** Options of `show`. */
export interface ShowOptions extends OperationOptions {}

/** How a transfer retries and resumes after a transient failure. */
export interface RetryOptions {
  /** Attempts after the first, per stretch without progress. Default 5. */
  retries?: number;
  /** The first backoff, in ms; doubled each time, with full jitter. Default 250. */
  minDelayMs?: number;
  /** The longest backoff, in ms; also caps a server's Retry-After. Default 30000. */
  maxDelayMs?: number;
}

/** Options of `download` and `downloadToFile`. */
export interface DownloadOptions extends OperationOptions {
  /** Called as bytes are written, with monotonic progress ending at the size. */
  onProgress?: (progress: Progress) => void;
  /** The digest the bytes must have; verified while streaming, a mismatch rejects with `ImageChecksumError`. */
  checksum?: Checksum;
  /** Compute this digest while streaming and return it (when no `checksum` is given). */
  computeChecksum?: ChecksumAlgorithm;
  /** Verify the digest the store itself publishes for the image (Glance, S3 checksum mode), when it has one. Default true. */
  verifyStoreChecksum?: boolean;
  /** Retry and resume after transient failures; `false` turns it off. */
  retry?: RetryOptions | false;
  /** Fail an attempt when no byte arrives for this long (ms); it is then retried. Default 60000, 0 turns it off. */
  idleTimeoutMs?: number;
  /**
   * Fetch a large image as byte ranges in parallel, when the store serves ranges: part size, concurrency and the size
   * from which it applies; `false` turns it off. Default: the driver's setting.
   */
  parallel?: ParallelOptions | false;
  /** With `download`: end the writable stream once the image is written. Default true. */
  end?: boolean;
}

/** What a finished download reports. */
export interface DownloadResult {
  /** Bytes written. */
  bytes: number;
  /** The verified (or computed) digest of the bytes written. */
  checksum?: Checksum;
  /** How many times the transfer resumed or restarted after a transient failure. */
  retries?: number;
}
