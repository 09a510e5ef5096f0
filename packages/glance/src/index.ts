import { defaultRegistry, type ImageServiceRegistry, type RegisterOptions } from '@image-service/core';
import { GlanceClient } from './client.js';
import { glanceOptionsFromEnv } from './config.js';
import { toRequestContext } from './context.js';
import { GlanceImageService, type GlanceOptions } from './service.js';

export {
  type GlanceCall,
  type GlanceCaller,
  GlanceClient,
  type GlanceImage,
  glanceBaseUrl,
} from './client.js';
export {
  type CloudSearchOptions,
  cloudConfigCandidates,
  glanceOptionsFromEnv,
  optionsFromCloud,
  readCloud,
} from './config.js';
export { type GlanceRequestContext, toRequestContext } from './context.js';
export {
  type ConnectionFailedOptions,
  GlanceConnectionFailed,
  GlanceErrorCode,
  KeystoneConnectionFailed,
} from './errors.js';
export { type GlanceHref, parseGlanceHref } from './href.js';
export { type CatalogService, imageEndpointOf, type KeystoneToken, keystoneV3Url } from './keystone.js';
export type { GlanceClientOptions, GlanceInterface, KeystoneAuthOptions } from './options.js';
export {
  GlanceImageService,
  type GlanceOptions,
  glanceChecksum,
  glanceProperties,
  parseGlanceTime,
} from './service.js';

/** The scheme the glance driver serves (scheme-less UUID-like hrefs resolve to it in the core's registry). */
export const GLANCE_SCHEMES: readonly string[] = ['glance'];

/**
 * Registers the glance driver for `glance` (and so for bare image ids). One service, made on first use from `options`
 * (default: {@link glanceOptionsFromEnv}), is reused; when `getImageService` hands in a `client` (a GlanceClient, or
 * options to build one, built once per options object) or a request `context`, the factory returns a service bound
 * to them, sharing the client and its token cache.
 */
export function register(
  registry: ImageServiceRegistry = defaultRegistry,
  options?: GlanceOptions,
  registerOptions: RegisterOptions = {},
): void {
  let shared: GlanceImageService | undefined;
  const clients = new WeakMap<object, GlanceClient>();
  registry.register(
    GLANCE_SCHEMES,
    ({ client, context }) => {
      shared ??= new GlanceImageService(options ?? glanceOptionsFromEnv());
      if (client === undefined && context === undefined) return shared;
      let glanceClient = shared.client;
      if (GlanceClient.isGlanceClient(client)) glanceClient = client;
      else if (typeof client === 'object' && client !== null) {
        glanceClient = clients.get(client) ?? new GlanceClient(client);
        clients.set(client, glanceClient);
      }
      return new GlanceImageService({
        client: glanceClient,
        context: toRequestContext(context) ?? shared.context,
      });
    },
    registerOptions,
  );
}
