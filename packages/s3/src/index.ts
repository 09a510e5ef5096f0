import {
  defaultRegistry,
  ImageRefValidationFailed,
  type ImageServiceRegistry,
  type RegisterOptions,
} from '@image-service/core';
import { checkOptions, type S3Options, s3OptionsFromEnv } from './options.js';
import { S3ImageService } from './service.js';

export { CHECKSUM_METADATA_KEYS, metadataChecksum, storeChecksum } from './checksums.js';
export {
  isTransientS3Error,
  mapS3Error,
  type S3ErrorContext,
  type S3Operation,
  safeCause,
  scrubS3Text,
} from './errors.js';
export { checkBucketName, formatS3Href, parseS3Href, type S3Ref } from './href.js';
export {
  type ChecksumWhen,
  clientConfigFor,
  configuredEndpoint,
  DEFAULT_CONCURRENCY,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_PARALLEL_THRESHOLD,
  DEFAULT_PART_SIZE,
  FALLBACK_REGION,
  type S3Options,
  s3OptionsFromEnv,
} from './options.js';
export { S3ImageService, type S3ImageStream } from './service.js';

/** The URL schemes this driver serves. */
export const S3_SCHEMES: readonly string[] = ['s3'];

/** Options of {@link register}: the driver's options, and whether to replace a driver already registered for `s3`. */
export interface S3RegisterOptions extends S3Options, RegisterOptions {}

/**
 * Registers the s3 driver for `s3://` hrefs. The service is made on the first resolve and reused; without options it
 * takes them from the environment ({@link s3OptionsFromEnv}) at that moment, and a malformed variable then rejects
 * the resolve with an `ImageRefValidationFailed` naming it. Explicit options are checked at once (TypeError).
 */
export function register(
  registry: ImageServiceRegistry = defaultRegistry,
  options?: S3RegisterOptions,
): void {
  const { override, ...serviceOptions } = options ?? {};
  if (options) checkOptions(serviceOptions);
  let service: S3ImageService | undefined;
  registry.register(
    S3_SCHEMES,
    ({ imageHref }) => {
      if (!service) {
        try {
          service = new S3ImageService(options ? serviceOptions : s3OptionsFromEnv());
        } catch (error) {
          throw new ImageRefValidationFailed({
            imageHref,
            reason: `the s3 driver's configuration is invalid: ${error instanceof Error ? error.message : String(error)}`,
          });
        }
      }
      return service;
    },
    { override },
  );
}
