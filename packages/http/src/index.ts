import { defaultRegistry, type ImageServiceRegistry, type RegisterOptions } from '@image-service/core';
import type { HttpOptions } from './options.js';
import { HTTP_SCHEMES, HttpImageService } from './service.js';

export {
  ADDRESS_DENIED,
  AddressPolicy,
  type AddressPolicyOptions,
  type LookupFunction,
  NON_PUBLIC_RANGES,
} from './addresses.js';
export { parseHttpDate } from './headers.js';
export { HTTP_ENV_VARIABLES, type HttpOptions, httpOptionsFromEnv, type TlsMinVersion } from './options.js';
export { type ProxySettings, proxyFor, proxySettingsFromEnv } from './proxy.js';
export {
  DEFAULT_HTTP_TIMEOUT_MS,
  DEFAULT_MAX_REDIRECTS,
  HTTP_SCHEMES,
  type HttpHeadResponse,
  HttpImageService,
  type HttpImageStream,
} from './service.js';

/**
 * Registers the http driver for `http` and `https` in `registry`: one instance, made on first use with `options` and
 * reused (so its connections are too). A scheme already taken throws unless `registerOptions.override` is set.
 */
export function register(
  registry: ImageServiceRegistry = defaultRegistry,
  options: HttpOptions = {},
  registerOptions: RegisterOptions = {},
): void {
  let service: HttpImageService | undefined;
  registry.register(HTTP_SCHEMES, () => (service ??= new HttpImageService(options)), registerOptions);
}
