import { type BaseImageService, defaultRegistry, type ImageServiceRegistry } from '@image-service/core';
import { registerDefaultDrivers } from './defaults.js';

export * from '@image-service/core';
export {
  createImageServiceRegistry,
  DEFAULT_SCHEMES,
  type DefaultDriverOptions,
  registerDefaultDrivers,
} from './defaults.js';

registerDefaultDrivers(defaultRegistry);

/** Options of {@link getImageService}. */
export interface GetImageServiceOptions {
  /** A prebuilt client for the driver (the seed's `client`: a Glance client, used only for Glance hrefs). */
  client?: unknown;
  /** A request context (the seed's `context`: a user's token, project and roles, used only for Glance hrefs). */
  context?: unknown;
  /** Resolve through this registry instead of the default one. */
  registry?: ImageServiceRegistry;
}

/**
 * The image service that can download `imageHref` (the seed's `get_image_service`): matched on the scheme,
 * case-insensitively; a scheme-less UUID-like href is a Glance image. Drivers load on first use. Rejects with
 * `ImageRefValidationFailed` when no service can handle the href.
 */
export function getImageService(
  imageHref: string,
  options: GetImageServiceOptions = {},
): Promise<BaseImageService> {
  const registry = options.registry ?? defaultRegistry;
  return registry.resolve(imageHref, { client: options.client, context: options.context });
}
