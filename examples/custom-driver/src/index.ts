import {
  BaseImageService,
  defaultRegistry,
  type ImageInfo,
  ImageNotFound,
  ImageRefValidationFailed,
  type ImageServiceRegistry,
  type ImageStream,
  type ReadRequest,
  type ShowOptions,
  throwIfAborted,
  type ValidateOptions,
} from '@image-service/core';

/** The scheme this driver serves: `memory://<name>`. */
export const MEMORY_SCHEME = 'memory';

/** An image held in memory, with the time it was stored. */
interface StoredImage {
  bytes: Uint8Array;
  storedAt: Date;
  version: number;
}

/** Options of {@link MemoryImageService}. */
export interface MemoryOptions {
  /** Bytes per chunk the download yields. Default 64 KiB. */
  chunkSize?: number;
  /** Delay between chunks, in ms, to imitate a slow store. Default 0. */
  chunkDelayMs?: number;
}

/**
 * Serves images put into it by name under `memory://<name>`. A complete driver in one file: it says how to validate,
 * stat and open a byte range; the core does the downloading.
 */
export class MemoryImageService extends BaseImageService {
  readonly name = 'memory';
  readonly #images = new Map<string, StoredImage>();
  readonly #chunkSize: number;
  readonly #chunkDelayMs: number;
  #versions = 0;

  constructor(options: MemoryOptions = {}) {
    super();
    this.#chunkSize = options.chunkSize ?? 64 * 1024;
    this.#chunkDelayMs = options.chunkDelayMs ?? 0;
  }

  /** Stores (or replaces) an image under `name`; returns its href. */
  put(name: string, bytes: Uint8Array): string {
    this.#versions += 1;
    this.#images.set(name, { bytes, storedAt: new Date(), version: this.#versions });
    return `${MEMORY_SCHEME}://${encodeURIComponent(name)}`;
  }

  #nameOf(imageHref: string, secret?: boolean): string {
    const match = /^memory:\/\/([^/?#]+)$/i.exec(imageHref);
    if (!match?.[1]) {
      throw new ImageRefValidationFailed({ imageHref, secret, reason: 'A memory href is memory://<name>.' });
    }
    try {
      return decodeURIComponent(match[1]);
    } catch {
      throw new ImageRefValidationFailed({
        imageHref,
        secret,
        reason: 'The name is not valid percent-encoding.',
      });
    }
  }

  #get(imageHref: string, secret?: boolean): StoredImage {
    const image = this.#images.get(this.#nameOf(imageHref, secret));
    if (!image) throw new ImageNotFound({ imageHref, secret });
    return image;
  }

  async validateHref(imageHref: string, options: ValidateOptions = {}): Promise<{ size: number }> {
    throwIfAborted(options.signal, imageHref, options.secret);
    return { size: this.#get(imageHref, options.secret).bytes.byteLength };
  }

  async show(imageHref: string, options: ShowOptions = {}): Promise<ImageInfo> {
    throwIfAborted(options.signal, imageHref);
    const image = this.#get(imageHref);
    return {
      size: image.bytes.byteLength,
      updatedAt: image.storedAt,
      properties: { version: image.version },
    };
  }

  protected override async openRead(imageHref: string, request: ReadRequest): Promise<ImageStream> {
    const image = this.#get(imageHref);
    const validator = String(image.version);
    if (request.validator !== undefined && request.validator !== validator) {
      throw new ImageRefValidationFailed({
        imageHref,
        reason: 'the image was replaced',
        mustRestart: true,
        transient: true,
      });
    }
    const end = request.length === undefined ? image.bytes.byteLength : request.offset + request.length;
    const slice = image.bytes.subarray(request.offset, end);
    const { signal } = request;
    const chunkSize = this.#chunkSize;
    const delay = this.#chunkDelayMs;
    async function* body(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < slice.byteLength; at += chunkSize) {
        if (signal.aborted) return;
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        yield slice.subarray(at, at + chunkSize);
      }
    }
    return { body: body(), size: image.bytes.byteLength, validator, rangesSupported: true };
  }
}

/** Registers `service` for `memory://` hrefs; a taken scheme throws unless `override` is set. */
export function register(
  service: MemoryImageService,
  registry: ImageServiceRegistry = defaultRegistry,
  options: { override?: boolean } = {},
): void {
  registry.register(MEMORY_SCHEME, () => service, options);
}
