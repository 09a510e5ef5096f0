import {
  DEFAULT_DRIVER_PACKAGES,
  defaultRegistry,
  type ImageServiceFactory,
  ImageServiceRegistry,
} from '@image-service/core';
import type { FileOptions } from '@image-service/file';
import type { GlanceOptions } from '@image-service/glance';
import type { HttpOptions } from '@image-service/http';
import type { S3Options } from '@image-service/s3';

/** Settings for the default drivers; a driver left out reads its settings from the environment. */
export interface DefaultDriverOptions {
  /** Options of the file driver (else `IMAGE_SERVICE_FILE_*`). */
  file?: FileOptions;
  /** Options of the http(s) driver (else `IMAGE_SERVICE_HTTP_*`). */
  http?: HttpOptions;
  /** Options of the s3 driver (else the `AWS_*` chain and `IMAGE_SERVICE_S3_*`). */
  s3?: S3Options;
  /** Options of the glance driver (else `OS_*`, clouds.yaml and `IMAGE_SERVICE_GLANCE_*`). */
  glance?: GlanceOptions;
  /** The environment drivers without explicit options read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** What a driver package offers the meta package. */
interface DriverModule<Options> {
  register(registry: ImageServiceRegistry, options?: Options): void;
}

/** A factory that imports a driver package only when an href of its scheme is first resolved. */
function lazyDriver<Options>(
  load: () => Promise<DriverModule<Options>>,
  options: (module: DriverModule<Options>) => Options,
): ImageServiceFactory {
  let loaded: Promise<ImageServiceRegistry> | undefined;
  return async (resolve) => {
    loaded ??= load().then((module) => {
      const inner = new ImageServiceRegistry();
      module.register(inner, options(module));
      return inner;
    });
    return (await loaded).resolve(resolve.imageHref, { client: resolve.client, context: resolve.context });
  };
}

/**
 * Registers image-service's default drivers (file, http, https, s3, glance) in `registry`, each loaded only when an href
 * of its scheme is first resolved, so importing this package or showing a `file://` image never loads the AWS SDK.
 * Schemes already registered (a third party's driver, or an override) are left alone.
 */
export function registerDefaultDrivers(
  registry: ImageServiceRegistry = defaultRegistry,
  options: DefaultDriverOptions = {},
): void {
  const env = options.env ?? process.env;
  const drivers: Array<[string[], ImageServiceFactory]> = [
    [
      ['file'],
      lazyDriver(
        () => import('@image-service/file'),
        (m) => options.file ?? (m as typeof import('@image-service/file')).fileOptionsFromEnv(env),
      ),
    ],
    [
      ['http', 'https'],
      lazyDriver(
        () => import('@image-service/http'),
        (m) => options.http ?? (m as typeof import('@image-service/http')).httpOptionsFromEnv(env),
      ),
    ],
    [
      ['s3'],
      lazyDriver(
        () => import('@image-service/s3'),
        (m) => options.s3 ?? (m as typeof import('@image-service/s3')).s3OptionsFromEnv(env),
      ),
    ],
    [
      ['glance'],
      lazyDriver(
        () => import('@image-service/glance'),
        (m) => options.glance ?? (m as typeof import('@image-service/glance')).glanceOptionsFromEnv(env),
      ),
    ],
  ];
  for (const [schemes, factory] of drivers) {
    const free = schemes.filter((scheme) => !registry.has(scheme));
    if (free.length > 0) registry.register(free, factory);
  }
}

/** A new registry with the default drivers, configured by `options`, independent of the default registry. */
export function createImageServiceRegistry(options: DefaultDriverOptions = {}): ImageServiceRegistry {
  const registry = new ImageServiceRegistry();
  registerDefaultDrivers(registry, options);
  return registry;
}

/** The schemes the default drivers serve, with their packages. */
export const DEFAULT_SCHEMES: Readonly<Record<string, string>> = DEFAULT_DRIVER_PACKAGES;
