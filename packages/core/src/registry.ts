import type { BaseImageService } from './base.js';
import { ImageRefValidationFailed } from './errors.js';
import { isUuidLike, schemeOf } from './href.js';

/** The scheme a scheme-less, UUID-like href resolves to (a Glance image id, as in Ironic). */
export const UUID_SCHEME = 'glance';

/** The package that serves each of image-service's default schemes, named in the error when it is not installed. */
export const DEFAULT_DRIVER_PACKAGES: Readonly<Record<string, string>> = {
  file: '@image-service/file',
  http: '@image-service/http',
  https: '@image-service/http',
  s3: '@image-service/s3',
  glance: '@image-service/glance',
};

/** What a factory is told when the registry resolves an href to it. */
export interface ResolveContext {
  /** The href being resolved. */
  imageHref: string;
  /** Its scheme, lower case (`glance` for a scheme-less UUID). */
  scheme: string;
  /** A prebuilt client for the driver (the seed's `client`, used by Glance). */
  client?: unknown;
  /** A request context (the seed's `context`: a user's token, project, roles). */
  context?: unknown;
}

/** Makes (or returns an already made) service for an href; may load the driver lazily. */
export type ImageServiceFactory = (resolve: ResolveContext) => BaseImageService | Promise<BaseImageService>;

/** Options of {@link ImageServiceRegistry.register}. */
export interface RegisterOptions {
  /** Replace a factory already registered for one of the schemes instead of throwing. */
  override?: boolean;
}

/** Options of {@link ImageServiceRegistry.resolve}. */
export interface ResolveOptions {
  /** Handed to the factory: a prebuilt client (Glance's, in the seed). */
  client?: unknown;
  /** Handed to the factory: a request context. */
  context?: unknown;
}

/** Maps URL schemes to the drivers that serve them. */
export class ImageServiceRegistry {
  readonly #factories = new Map<string, ImageServiceFactory>();

  /**
   * Registers `factory` for each of `schemes` (case-insensitive). A scheme that is already taken throws a TypeError
   * unless `override` is set, so two drivers never silently fight over one scheme.
   */
  register(
    schemes: string | readonly string[],
    factory: ImageServiceFactory,
    options: RegisterOptions = {},
  ): void {
    const list = (typeof schemes === 'string' ? [schemes] : [...schemes]).map((s) => s.toLowerCase());
    for (const scheme of list) {
      if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) throw new TypeError(`"${scheme}" is not a valid URL scheme`);
      if (this.#factories.has(scheme) && !options.override) {
        throw new TypeError(
          `The scheme "${scheme}" is already registered; pass { override: true } to replace its driver`,
        );
      }
    }
    for (const scheme of list) this.#factories.set(scheme, factory);
  }

  /** Removes the drivers of `schemes`; returns whether any was registered. */
  unregister(schemes: string | readonly string[]): boolean {
    let removed = false;
    for (const scheme of typeof schemes === 'string' ? [schemes] : schemes) {
      removed = this.#factories.delete(scheme.toLowerCase()) || removed;
    }
    return removed;
  }

  /** Whether a driver is registered for `scheme`. */
  has(scheme: string): boolean {
    return this.#factories.has(scheme.toLowerCase());
  }

  /** The registered schemes, sorted. */
  schemes(): string[] {
    return [...this.#factories.keys()].sort();
  }

  /** The scheme an href resolves to, or an `ImageRefValidationFailed` saying why it has none. */
  schemeFor(imageHref: string): string {
    if (typeof imageHref !== 'string') {
      throw new ImageRefValidationFailed({
        imageHref: String(imageHref),
        reason: 'The image href is not a string.',
      });
    }
    const scheme = schemeOf(imageHref);
    if (scheme !== undefined) return scheme;
    if (isUuidLike(imageHref)) return UUID_SCHEME;
    throw new ImageRefValidationFailed({ imageHref, reason: 'Scheme-less image href is not a UUID.' });
  }

  /**
   * The service for an href (the seed's `get_image_service`). Throws `ImageRefValidationFailed` for a scheme-less href
   * that is not a UUID and for a scheme no driver serves; the reason lists the registered schemes and, for a default
   * scheme, the package to install.
   */
  async resolve(imageHref: string, options: ResolveOptions = {}): Promise<BaseImageService> {
    const scheme = this.schemeFor(imageHref);
    const factory = this.#factories.get(scheme);
    if (!factory) {
      throw new ImageRefValidationFailed({ imageHref, reason: this.#unsupported(scheme) });
    }
    return factory({ imageHref, scheme, client: options.client, context: options.context });
  }

  #unsupported(scheme: string): string {
    const registered = this.schemes();
    let reason = `Image download protocol ${scheme} is not supported.`;
    reason += registered.length
      ? ` Registered schemes: ${registered.join(', ')}.`
      : ' No scheme is registered.';
    const pkg = DEFAULT_DRIVER_PACKAGES[scheme];
    if (pkg) reason += ` The ${scheme} scheme is served by ${pkg}: install it and import "${pkg}/register".`;
    return reason;
  }
}

const REGISTRY_KEY = Symbol.for('@image-service/core:defaultRegistry');

/** The one default registry of the process, shared even when two copies of the core are installed. */
function sharedDefaultRegistry(): ImageServiceRegistry {
  const holder = globalThis as { [REGISTRY_KEY]?: ImageServiceRegistry };
  if (!holder[REGISTRY_KEY]) holder[REGISTRY_KEY] = new ImageServiceRegistry();
  return holder[REGISTRY_KEY];
}

/** The registry that drivers' `register` entries fill and `getImageService` resolves through by default. */
export const defaultRegistry: ImageServiceRegistry = sharedDefaultRegistry();
