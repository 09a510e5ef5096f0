import type { ParallelOptions, RetryOptions } from '@image-service/core';
import type { Dispatcher } from 'undici';
import type { LookupFunction } from './addresses.js';
import type { ProxySettings } from './proxy.js';

/** A TLS protocol version the driver can require as the minimum. */
export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

/** Options of {@link HttpImageService}. */
export interface HttpOptions {
  /** A prebuilt undici dispatcher for every request; the TLS, timeout, proxy and lookup options then do not apply. */
  dispatcher?: Dispatcher;
  /** Milliseconds to establish a connection (DNS, TCP and TLS). Default 60000, the reference's timeout. */
  connectTimeoutMs?: number;
  /** Milliseconds to wait for a response's headers. Default 60000. */
  headersTimeoutMs?: number;
  /** Redirects `show` and downloads follow before failing. Default 5. */
  maxRedirects?: number;
  /** Retries of transient failures (connection errors, 408, 429, 5xx) for `validateHref`, `show` and downloads; `false`: none. */
  retry?: RetryOptions | false;
  /** Fetch large images as parallel byte ranges pinned to one version (part size, concurrency, threshold). Default false. */
  parallel?: ParallelOptions | false;
  /** CA certificates to verify servers with, as PEM text or the path of a PEM file (replaces the system CAs). */
  ca?: string;
  /** Skip TLS certificate and host name verification. Default false. */
  insecure?: boolean;
  /** The lowest TLS version accepted. Default Node's (TLSv1.2). */
  tlsMinVersion?: TlsMinVersion;
  /** The TLS cipher list, in OpenSSL's format. Default Node's. */
  ciphers?: string;
  /** User name for HTTP basic auth (needs `password`); a user name in the href's userinfo takes precedence. */
  user?: string;
  /** Password for HTTP basic auth (needs `user`). */
  password?: string;
  /** Extra request headers (a bearer token, ...), sent only to the href's own origin, never after a redirect elsewhere. */
  headers?: Record<string, string>;
  /** The User-Agent header. Default `image-service`. */
  userAgent?: string;
  /** Proxies: `false` for none; default: curl's environment variables (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY). */
  proxy?: ProxySettings | false;
  /** Refuse connections to non-public addresses (loopback, private, link-local such as 169.254.169.254, ...). Default false. */
  blockPrivateAddresses?: boolean;
  /** Refuse connections to these addresses or CIDR ranges, for hrefs and redirect targets alike. */
  deniedAddresses?: readonly string[];
  /** Addresses or CIDR ranges allowed even when `deniedAddresses` or `blockPrivateAddresses` covers them. */
  allowedAddresses?: readonly string[];
  /** Resolves host names instead of `dns.lookup` (same signature, always asked for all addresses). */
  lookup?: LookupFunction;
}

/** Environment variables {@link httpOptionsFromEnv} reads, with what each sets. */
export const HTTP_ENV_VARIABLES: Readonly<Record<string, string>> = {
  IMAGE_SERVICE_HTTP_CA: 'ca: CA certificates, PEM text or a path to a PEM file',
  IMAGE_SERVICE_HTTP_INSECURE: 'insecure: skip TLS verification (true/false)',
  IMAGE_SERVICE_HTTP_USER: 'user: HTTP basic auth user name',
  IMAGE_SERVICE_HTTP_PASSWORD: 'password: HTTP basic auth password',
  IMAGE_SERVICE_HTTP_BEARER_TOKEN: 'headers: sends "Authorization: Bearer <token>" to the href\'s origin',
  IMAGE_SERVICE_HTTP_HEADERS: 'headers: extra request headers, one "Name: value" per line',
  IMAGE_SERVICE_HTTP_CONNECT_TIMEOUT_MS: 'connectTimeoutMs',
  IMAGE_SERVICE_HTTP_HEADERS_TIMEOUT_MS: 'headersTimeoutMs',
  IMAGE_SERVICE_HTTP_RETRIES: 'retry.retries: retries of transient failures (0 turns them off)',
  IMAGE_SERVICE_HTTP_RETRY_MAX_DELAY_MS: 'retry.maxDelayMs: the longest backoff, also the cap on Retry-After',
  IMAGE_SERVICE_HTTP_MAX_REDIRECTS: 'maxRedirects',
  IMAGE_SERVICE_HTTP_TLS_MIN_VERSION: 'tlsMinVersion: TLSv1.2 or TLSv1.3 (1.2 and 1.3 also accepted)',
  IMAGE_SERVICE_HTTP_CIPHERS: 'ciphers: OpenSSL cipher list',
  IMAGE_SERVICE_HTTP_PROXY: 'proxy: "off" ignores the proxy variables; a URL is the proxy for http and https',
  IMAGE_SERVICE_HTTP_BLOCK_PRIVATE_ADDRESSES: 'blockPrivateAddresses (true/false)',
  IMAGE_SERVICE_HTTP_DENIED_ADDRESSES: 'deniedAddresses: comma-separated addresses or CIDR ranges',
  IMAGE_SERVICE_HTTP_ALLOWED_ADDRESSES: 'allowedAddresses: comma-separated addresses or CIDR ranges',
};

function envBoolean(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const value = env[name]?.trim().toLowerCase();
  if (!value) return undefined;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new TypeError(`${name} must be true or false, got "${env[name]}"`);
}

function envInteger(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = env[name]?.trim();
  if (!value) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new TypeError(`${name} must be a whole number >= 0, got "${env[name]}"`);
  }
  return Number(value);
}

function envList(env: NodeJS.ProcessEnv, name: string): string[] | undefined {
  const value = env[name]?.trim();
  if (!value) return undefined;
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
}

/** Parses `Name: value` lines into headers; throws a TypeError naming the line number of a malformed one. */
export function parseHeaderLines(text: string, source = 'headers'): Record<string, string> {
  const headers: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, index) => {
    if (!line.trim()) return;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new TypeError(`${source}: line ${index + 1} is not "Name: value"`);
    }
    headers[name] = line.slice(colon + 1).trim();
  });
  return headers;
}

/**
 * Options from environment variables (see {@link HTTP_ENV_VARIABLES}); unset variables leave the defaults. Throws a
 * TypeError naming the variable when a value is malformed (a secret's value is never quoted).
 */
export function httpOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): HttpOptions {
  const options: HttpOptions = {};
  const text = (name: string) => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const ca = text('IMAGE_SERVICE_HTTP_CA');
  if (ca !== undefined) options.ca = ca;
  const insecure = envBoolean(env, 'IMAGE_SERVICE_HTTP_INSECURE');
  if (insecure !== undefined) options.insecure = insecure;
  if (env.IMAGE_SERVICE_HTTP_USER) options.user = env.IMAGE_SERVICE_HTTP_USER;
  if (env.IMAGE_SERVICE_HTTP_PASSWORD) options.password = env.IMAGE_SERVICE_HTTP_PASSWORD;
  const headers: Record<string, string> = {};
  const headerLines = env.IMAGE_SERVICE_HTTP_HEADERS;
  if (headerLines?.trim())
    Object.assign(headers, parseHeaderLines(headerLines, 'IMAGE_SERVICE_HTTP_HEADERS'));
  const token = env.IMAGE_SERVICE_HTTP_BEARER_TOKEN?.trim();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (Object.keys(headers).length > 0) options.headers = headers;
  const connect = envInteger(env, 'IMAGE_SERVICE_HTTP_CONNECT_TIMEOUT_MS');
  if (connect !== undefined) options.connectTimeoutMs = connect;
  const headersTimeout = envInteger(env, 'IMAGE_SERVICE_HTTP_HEADERS_TIMEOUT_MS');
  if (headersTimeout !== undefined) options.headersTimeoutMs = headersTimeout;
  const retries = envInteger(env, 'IMAGE_SERVICE_HTTP_RETRIES');
  const maxDelayMs = envInteger(env, 'IMAGE_SERVICE_HTTP_RETRY_MAX_DELAY_MS');
  if (retries !== undefined || maxDelayMs !== undefined) {
    options.retry = {
      ...(retries !== undefined ? { retries } : {}),
      ...(maxDelayMs !== undefined ? { maxDelayMs } : {}),
    };
  }
  const maxRedirects = envInteger(env, 'IMAGE_SERVICE_HTTP_MAX_REDIRECTS');
  if (maxRedirects !== undefined) options.maxRedirects = maxRedirects;
  const minVersion = text('IMAGE_SERVICE_HTTP_TLS_MIN_VERSION');
  if (minVersion !== undefined) {
    const normalized = { '1.2': 'TLSv1.2', '1.3': 'TLSv1.3', 'tlsv1.2': 'TLSv1.2', 'tlsv1.3': 'TLSv1.3' }[
      minVersion.toLowerCase()
    ] as TlsMinVersion | undefined;
    if (!normalized) {
      throw new TypeError(
        `IMAGE_SERVICE_HTTP_TLS_MIN_VERSION must be TLSv1.2 or TLSv1.3, got "${minVersion}"`,
      );
    }
    options.tlsMinVersion = normalized;
  }
  const ciphers = text('IMAGE_SERVICE_HTTP_CIPHERS');
  if (ciphers !== undefined) options.ciphers = ciphers;
  const proxy = text('IMAGE_SERVICE_HTTP_PROXY');
  if (proxy !== undefined) {
    options.proxy = ['off', 'none', 'false', '0'].includes(proxy.toLowerCase())
      ? false
      : { httpProxy: proxy, httpsProxy: proxy, noProxy: env.no_proxy ?? env.NO_PROXY };
  }
  const block = envBoolean(env, 'IMAGE_SERVICE_HTTP_BLOCK_PRIVATE_ADDRESSES');
  if (block !== undefined) options.blockPrivateAddresses = block;
  const denied = envList(env, 'IMAGE_SERVICE_HTTP_DENIED_ADDRESSES');
  if (denied) options.deniedAddresses = denied;
  const allowed = envList(env, 'IMAGE_SERVICE_HTTP_ALLOWED_ADDRESSES');
  if (allowed) options.allowedAddresses = allowed;
  return options;
}
