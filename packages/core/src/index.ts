export { abortedError, nextOrAbort, throwIfAborted, withAbort } from './abort.js';
export { BaseImageService } from './base.js';
export {
  CHECKSUM_HEX_LENGTHS,
  createHasher,
  formatChecksum,
  type Hasher,
  inferChecksumAlgorithm,
  isChecksumAlgorithm,
  normalizeChecksum,
  parseChecksum,
} from './checksum.js';
export { type DownloadToFileOptions, downloadToFile, partialPathFor } from './download-to-file.js';
export {
  ErrorCode,
  ImageChecksumError,
  type ImageChecksumErrorOptions,
  ImageDownloadFailed,
  ImageNotAuthorized,
  ImageNotFound,
  ImageOperationAborted,
  ImageRefIsARedirect,
  type ImageRefIsARedirectOptions,
  ImageRefValidationFailed,
  ImageServiceError,
  type ImageServiceErrorOptions,
  ImageUnacceptable,
  isImageServiceError,
  type MessageFormat,
} from './errors.js';
export { BackgroundHashers, type BackgroundHashOptions, InlineHashers } from './hash-worker.js';
export { canonicalUuid, isUuidLike, schemeOf } from './href.js';
export { parseHttpDate, parseRetryAfter } from './http-date.js';
export { createLogger, type Logger, logSink } from './log.js';
export {
  DEFAULT_PARALLEL,
  fetchInParallel,
  type ParallelFetch,
  type ParallelOptions,
  type ParallelPolicy,
  parallelPolicy,
} from './parallel.js';
export {
  isSecretParameterName,
  REDACTED,
  type RedactOptions,
  redactHref,
  redactText,
  redactUrlsIn,
  scrubText,
  secretsOf,
} from './redact.js';
export {
  DEFAULT_DRIVER_PACKAGES,
  defaultRegistry,
  type ImageServiceFactory,
  ImageServiceRegistry,
  type RegisterOptions,
  type ResolveContext,
  type ResolveOptions,
  UUID_SCHEME,
} from './registry.js';
export {
  backoffDelay,
  DEFAULT_RETRY,
  isTransientError,
  type RetryPolicy,
  retryPolicy,
  waitFor,
} from './retry.js';
export { FileSink, type FileSinkOptions, StreamSink } from './sinks.js';
export {
  asDownloadFailed,
  DEFAULT_IDLE_TIMEOUT_MS,
  type ImageSink,
  type ImageStream,
  type ReadRequest,
  type TransferParams,
  transfer,
  writeFailed,
} from './transfer.js';
export type {
  Checksum,
  ChecksumAlgorithm,
  DownloadOptions,
  DownloadResult,
  ImageInfo,
  OperationOptions,
  Progress,
  RetryOptions,
  ShowOptions,
  ValidateOptions,
} from './types.js';
