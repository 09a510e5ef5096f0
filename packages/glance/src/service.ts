import { getHashes } from 'node:crypto';
import {
  BaseImageService,
  CHECKSUM_HEX_LENGTHS,
  type Checksum,
  createLogger,
  ImageDownloadFailed,
  type ImageInfo,
  ImageNotFound,
  type ImageStream,
  ImageUnacceptable,
  isChecksumAlgorithm,
  type ReadRequest,
  redactHref,
  type ShowOptions,
  type ValidateOptions,
} from '@image-service/core';
import { type GlanceCall, type GlanceCaller, GlanceClient, type GlanceImage } from './client.js';
import { type GlanceRequestContext, toRequestContext } from './context.js';
import { parseGlanceHref } from './href.js';
import { discard, header } from './http.js';
import type { GlanceClientOptions } from './options.js';

const log = createLogger('image-service:glance');

/** Options of {@link GlanceImageService}: a client's options (or a client to share) and a request context. */
export interface GlanceOptions extends GlanceClientOptions {
  /** A client to share (its own options then apply; the client options here are ignored). */
  client?: GlanceClient;
  /** The request context every call of this service is made in (a user's token, project, roles, request id). */
  context?: GlanceRequestContext;
}

/** The attributes Glance v2 defines; every other key of an image record is a custom property. */
const IMAGE_ATTRIBUTES = new Set([
  'id',
  'name',
  'status',
  'visibility',
  'owner',
  'size',
  'virtual_size',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'disk_format',
  'container_format',
  'min_disk',
  'min_ram',
  'protected',
  'os_hidden',
  'tags',
  'created_at',
  'updated_at',
  'deleted_at',
  'deleted',
  'file',
  'schema',
  'self',
  'direct_url',
  'locations',
  'stores',
]);

const TIME_ATTRIBUTES = ['created_at', 'updated_at', 'deleted_at'];

/** A Glance timestamp as a Date in UTC (a time without a zone is UTC), or null. */
export function parseGlanceTime(value: unknown): Date | null {
  if (typeof value !== 'string' || value === '') return null;
  const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(value) ? value : `${value}Z`;
  const time = Date.parse(zoned);
  return Number.isNaN(time) ? null : new Date(time);
}

/** The image's digest: os_hash_algo/os_hash_value when the core knows the algorithm, else the md5 `checksum`. */
export function glanceChecksum(image: GlanceImage): Checksum | undefined {
  const algorithm = typeof image.os_hash_algo === 'string' ? image.os_hash_algo.toLowerCase() : undefined;
  const value = typeof image.os_hash_value === 'string' ? image.os_hash_value.toLowerCase() : undefined;
  if (isChecksumAlgorithm(algorithm) && value && isHex(value, CHECKSUM_HEX_LENGTHS[algorithm])) {
    if (algorithm !== 'md5' || getHashes().includes('md5')) return { algorithm, value };
  }
  const md5 = typeof image.checksum === 'string' ? image.checksum.toLowerCase() : undefined;
  if (md5 && isHex(md5, 32) && getHashes().includes('md5')) return { algorithm: 'md5', value: md5 };
  return undefined;
}

function isHex(value: string, length: number): boolean {
  return value.length === length && /^[0-9a-f]+$/.test(value);
}

/** Ironic's image dictionary: the attributes Glance defines (times in UTC, store URLs redacted) and `properties`. */
export function glanceProperties(image: GlanceImage): Record<string, unknown> {
  const attributes: Record<string, unknown> = {};
  const custom: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(image)) {
    if (!IMAGE_ATTRIBUTES.has(key)) custom[key] = value;
    else if (TIME_ATTRIBUTES.includes(key)) attributes[key] = parseGlanceTime(value)?.toISOString() ?? value;
    else if (key === 'direct_url' && typeof value === 'string') attributes[key] = redactHref(value);
    else if (key === 'locations' && Array.isArray(value)) {
      attributes[key] = value.map((location: unknown) =>
        typeof location === 'object' &&
        location !== null &&
        typeof (location as { url?: unknown }).url === 'string'
          ? { ...location, url: redactHref((location as { url: string }).url) }
          : location,
      );
    } else attributes[key] = value;
  }
  return { ...attributes, properties: custom };
}

/** What a version of the image's data is known by: its digest (Glance data never changes once active), else its date. */
function validatorOf(image: GlanceImage): string {
  const checksum = glanceChecksum(image);
  return checksum
    ? `${checksum.algorithm}:${checksum.value}`
    : `updated:${String(image.updated_at)}:${image.size}`;
}

/**
 * The glance driver: images in OpenStack Glance v2, named by a bare image id (a UUID-like href), `glance://<id>` or
 * `glance://<host>[:<port>]/<id>`. Authenticates through Keystone v3 (or not, with an explicit endpoint), enforces
 * Ironic's rules (the image must be active and visible to the caller), and downloads with the image's own digest
 * verified and dropped connections resumed with Range requests.
 */
export class GlanceImageService extends BaseImageService {
  readonly name = 'glance';
  /** The client the service sends its requests through (shared between services made with `withContext`). */
  readonly client: GlanceClient;
  /** The request context of every call. */
  readonly context: GlanceRequestContext | undefined;
  readonly #ownsClient: boolean;

  constructor(options: GlanceOptions = {}) {
    super();
    const { client, context, ...clientOptions } = options;
    this.client = client ?? new GlanceClient(clientOptions);
    this.#ownsClient = client === undefined;
    this.context = toRequestContext(context);
  }

  /** A service making its calls in `context`, sharing this one's client (its Agent and token cache). */
  withContext(context: GlanceRequestContext | undefined): GlanceImageService {
    return new GlanceImageService({ client: this.client, context });
  }

  /** Checks the href and that the image is active and visible; resolves with what `show` returns. */
  async validateHref(imageHref: string, options: ValidateOptions = {}): Promise<ImageInfo> {
    const { image } = await this.#inspect(imageHref, options.signal, options.secret);
    return toImageInfo(image);
  }

  /**
   * The image's size, last change (UTC), digest and properties. Rejects with `ImageRefValidationFailed` (a malformed
   * href, a 400), `ImageNotFound` (404, or not visible to the caller), `ImageNotAuthorized` (401, 403),
   * `ImageUnacceptable` (not active) or `GlanceConnectionFailed` (after `numRetries` retries).
   */
  async show(imageHref: string, options: ShowOptions = {}): Promise<ImageInfo> {
    const { image } = await this.#inspect(imageHref, options.signal);
    return toImageInfo(image);
  }

  /** Closes the client when this service made it (a shared client is the caller's to close). */
  async close(): Promise<void> {
    if (this.#ownsClient) await this.client.close();
  }

  protected override async openRead(imageHref: string, request: ReadRequest): Promise<ImageStream> {
    // Metadata first, on every open: the status and access rules, the digest, and that the data is still the same.
    const { image, call, imageId } = await this.#inspect(imageHref, request.signal, false, 0);
    const size = typeof image.size === 'number' ? image.size : null;
    if (size === 0) throw new ImageDownloadFailed({ imageHref, reason: 'image contains no data.' });
    const validator = validatorOf(image);
    if (request.validator !== undefined && request.validator !== validator) {
      throw new ImageDownloadFailed({
        imageHref,
        reason: 'the image changed since the download started',
        transient: true,
        mustRestart: true,
      });
    }
    const { offset, length } = request;
    const ranged = offset > 0 || length !== undefined;
    const range = ranged ? `bytes=${offset}-${length === undefined ? '' : offset + length - 1}` : undefined;
    const response = await this.client.openFile(imageId, range, call);
    const checksum = glanceChecksum(image);
    const stream = (body: AsyncIterable<Uint8Array>): ImageStream => ({
      body,
      size,
      validator,
      ...(checksum ? { checksum } : {}),
    });
    switch (response.statusCode) {
      case 204:
        discard(response.body);
        throw new ImageUnacceptable({ imageHref, reason: 'Glance has no data for the image (HTTP 204).' });
      case 416:
        discard(response.body);
        throw new ImageDownloadFailed({
          imageHref,
          reason: `Glance refused the range ${range} of an image of ${size} bytes`,
          transient: true,
          mustRestart: true,
        });
      case 206: {
        const contentRange = header(response.headers, 'content-range') ?? '';
        const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange.trim());
        const total = match?.[3] === undefined || match[3] === '*' ? null : Number(match[3]);
        if (!match || Number(match[1]) !== offset || (total !== null && size !== null && total !== size)) {
          discard(response.body);
          throw new ImageDownloadFailed({
            imageHref,
            reason: `Glance answered the range ${range} with Content-Range "${contentRange}"`,
            transient: true,
            mustRestart: true,
          });
        }
        return stream(response.body as AsyncIterable<Uint8Array>);
      }
      default: {
        // 200: the whole image, even when a range was asked for; skip to the offset and stop at the length.
        if (ranged) log(`Glance ignored the range ${range}: skipping ${offset} bytes`);
        const body = response.body as AsyncIterable<Uint8Array>;
        return stream(ranged ? slice(body, offset, length, () => discard(response.body)) : body);
      }
    }
  }

  async #inspect(
    imageHref: string,
    signal: AbortSignal | undefined,
    secret?: boolean,
    retries?: number,
  ): Promise<{ image: GlanceImage; call: GlanceCall; imageId: string }> {
    const parsed = parseGlanceHref(imageHref, this.client.options.endpointScheme, secret);
    const call: GlanceCall = { imageHref, secret, signal, context: this.context };
    if (parsed.endpoint) call.endpoint = parsed.endpoint;
    const { image, caller } = await this.client.getImage(parsed.imageId, call, retries);
    if (image.status !== 'active') {
      throw new ImageUnacceptable({
        imageHref,
        secret,
        reason: 'The image is required to be in an active state.',
      });
    }
    if (!(await this.#visible(image, caller, call, parsed.imageId, retries))) {
      log(
        `image ${parsed.imageId} (${image.visibility}) is not visible to project ${caller.projectId ?? '(none)'}`,
      );
      throw new ImageNotFound({ imageHref, secret });
    }
    return { image, call, imageId: parsed.imageId };
  }

  /** Ironic's access rules: public or community; an admin; the caller's own project; an accepted member of a shared image. */
  async #visible(
    image: GlanceImage,
    caller: GlanceCaller,
    call: GlanceCall,
    imageId: string,
    retries: number | undefined,
  ): Promise<boolean> {
    if (image.visibility === 'public' || image.visibility === 'community') return true;
    if (caller.isAdmin) return true;
    if (!caller.projectId) return false;
    if (image.owner === caller.projectId) return true;
    if (image.visibility !== 'shared') return false;
    const member = await this.client.getMember(imageId, caller.projectId, call, retries);
    return member?.status === 'accepted';
  }
}

function toImageInfo(image: GlanceImage): ImageInfo {
  const checksum = glanceChecksum(image);
  return {
    size: typeof image.size === 'number' ? image.size : 0,
    updatedAt: parseGlanceTime(image.updated_at),
    properties: glanceProperties(image),
    ...(checksum ? { checksum } : {}),
  };
}

/** The bytes [skip, skip + take) of a body (all after `skip` when take is undefined). */
async function* slice(
  body: AsyncIterable<Uint8Array>,
  skip: number,
  take: number | undefined,
  close: () => void,
): AsyncGenerator<Uint8Array> {
  let toSkip = skip;
  let left = take ?? Number.POSITIVE_INFINITY;
  try {
    for await (const received of body) {
      let chunk = received;
      if (toSkip > 0) {
        if (chunk.byteLength <= toSkip) {
          toSkip -= chunk.byteLength;
          continue;
        }
        chunk = chunk.subarray(toSkip);
        toSkip = 0;
      }
      if (chunk.byteLength > left) chunk = chunk.subarray(0, left);
      left -= chunk.byteLength;
      if (chunk.byteLength > 0) yield chunk;
      if (left <= 0) break;
    }
  } finally {
    close();
  }
}
