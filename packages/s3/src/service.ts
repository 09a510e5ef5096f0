import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import type {
  GetObjectCommandInput,
  GetObjectCommandOutput,
  HeadObjectCommandOutput,
  S3Client,
  S3ClientConfig,
} from '@aws-sdk/client-s3';
import {
  abortedError,
  BaseImageService,
  createLogger,
  ErrorCode,
  ImageDownloadFailed,
  type ImageInfo,
  ImageRefValidationFailed,
  type ImageServiceError,
  type ImageStream,
  type ParallelOptions,
  type ReadRequest,
  type ShowOptions,
  type ValidateOptions,
} from '@image-service/core';
import { metadataChecksum, storeChecksum } from './checksums.js';
import { isBodilessHeadFailure, mapS3Error, type S3Operation } from './errors.js';
import { parseS3Href, type S3Ref } from './href.js';
import {
  checkOptions,
  clientConfigFor,
  DEFAULT_CONCURRENCY,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_PARALLEL_THRESHOLD,
  DEFAULT_PART_SIZE,
  FALLBACK_REGION,
  type S3Options,
} from './options.js';

type Sdk = typeof import('@aws-sdk/client-s3');

let sdk: Promise<Sdk> | undefined;

/** The AWS SDK, imported on first use so that loading this package costs nothing until an s3:// href is used. */
function loadSdk(): Promise<Sdk> {
  sdk ??= import('@aws-sdk/client-s3').catch((error: unknown) => {
    sdk = undefined;
    throw error;
  });
  return sdk;
}

const log = createLogger('image-service:s3');

/** An opened range of an S3 object; S3 always serves byte ranges. */
export interface S3ImageStream extends ImageStream {
  /** Whether the store honours byte ranges (true unless it ignored the Range header). */
  rangesSupported: boolean;
}

/**
 * The `s3://<bucket>/<key>[?versionId=<id>]` driver, on the AWS SDK v3, for AWS S3 and S3-compatible stores (Ceph RGW,
 * MinIO, R2 ...). `show` is a HeadObject; a download is a GetObject whose resumed and parallel ranges are pinned to the
 * object's ETag with If-Match, so an object overwritten during a download fails the range instead of splicing two
 * versions. The SDK is imported on first use; one client is made and reused (or the one given is).
 */
export class S3ImageService extends BaseImageService {
  readonly name = 's3';
  readonly #options: S3Options;
  #client: Promise<S3Client> | undefined;
  readonly #secrets: string[];

  constructor(options: S3Options = {}) {
    super();
    checkOptions(options);
    this.#options = { ...options };
    this.#secrets = credentialValues(options.credentials);
  }

  /** Checks the href and that the object can be reached (HeadObject); resolves with what `show` tells. */
  async validateHref(imageHref: string, options: ValidateOptions = {}): Promise<ImageInfo> {
    const ref = parseS3Href(imageHref, options.secret);
    return this.#head(imageHref, ref, options.signal, options.secret);
  }

  /**
   * The object's size, last change, ETag and properties (content type, storage class, version id, user metadata) from
   * HeadObject, and its checksum when the store reports a full-object SHA-256 or the metadata carries a digest.
   */
  async show(imageHref: string, options: ShowOptions = {}): Promise<ImageInfo> {
    const ref = parseS3Href(imageHref);
    return this.#head(imageHref, ref, options.signal, false);
  }

  /** The S3Client this service uses, made on first call (or the one given in the options). */
  async client(): Promise<S3Client> {
    this.#client ??= this.#createClient().catch((error: unknown) => {
      this.#client = undefined;
      throw error;
    });
    return this.#client;
  }

  /**
   * Large objects are fetched as parallel ranged GETs: `partSize`, `concurrency` and `parallelThreshold` from the
   * options, else 8 MiB parts, 4 at once, from 16 MiB (a caller's `parallel` download option overrides them).
   */
  protected override parallelDefaults(): Required<ParallelOptions> {
    return {
      partSize: this.#options.partSize ?? DEFAULT_PART_SIZE,
      concurrency: this.#options.concurrency ?? DEFAULT_CONCURRENCY,
      threshold: this.#options.parallelThreshold ?? DEFAULT_PARALLEL_THRESHOLD,
    };
  }

  /**
   * A GetObject of exactly [offset, offset + length): `Range: bytes=<offset>-<end>` (none for a whole object) and
   * `If-Match: <validator>`, so that a range of another version of the object fails with a restartable error.
   */
  protected override async openRead(imageHref: string, request: ReadRequest): Promise<S3ImageStream> {
    const ref = parseS3Href(imageHref);
    const { offset, length, validator, signal } = request;
    if (length === 0) return { body: emptyBody(), size: null, validator, rangesSupported: true };
    const client = await this.#clientFor(imageHref, 'read');
    const { GetObjectCommand } = await loadSdk();
    const ranged = offset > 0 || length !== undefined;
    const input: GetObjectCommandInput = { Bucket: ref.bucket, Key: ref.key };
    if (ref.versionId !== undefined) input.VersionId = ref.versionId;
    if (ranged) input.Range = `bytes=${offset}-${length === undefined ? '' : offset + length - 1}`;
    else input.ChecksumMode = 'ENABLED';
    if (validator !== undefined) input.IfMatch = validator;

    let output: GetObjectCommandOutput;
    try {
      output = await client.send(new GetObjectCommand(input), { abortSignal: signal });
    } catch (error) {
      if (signal.aborted) throw error;
      throw await this.#mapError(error, imageHref, ref, 'read');
    }
    const body = output.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
    const fail = (reason: string, more: { transient?: boolean; mustRestart?: boolean } = {}): never => {
      body?.destroy?.();
      throw new ImageDownloadFailed({ imageHref, reason, ...more });
    };
    if (!body) return fail('the store sent no body');
    if (validator !== undefined && output.ETag !== undefined && output.ETag !== validator) {
      fail(`the object changed during the download: its ETag was ${validator} and is now ${output.ETag}`, {
        transient: true,
        mustRestart: true,
      });
    }

    let size: number | null = null;
    let expected = output.ContentLength;
    let rangesSupported = true;
    const range = parseContentRange(output.ContentRange);
    if (ranged && range) {
      if (range.start !== offset) {
        fail(`the store sent bytes from ${range.start} when ${offset} was asked for`);
      }
      size = range.size;
    } else if (ranged && offset > 0) {
      fail('the store ignored the Range header, so the download cannot resume at a byte offset');
    } else {
      size = output.ContentLength ?? null;
      if (ranged) {
        rangesSupported = false;
        if (length !== undefined && (expected === undefined || expected > length)) expected = length;
      }
    }
    log(
      `GetObject s3://${ref.bucket}/${ref.key}${input.Range ? ` ${input.Range}` : ''} -> ${output.ContentLength ?? '?'} bytes${size === null ? '' : ` of ${size}`}`,
      ...this.#secrets,
    );
    const checksum = storeChecksum(output) ?? metadataChecksum(output.Metadata);
    const stream: S3ImageStream = {
      body: guardBody(imageHref, body, expected, signal, (error) =>
        this.#mapError(error, imageHref, ref, 'read'),
      ),
      size,
      rangesSupported,
    };
    if (output.ETag !== undefined) stream.validator = output.ETag;
    if (checksum && offset === 0) stream.checksum = checksum;
    return stream;
  }

  async #head(
    imageHref: string,
    ref: S3Ref,
    signal: AbortSignal | undefined,
    secret: boolean | undefined,
  ): Promise<ImageInfo> {
    if (signal?.aborted) throw abortedError(signal, imageHref, secret);
    const client = await this.#clientFor(imageHref, 'show', secret);
    const { HeadObjectCommand } = await loadSdk();
    let output: HeadObjectCommandOutput;
    try {
      output = await client.send(
        new HeadObjectCommand({
          Bucket: ref.bucket,
          Key: ref.key,
          VersionId: ref.versionId,
          ChecksumMode: 'ENABLED',
        }),
        signal ? { abortSignal: signal } : {},
      );
    } catch (error) {
      if (signal?.aborted) throw abortedError(signal, imageHref, secret);
      const detailed = isBodilessHeadFailure(error)
        ? ((await this.#diagnose(client, ref, signal)) ?? error)
        : error;
      if (signal?.aborted) throw abortedError(signal, imageHref, secret);
      throw await this.#mapError(detailed, imageHref, ref, 'show', secret);
    }
    if (output.ContentLength === undefined) {
      throw new ImageRefValidationFailed({
        imageHref,
        secret,
        reason: 'the store did not report the object size',
      });
    }
    log(
      `HeadObject s3://${ref.bucket}/${ref.key} -> ${output.ContentLength} bytes, ETag ${output.ETag}`,
      ...this.#secrets,
    );
    return infoFrom(output);
  }

  /**
   * A HEAD that failed with 404 or 403 has no body to tell why; a one-byte GET of the same object does (NoSuchBucket
   * or NoSuchKey, InvalidAccessKeyId or SignatureDoesNotMatch). Resolves with that GET's error, or undefined.
   */
  async #diagnose(client: S3Client, ref: S3Ref, signal: AbortSignal | undefined): Promise<unknown> {
    const { GetObjectCommand } = await loadSdk();
    try {
      const output = await client.send(
        new GetObjectCommand({
          Bucket: ref.bucket,
          Key: ref.key,
          VersionId: ref.versionId,
          Range: 'bytes=0-0',
        }),
        signal ? { abortSignal: signal } : {},
      );
      (output.Body as { destroy?: () => void } | undefined)?.destroy?.();
      return undefined;
    } catch (error) {
      return error;
    }
  }

  async #clientFor(imageHref: string, operation: S3Operation, secret?: boolean): Promise<S3Client> {
    try {
      return await this.client();
    } catch (error) {
      const reason = `cannot set up the S3 client: ${error instanceof Error ? error.message : String(error)}`;
      throw operation === 'show'
        ? new ImageRefValidationFailed({ imageHref, secret, reason, cause: error })
        : new ImageDownloadFailed({ imageHref, reason, cause: error });
    }
  }

  async #mapError(
    error: unknown,
    imageHref: string,
    ref: S3Ref,
    operation: S3Operation,
    secret?: boolean,
  ): Promise<ImageServiceError> {
    const secrets = [...this.#secrets, ...(await this.#resolvedCredentialValues())];
    const mapped = mapS3Error(error, { imageHref, ref, operation, secret, secrets });
    log(`${operation} s3://${ref.bucket}/${ref.key} failed: ${mapped.reason}`, ...secrets);
    return mapped;
  }

  /** The values of the credentials the client signs with, to mask them in whatever an error says. */
  async #resolvedCredentialValues(): Promise<string[]> {
    try {
      const client = await this.#client;
      const provider = client?.config.credentials as unknown;
      if (typeof provider !== 'function') return [];
      return credentialValues(await (provider as () => Promise<unknown>)());
    } catch {
      return [];
    }
  }

  async #createClient(): Promise<S3Client> {
    if (this.#options.client) return this.#options.client;
    const [{ S3Client }, { NodeHttpHandler }] = await Promise.all([
      loadSdk(),
      import('@smithy/node-http-handler'),
    ]);
    const config: S3ClientConfig = clientConfigFor(this.#options);
    if (config.requestHandler === undefined) {
      const ca = this.#options.ca;
      config.requestHandler = new NodeHttpHandler({
        connectionTimeout: this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 50 }),
        httpsAgent: new HttpsAgent({
          keepAlive: true,
          maxSockets: 50,
          ...(ca === undefined ? {} : { ca: [...rootCertificates, ...(Array.isArray(ca) ? ca : [ca])] }),
        }),
      });
    }
    let client = new S3Client(config);
    if (config.region === undefined) {
      const region = await client.config.region().catch(() => undefined);
      if (!region) {
        log(`no region is configured; using ${FALLBACK_REGION}`);
        client.destroy();
        client = new S3Client({ ...config, region: FALLBACK_REGION });
      }
    }
    return client;
  }
}

/** What `show` reports from a HeadObject. */
function infoFrom(output: HeadObjectCommandOutput): ImageInfo {
  const properties: Record<string, unknown> = {
    contentType: output.ContentType ?? null,
    storageClass: output.StorageClass ?? 'STANDARD',
    versionId: output.VersionId ?? null,
    metadata: { ...output.Metadata },
  };
  if (output.ContentEncoding) properties.contentEncoding = output.ContentEncoding;
  if (output.CacheControl) properties.cacheControl = output.CacheControl;
  if (output.ServerSideEncryption) properties.serverSideEncryption = output.ServerSideEncryption;
  if (output.ChecksumType) properties.checksumType = output.ChecksumType;
  const info: ImageInfo = {
    size: output.ContentLength ?? 0,
    updatedAt: output.LastModified ?? null,
    properties,
  };
  if (output.ETag !== undefined) info.etag = output.ETag;
  const checksum = storeChecksum(output) ?? metadataChecksum(output.Metadata);
  if (checksum) info.checksum = checksum;
  if (output.CacheControl && /\bno-store\b/i.test(output.CacheControl)) info.noCache = true;
  return info;
}

/** `bytes <start>-<end>/<size>` as numbers (size null for `*`). */
function parseContentRange(
  header: string | undefined,
): { start: number; end: number; size: number | null } | undefined {
  const match = header ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim()) : null;
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), size: match[3] === '*' ? null : Number(match[3]) };
}

/**
 * The response body as exactly `expected` bytes: a body cut short or broken off is a transient error (the core resumes
 * it), a longer one is cut at `expected`; the socket is released when the reader stops early or the signal fires.
 */
async function* guardBody(
  imageHref: string,
  body: AsyncIterable<Uint8Array> & { destroy?: () => void },
  expected: number | undefined,
  signal: AbortSignal,
  mapError: (error: unknown) => Promise<ImageServiceError>,
): AsyncGenerator<Uint8Array> {
  const onAbort = () => body.destroy?.();
  signal.addEventListener('abort', onAbort, { once: true });
  let received = 0;
  try {
    for await (const chunk of body) {
      if (expected !== undefined && received + chunk.byteLength > expected) {
        const rest = expected - received;
        if (rest > 0) yield chunk.subarray(0, rest);
        received = expected;
        break;
      }
      received += chunk.byteLength;
      yield chunk;
    }
  } catch (error) {
    if (signal.aborted) throw error;
    const mapped = await mapError(error);
    if (mapped.code === ErrorCode.ImageChecksumError) throw mapped;
    throw new ImageDownloadFailed({
      imageHref,
      reason: `the connection broke after ${received} bytes of the response: ${mapped.reason}`,
      transient: true,
      cause: mapped.cause,
    });
  } finally {
    signal.removeEventListener('abort', onAbort);
    body.destroy?.();
  }
  if (expected !== undefined && received < expected) {
    throw new ImageDownloadFailed({
      imageHref,
      reason: `the connection closed after ${received} of the response's ${expected} bytes`,
      transient: true,
    });
  }
}

async function* emptyBody(): AsyncGenerator<Uint8Array> {}

/** The string values of static credentials (access key id, secret, session token), to mask them. */
function credentialValues(credentials: unknown): string[] {
  if (typeof credentials !== 'object' || credentials === null) return [];
  const values: string[] = [];
  for (const field of ['accessKeyId', 'secretAccessKey', 'sessionToken'] as const) {
    const value = (credentials as Record<string, unknown>)[field];
    if (typeof value === 'string' && value.length >= 8) values.push(value);
  }
  return values;
}
