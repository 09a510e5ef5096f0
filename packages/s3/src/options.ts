import { readFileSync } from 'node:fs';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';

/** When the AWS SDK computes request checksums or validates response checksums. */
export type ChecksumWhen = 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';

/** Options of {@link S3ImageService}. Every field is optional: the AWS SDK's own chains fill in what is not given. */
export interface S3Options {
  /** A prebuilt S3Client to reuse as it is; the client options below (endpoint ... clientConfig) are then ignored. */
  client?: S3Client;
  /** The S3 endpoint URL, for S3-compatible stores (default: AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, else AWS S3). */
  endpoint?: string;
  /** The region (default: the SDK's chain: AWS_REGION, the profile's region; else us-east-1). */
  region?: string;
  /** Address buckets as `<endpoint>/<bucket>/<key>` instead of `<bucket>.<endpoint>/<key>` (most S3-compatible stores need it). */
  forcePathStyle?: boolean;
  /** Credentials or a credential provider (default: the SDK's chain: environment, shared files, SSO, web identity, roles). */
  credentials?: S3ClientConfig['credentials'];
  /** The shared config and credentials files' profile to use (default: AWS_PROFILE, else `default`). */
  profile?: string;
  /** When the SDK adds request checksums (default: WHEN_REQUIRED with a custom endpoint, else the SDK's WHEN_SUPPORTED). */
  requestChecksumCalculation?: ChecksumWhen;
  /** When the SDK validates response checksums (default: WHEN_REQUIRED with a custom endpoint, else the SDK's WHEN_SUPPORTED). */
  responseChecksumValidation?: ChecksumWhen;
  /** Extra CA certificates (PEM) to trust for the endpoint, besides Node's (a private CA of an S3-compatible store). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** How long to wait for a TCP/TLS connection, in ms. Default 10000. */
  connectTimeoutMs?: number;
  /** Attempts per request by the SDK's own retry strategy (default: AWS_MAX_ATTEMPTS, else the SDK's 3). */
  maxAttempts?: number;
  /** Follow S3's redirects to a bucket's own region. Default true. */
  followRegionRedirects?: boolean;
  /** Further S3ClientConfig (a logger, a custom requestHandler, ...); the options above take precedence. */
  clientConfig?: S3ClientConfig;
  /** The size of each ranged GET when an object is fetched in parallel, in bytes (at least 64 KiB). Default 8 MiB. */
  partSize?: number;
  /** How many ranged GETs of one object are in flight at once. Default 4. */
  concurrency?: number;
  /** Objects at least this large are fetched as parallel ranged GETs, in bytes. Default 16 MiB. */
  parallelThreshold?: number;
}

/** The parallel-download defaults: 8 MiB parts, 4 in flight, for objects of 16 MiB and more. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** The smallest part size the core accepts. */
export const MIN_PART_SIZE = 64 * 1024;
/** How many ranged GETs of one object are in flight at once, by default. */
export const DEFAULT_CONCURRENCY = 4;
/** Objects at least this large are fetched in parallel, by default. */
export const DEFAULT_PARALLEL_THRESHOLD = 16 * 1024 * 1024;
/** The default connect timeout, in ms. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** The region used when neither the options nor the SDK's chain name one. */
export const FALLBACK_REGION = 'us-east-1';

/**
 * The driver's options from environment variables, for the CLI and for `@image-service/s3/register`. The AWS SDK itself
 * also reads its standard variables (credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, AWS_WEB_IDENTITY_TOKEN_FILE ...; retries: AWS_MAX_ATTEMPTS,
 * AWS_RETRY_MODE); credentials are never copied into the options.
 *
 * - IMAGE_SERVICE_S3_ENDPOINT, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (the last two are ignored when
 *   AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true): `endpoint`.
 * - IMAGE_SERVICE_S3_REGION, else AWS_REGION, else AWS_DEFAULT_REGION: `region`.
 * - IMAGE_SERVICE_S3_FORCE_PATH_STYLE (true/false, 1/0, yes/no): `forcePathStyle`.
 * - IMAGE_SERVICE_S3_PROFILE, else AWS_PROFILE: `profile`.
 * - AWS_REQUEST_CHECKSUM_CALCULATION, AWS_RESPONSE_CHECKSUM_VALIDATION (WHEN_SUPPORTED or WHEN_REQUIRED): the checksum
 *   settings.
 * - AWS_CA_BUNDLE: a PEM file of CA certificates to trust (`ca`).
 * - IMAGE_SERVICE_S3_PART_SIZE, IMAGE_SERVICE_S3_CONCURRENCY, IMAGE_SERVICE_S3_PARALLEL_THRESHOLD: the parallel
 *   download settings (sizes in bytes, or with a K/M/G suffix: `8M`, `16MiB`).
 *
 * Throws a TypeError naming the variable when a value is malformed.
 */
export function s3OptionsFromEnv(env: NodeJS.ProcessEnv = process.env): S3Options {
  const options: S3Options = {};
  const get = (name: string) => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  const endpoint = get('IMAGE_SERVICE_S3_ENDPOINT') ?? configuredEndpoint(env);
  if (endpoint)
    options.endpoint = checkEndpoint(endpoint, 'IMAGE_SERVICE_S3_ENDPOINT / AWS_ENDPOINT_URL(_S3)');
  const region = get('IMAGE_SERVICE_S3_REGION') ?? get('AWS_REGION') ?? get('AWS_DEFAULT_REGION');
  if (region) options.region = region;
  const pathStyle = get('IMAGE_SERVICE_S3_FORCE_PATH_STYLE');
  if (pathStyle !== undefined)
    options.forcePathStyle = parseBoolean(pathStyle, 'IMAGE_SERVICE_S3_FORCE_PATH_STYLE');
  const profile = get('IMAGE_SERVICE_S3_PROFILE') ?? get('AWS_PROFILE');
  if (profile) options.profile = profile;
  const requestChecksums = get('AWS_REQUEST_CHECKSUM_CALCULATION');
  if (requestChecksums) {
    options.requestChecksumCalculation = parseChecksumWhen(
      requestChecksums,
      'AWS_REQUEST_CHECKSUM_CALCULATION',
    );
  }
  const responseChecksums = get('AWS_RESPONSE_CHECKSUM_VALIDATION');
  if (responseChecksums) {
    options.responseChecksumValidation = parseChecksumWhen(
      responseChecksums,
      'AWS_RESPONSE_CHECKSUM_VALIDATION',
    );
  }
  const caBundle = get('AWS_CA_BUNDLE');
  if (caBundle) {
    try {
      options.ca = readFileSync(caBundle, 'utf8');
    } catch (error) {
      throw new TypeError(
        `AWS_CA_BUNDLE: cannot read ${caBundle} (${(error as NodeJS.ErrnoException).code ?? error})`,
      );
    }
  }
  const partSize = get('IMAGE_SERVICE_S3_PART_SIZE');
  if (partSize) options.partSize = parseSize(partSize, 'IMAGE_SERVICE_S3_PART_SIZE');
  const concurrency = get('IMAGE_SERVICE_S3_CONCURRENCY');
  if (concurrency) options.concurrency = parseCount(concurrency, 'IMAGE_SERVICE_S3_CONCURRENCY');
  const threshold = get('IMAGE_SERVICE_S3_PARALLEL_THRESHOLD');
  if (threshold) options.parallelThreshold = parseSize(threshold, 'IMAGE_SERVICE_S3_PARALLEL_THRESHOLD');
  return options;
}

/** The endpoint the SDK would take from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS. */
export function configuredEndpoint(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if ((env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '').trim().toLowerCase() === 'true') return undefined;
  return env.AWS_ENDPOINT_URL_S3?.trim() || env.AWS_ENDPOINT_URL?.trim() || undefined;
}

/** Checks the driver's options; throws a TypeError naming the bad one. */
export function checkOptions(options: S3Options): void {
  if (options.endpoint !== undefined) checkEndpoint(options.endpoint, 'endpoint');
  for (const name of ['requestChecksumCalculation', 'responseChecksumValidation'] as const) {
    const value = options[name];
    if (value !== undefined) parseChecksumWhen(value, name);
  }
  for (const name of ['partSize', 'concurrency', 'parallelThreshold', 'maxAttempts'] as const) {
    const value = options[name];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
      throw new TypeError(`${name} must be a whole number >= 1`);
    }
  }
  if (options.partSize !== undefined && options.partSize < MIN_PART_SIZE) {
    throw new TypeError('partSize must be at least 64 KiB');
  }
  const timeout = options.connectTimeoutMs;
  if (timeout !== undefined && (!Number.isFinite(timeout) || timeout < 0)) {
    throw new TypeError('connectTimeoutMs must be a number >= 0');
  }
}

/**
 * The S3ClientConfig the driver builds from its options. With a custom endpoint (an S3-compatible store) the checksum
 * settings default to WHEN_REQUIRED, unless the options or AWS_REQUEST_CHECKSUM_CALCULATION /
 * AWS_RESPONSE_CHECKSUM_VALIDATION say otherwise.
 */
export function clientConfigFor(options: S3Options, env: NodeJS.ProcessEnv = process.env): S3ClientConfig {
  const config: S3ClientConfig = { ...options.clientConfig };
  const endpoint = options.endpoint ?? configuredEndpoint(env);
  if (endpoint !== undefined) config.endpoint = endpoint;
  if (options.region !== undefined) config.region = options.region;
  if (options.forcePathStyle !== undefined) config.forcePathStyle = options.forcePathStyle;
  if (options.credentials !== undefined) config.credentials = options.credentials;
  if (options.profile !== undefined) config.profile = options.profile;
  if (options.maxAttempts !== undefined) config.maxAttempts = options.maxAttempts;
  config.followRegionRedirects = options.followRegionRedirects ?? config.followRegionRedirects ?? true;
  const compatible = endpoint !== undefined;
  const request = options.requestChecksumCalculation ?? config.requestChecksumCalculation;
  if (request !== undefined) config.requestChecksumCalculation = request;
  else if (compatible && !env.AWS_REQUEST_CHECKSUM_CALCULATION)
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
  const response = options.responseChecksumValidation ?? config.responseChecksumValidation;
  if (response !== undefined) config.responseChecksumValidation = response;
  else if (compatible && !env.AWS_RESPONSE_CHECKSUM_VALIDATION)
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  return config;
}

function checkEndpoint(value: string, name: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${name} must be an http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TypeError(`${name} must be an http(s) URL`);
  if (url.username || url.password) throw new TypeError(`${name} must not carry credentials`);
  return value;
}

function parseBoolean(value: string, name: string): boolean {
  const lower = value.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
  if (['0', 'false', 'no', 'off'].includes(lower)) return false;
  throw new TypeError(`${name} must be true or false, not "${value}"`);
}

function parseChecksumWhen(value: string, name: string): ChecksumWhen {
  const upper = value.toUpperCase();
  if (upper === 'WHEN_SUPPORTED' || upper === 'WHEN_REQUIRED') return upper;
  throw new TypeError(`${name} must be WHEN_SUPPORTED or WHEN_REQUIRED, not "${value}"`);
}

const SIZE = /^(\d+)\s*(?:([kmg])(?:i?b)?|b)?$/i;
const UNIT: Readonly<Record<string, number>> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

function parseSize(value: string, name: string): number {
  const match = SIZE.exec(value);
  const bytes = match ? Number(match[1]) * (UNIT[(match[2] ?? '').toLowerCase()] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new TypeError(`${name} must be a size in bytes (optionally with K, M or G), not "${value}"`);
  }
  return bytes;
}

function parseCount(value: string, name: string): number {
  const count = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(count) || count < 1) throw new TypeError(`${name} must be a whole number >= 1`);
  return count;
}
