import { lookup as dnsLookup } from 'node:dns';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectionOptions } from 'node:tls';
import {
  abortedError,
  BaseImageService,
  backoffDelay,
  createLogger,
  type DownloadOptions,
  type DownloadResult,
  ImageDownloadFailed,
  type ImageInfo,
  ImageRefIsARedirect,
  ImageRefValidationFailed,
  type ImageSink,
  type ImageStream,
  isImageServiceError,
  type ParallelOptions,
  type ReadRequest,
  type RetryOptions,
  type RetryPolicy,
  redactHref,
  retryPolicy,
  type ShowOptions,
  secretsOf,
  throwIfAborted,
  type ValidateOptions,
} from '@image-service/core';
import { Agent, type Dispatcher, ProxyAgent } from 'undici';
import {
  AddressPolicy,
  addressDeniedError,
  guardedLookup,
  type LookupFunction,
  lookupAll,
} from './addresses.js';
import {
  type FailureContext,
  networkFailure,
  type Phase,
  statusError,
  type TimeoutSettings,
} from './failures.js';
import {
  acceptsByteRanges,
  cacheControlDirectives,
  firstHeader,
  listHeader,
  parseContentLength,
  parseContentRange,
  parseHttpDate,
  type ResponseHeaders,
  sameVersion,
  validatorOf,
} from './headers.js';
import type { HttpOptions, TlsMinVersion } from './options.js';
import { normalizeProxyUrl, type ProxySettings, proxyFor, proxySettingsFromEnv } from './proxy.js';

const log = createLogger('image-service:http');

/** The URL schemes this driver serves. */
export const HTTP_SCHEMES: readonly string[] = ['http', 'https'];

/** The reference's single timeout, the default of each of the driver's timeouts. */
export const DEFAULT_HTTP_TIMEOUT_MS = 60_000;

/** Redirects followed by default. */
export const DEFAULT_MAX_REDIRECTS = 5;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** A body up to this size is read to the end so that its connection can be reused; a longer one is cut. */
const DISCARD_LIMIT = 64 * 1024;
const READ_HIGH_WATER_MARK = 1024 * 1024;
const EMPTY = new Uint8Array(0);
const NO_SIZE =
  'Cannot determine image size as there is no Content-Length header specified in response to HEAD request.';

/** What `validateHref` resolves with: the HEAD response. */
export interface HttpHeadResponse {
  /** The status: 200, or 403 for a directory href (ending in `/`). */
  status: number;
  /** The response headers, names in lower case. */
  headers: Record<string, string | string[]>;
  /** The href validated. */
  url: string;
}

/** An opened byte range of an http(s) image. */
export interface HttpImageStream extends ImageStream {
  /** Whether ranges of this version can be fetched: `Accept-Ranges: bytes` and a validator, or a 206 just now. */
  rangesSupported: boolean;
}

/** A request in flight: what it is about and what ends it. */
interface RequestContext extends FailureContext {
  /** Ends the request. */
  signal?: AbortSignal;
}

/** A response and the URL (after redirects) that gave it. */
interface Exchange {
  url: URL;
  response: Dispatcher.ResponseData;
}

function checkedMs(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0)
    throw new TypeError(`${name} must be a number of milliseconds >= 0`);
  return value;
}

function readCa(ca: string | undefined): string | undefined {
  if (ca === undefined) return undefined;
  if (ca.includes('-----BEGIN')) return ca;
  try {
    return readFileSync(ca, 'utf8');
  } catch (error) {
    throw new TypeError(
      `ca: cannot read the CA file ${ca} (${(error as NodeJS.ErrnoException).code ?? error})`,
    );
  }
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** `url` without userinfo and fragment: what is requested and compared. */
function bare(url: URL): URL {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  copy.hash = '';
  return copy;
}

function plainHeaders(headers: ResponseHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = value;
  return out;
}

async function discard(body: Dispatcher.ResponseData['body']): Promise<void> {
  await body.dump({ limit: DISCARD_LIMIT }).catch(() => {});
}

async function* nothing(): AsyncGenerator<Uint8Array> {}

/**
 * Provides retrieval of disk images over http and https (the seed's `HttpImageService`) on undici, with its own
 * keep-alive agent: bounded redirects that never carry credentials to another origin nor downgrade to http, resume
 * with `Range` pinned by `If-Range`, retries honouring Retry-After, connect and header timeouts, TLS options, proxies
 * and an optional address policy checked on the addresses actually connected to.
 */
export class HttpImageService extends BaseImageService {
  readonly name = 'http';
  readonly #timeouts: TimeoutSettings;
  readonly #maxRedirects: number;
  readonly #retry: RetryPolicy;
  readonly #downloadRetry: RetryOptions | false | undefined;
  readonly #parallel: ParallelOptions | false;
  readonly #tls: ConnectionOptions;
  readonly #basicAuth: string | undefined;
  readonly #configProblem: string | undefined;
  readonly #headers: Record<string, string>;
  readonly #userAgent: string;
  readonly #proxy: ProxySettings | false;
  readonly #policy: AddressPolicy;
  readonly #lookup: LookupFunction | undefined;
  readonly #custom: Dispatcher | undefined;
  readonly #configuredSecrets: string[];
  #direct: Agent | undefined;
  readonly #proxies = new Map<string, ProxyAgent>();

  constructor(options: HttpOptions = {}) {
    super();
    this.#timeouts = {
      connectTimeoutMs: checkedMs(options.connectTimeoutMs, 'connectTimeoutMs', DEFAULT_HTTP_TIMEOUT_MS),
      headersTimeoutMs: checkedMs(options.headersTimeoutMs, 'headersTimeoutMs', DEFAULT_HTTP_TIMEOUT_MS),
    };
    const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
    if (!Number.isInteger(maxRedirects) || maxRedirects < 0)
      throw new TypeError('maxRedirects must be an integer >= 0');
    this.#maxRedirects = maxRedirects;
    this.#retry = retryPolicy(options.retry);
    this.#downloadRetry = options.retry;
    this.#parallel = options.parallel ?? false;
    const minVersion: TlsMinVersion | undefined = options.tlsMinVersion;
    if (minVersion !== undefined && minVersion !== 'TLSv1.2' && minVersion !== 'TLSv1.3') {
      throw new TypeError('tlsMinVersion must be TLSv1.2 or TLSv1.3');
    }
    const ca = readCa(options.ca);
    this.#tls = {
      rejectUnauthorized: options.insecure !== true,
      ...(ca !== undefined ? { ca } : {}),
      ...(minVersion !== undefined ? { minVersion } : {}),
      ...(options.ciphers !== undefined ? { ciphers: options.ciphers } : {}),
    };
    const hasUser = options.user !== undefined && options.user !== '';
    const hasPassword = options.password !== undefined && options.password !== '';
    if (hasUser !== hasPassword) {
      this.#configProblem = `Missing [${hasUser ? 'password' : 'user'}] fields from HTTP(S) basic auth config`;
    } else if (hasUser && hasPassword) {
      this.#basicAuth = basic(options.user!, options.password!);
    }
    this.#headers = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
        throw new TypeError(`headers: "${name}" is not a header name`);
      if (/[\r\n\0]/.test(value)) throw new TypeError(`headers: the value of ${name} contains a line break`);
      this.#headers[name.toLowerCase()] = value;
    }
    this.#userAgent = options.userAgent ?? 'image-service';
    this.#proxy = options.proxy === false ? false : (options.proxy ?? proxySettingsFromEnv());
    this.#policy = new AddressPolicy(options);
    this.#lookup = options.lookup;
    this.#custom = options.dispatcher;
    this.#configuredSecrets = configuredSecrets(options, this.#basicAuth, this.#headers, this.#proxy);
  }

  /** Closes the connections the driver opened (not those of a dispatcher passed in). */
  async close(): Promise<void> {
    const closing: Promise<void>[] = [...this.#proxies.values()].map((agent) => agent.close());
    if (this.#direct) closing.push(this.#direct.close());
    this.#direct = undefined;
    this.#proxies.clear();
    await Promise.all(closing);
  }

  /**
   * A HEAD request that does not follow redirects. Resolves for 200, and for 403 on an href ending in `/` (a
   * directory that forbids HEAD). A redirect rejects with `ImageRefIsARedirect` carrying the absolute location; any
   * other status, or a network or TLS failure, with `ImageRefValidationFailed` (404: `ImageNotFound`, 401/403:
   * `ImageNotAuthorized`). With `secret`, no part of the href appears in any error.
   */
  async validateHref(imageHref: string, options: ValidateOptions = {}): Promise<HttpHeadResponse> {
    const context = this.#context(imageHref, 'validate', options.signal, options.secret);
    return this.#retrying(context, async () => {
      const start = this.#parse(context);
      const response = await this.#exchange(bare(start), 'HEAD', this.#headersFor(start, start, {}), context);
      await discard(response.body);
      const { statusCode: status, headers } = response;
      if (status === 200 || (status === 403 && start.pathname.endsWith('/'))) {
        return { status, headers: plainHeaders(headers), url: imageHref };
      }
      const location = firstHeader(headers, 'location');
      if (REDIRECT_STATUSES.has(status) && location !== undefined) {
        let target = location;
        try {
          target = new URL(location, start).href;
        } catch {
          // Not resolvable: pass it on as the server sent it.
        }
        throw new ImageRefIsARedirect({
          imageHref,
          secret: context.secret,
          secrets: context.secrets,
          location: target,
          status,
        });
      }
      throw statusError(status, 'HEAD', headers, context, this.#retry.maxDelayMs);
    });
  }

  /**
   * Size, last change, cache policy, ETag and properties (content type, accept-ranges), from a HEAD request that
   * follows redirects; when HEAD is refused or gives no length, from a `Range: bytes=0-0` GET.
   */
  async show(imageHref: string, options: ShowOptions = {}): Promise<ImageInfo> {
    const context = this.#context(imageHref, 'validate', options.signal);
    return this.#retrying(context, async () => {
      const head = await this.#follow(context, 'HEAD', {});
      await discard(head.response.body);
      const status = head.response.statusCode;
      let headers: ResponseHeaders = head.response.headers;
      let size: number | undefined;
      if (status === 200) {
        size = this.#contentLength(headers, 'HEAD', context);
      } else if (
        !(status === 405 || status === 501 || (status === 403 && !head.url.pathname.endsWith('/')))
      ) {
        throw statusError(status, 'HEAD', headers, context, this.#retry.maxDelayMs);
      }
      if (size === undefined) {
        const probe = await this.#follow(context, 'GET', { range: 'bytes=0-0' });
        await discard(probe.response.body);
        const probeHeaders = probe.response.headers;
        const range = parseContentRange(firstHeader(probeHeaders, 'content-range'));
        switch (probe.response.statusCode) {
          case 206:
            if (range?.kind === 'range' && range.total !== null) size = range.total;
            break;
          case 200:
            size = this.#contentLength(probeHeaders, 'GET', context);
            break;
          case 416:
            if (range?.kind === 'unsatisfied') size = range.total;
            break;
          default:
            throw statusError(
              probe.response.statusCode,
              'GET',
              probeHeaders,
              context,
              this.#retry.maxDelayMs,
            );
        }
        headers = status === 200 ? { ...probeHeaders, ...headers } : probeHeaders;
      }
      if (size === undefined) throw new ImageRefValidationFailed({ imageHref, reason: NO_SIZE });
      return imageInfo(size, headers);
    });
  }

  protected override parallelDefaults(): ParallelOptions | false {
    return this.#parallel;
  }

  /** Streams the image; the driver's `retry` option is the default of `options.retry`. */
  override transfer(
    imageHref: string,
    sink: ImageSink,
    options: DownloadOptions = {},
  ): Promise<DownloadResult> {
    const withDefaults = options.retry === undefined && this.#downloadRetry !== undefined;
    return super.transfer(
      imageHref,
      sink,
      withDefaults ? { ...options, retry: this.#downloadRetry } : options,
    );
  }

  /**
   * A GET of the bytes [offset, offset + length), following redirects. A resume sends `Range` with `If-Range` set to
   * the first response's validator and refuses to splice: another version of the image (a 200 or 206 with another
   * validator) throws with `mustRestart`; a 206 for other bytes than asked is an error; a server that ignores Range
   * but serves the same version has the bytes before `offset` skipped.
   */
  protected override async openRead(imageHref: string, request: ReadRequest): Promise<HttpImageStream> {
    const context = this.#context(imageHref, 'download', request.signal);
    throwIfAborted(request.signal, imageHref);
    const { offset, length, validator } = request;
    const ranged = offset > 0 || length !== undefined;
    if (offset > 0 && validator === undefined) {
      throw new ImageDownloadFailed({
        imageHref,
        reason:
          'the server sent neither a strong ETag nor a Last-Modified date, so resuming could splice two versions of the image',
        mustRestart: true,
        transient: true,
      });
    }
    const extra: Record<string, string> = {};
    if (ranged) {
      extra.range = `bytes=${offset}-${length === undefined ? '' : offset + length - 1}`;
      if (validator !== undefined) extra['if-range'] = validator;
    }
    const { response } = await this.#follow(context, 'GET', extra, 0);
    const { statusCode: status, headers, body } = response;
    try {
      const changed = () =>
        new ImageDownloadFailed({
          imageHref,
          reason: 'the image changed since the download started (the server sent another version of it)',
          mustRestart: true,
          transient: true,
        });
      if (status === 200) {
        const total = this.#contentLength(headers, 'GET', context);
        if (ranged && validator !== undefined && !sameVersion(headers, validator)) throw changed();
        if (total !== undefined && offset > total) throw changed();
        const take = length ?? (total === undefined ? undefined : total - offset);
        const pinnedTo = validatorOf(headers);
        return {
          body: this.#read(body, context, { skip: offset, take, cut: length !== undefined }),
          size: total ?? null,
          validator: pinnedTo,
          // Ranges of a version that cannot be pinned could mix two versions: they are not offered.
          rangesSupported: acceptsByteRanges(headers) && pinnedTo !== undefined,
        };
      }
      if (status === 206 && ranged) {
        const rangeHeader = firstHeader(headers, 'content-range');
        const range = parseContentRange(rangeHeader);
        const wantedEnd = length !== undefined ? offset + length - 1 : undefined;
        if (
          range?.kind !== 'range' ||
          range.start !== offset ||
          (wantedEnd !== undefined && range.end !== wantedEnd) ||
          (wantedEnd === undefined && range.total !== null && range.end !== range.total - 1)
        ) {
          throw new ImageDownloadFailed({
            imageHref,
            reason: `the server answered a request for bytes ${extra.range?.slice(6)} with Content-Range "${rangeHeader ?? ''}"`,
          });
        }
        const span = range.end - range.start + 1;
        const announced = this.#contentLength(headers, 'GET', context);
        if (announced !== undefined && announced !== span) {
          throw new ImageDownloadFailed({
            imageHref,
            reason: `the server's Content-Length ${announced} does not match its Content-Range "${rangeHeader}"`,
          });
        }
        if (validator !== undefined && contradicts(headers, validator)) throw changed();
        return {
          body: this.#read(body, context, { skip: 0, take: span, cut: false }),
          size: range.total,
          validator: validator ?? validatorOf(headers),
          rangesSupported: true,
        };
      }
      if (status === 416 && ranged) {
        const range = parseContentRange(firstHeader(headers, 'content-range'));
        if (range?.kind === 'unsatisfied' && range.total === offset && length === undefined) {
          await discard(body);
          return { body: nothing(), size: range.total, validator, rangesSupported: true };
        }
        throw changed();
      }
      throw statusError(status, 'GET', headers, context, this.#retry.maxDelayMs);
    } catch (error) {
      await discard(body);
      throw error;
    }
  }

  #context(imageHref: string, phase: Phase, signal?: AbortSignal, secret?: boolean): RequestContext {
    throwIfAborted(signal, imageHref, secret);
    return { imageHref, phase, secret: secret ?? false, signal, secrets: this.#credentialsFor(imageHref) };
  }

  /**
   * The credentials a request for `imageHref` carries, as they go on the wire (the href's own secrets, the Authorization
   * value and its token, the configured headers' values, proxy passwords), so that a server or a library quoting them
   * back is masked.
   */
  #credentialsFor(imageHref: string): string[] {
    const found = new Set(this.#configuredSecrets);
    for (const secret of secretsOf(imageHref)) found.add(secret);
    if (typeof imageHref === 'string' && isCanonicalUrlForm(imageHref)) {
      try {
        const url = new URL(imageHref);
        const authorization = this.#headersFor(url, url, {}).authorization;
        if (authorization) for (const form of headerSecretForms(authorization)) found.add(form);
      } catch {
        // Not a URL: nothing is sent.
      }
    }
    // A server may quote them back percent-encoded (in a Location, say).
    for (const form of [...found]) found.add(encodeURIComponent(form));
    return [...found];
  }

  /** The href as a URL, or `ImageRefValidationFailed` saying why it is none the driver serves. */
  #parse(context: RequestContext): URL {
    const fail = (reason: string) =>
      new ImageRefValidationFailed({ imageHref: context.imageHref, secret: context.secret, reason });
    if (this.#configProblem) throw fail(this.#configProblem);
    if (typeof context.imageHref !== 'string') throw fail('The image href is not a string.');
    if (!isCanonicalUrlForm(context.imageHref)) {
      throw new ImageRefValidationFailed({
        imageHref: context.imageHref,
        secret: true,
        reason:
          'The image href is not a valid URL of the form http(s)://host/path: it has control characters, a backslash, ' +
          'surrounding spaces, or other than two slashes after the scheme (it is not shown, as a credential in it ' +
          'could not be reliably masked).',
      });
    }
    let url: URL;
    try {
      url = new URL(context.imageHref);
    } catch {
      throw fail('The image href is not a valid URL.');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw fail(`The ${url.protocol.slice(0, -1)} scheme is not served by the http driver.`);
    }
    if (!url.hostname) throw fail('The URL has no host.');
    return url;
  }

  /** Headers for a request to `url`: credentials and the configured headers only while on the href's origin. */
  #headersFor(url: URL, start: URL, extra: Record<string, string>): Record<string, string> {
    const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': this.#userAgent };
    if (url.origin === start.origin) {
      Object.assign(headers, this.#headers);
      if (start.username !== '' || start.password !== '') {
        headers.authorization = basic(decoded(start.username), decoded(start.password));
      } else if (this.#basicAuth) {
        headers.authorization = this.#basicAuth;
      }
    }
    return Object.assign(headers, extra);
  }

  /** Follows redirects from the href: bounded, loop-detected, http(s) only, never from https down to http. */
  async #follow(
    context: RequestContext,
    method: 'GET' | 'HEAD',
    extra: Record<string, string>,
    bodyTimeout?: number,
  ): Promise<Exchange> {
    const start = this.#parse(context);
    let url = bare(start);
    const visited = new Set([url.href]);
    for (let redirects = 0; ; redirects++) {
      const response = await this.#exchange(
        url,
        method,
        this.#headersFor(url, start, extra),
        context,
        bodyTimeout,
      );
      const location = firstHeader(response.headers, 'location');
      if (!REDIRECT_STATUSES.has(response.statusCode) || location === undefined) return { url, response };
      await discard(response.body);
      const next = this.#redirectTarget(location, url, context);
      const fail = (reason: string) =>
        new ImageRefValidationFailed({ imageHref: context.imageHref, secret: context.secret, reason });
      if (visited.has(next.href))
        throw fail(`redirect loop: redirect ${redirects + 1} leads back to a URL already visited`);
      if (redirects >= this.#maxRedirects) throw fail(`more than ${this.#maxRedirects} redirects`);
      visited.add(next.href);
      url = next;
    }
  }

  #redirectTarget(location: string, from: URL, context: RequestContext): URL {
    const fail = (reason: string) =>
      new ImageRefValidationFailed({ imageHref: context.imageHref, secret: context.secret, reason });
    let next: URL;
    try {
      next = new URL(location, from);
    } catch {
      throw fail('the server redirected to an invalid URL');
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw fail(
        `refused a redirect to a ${next.protocol.slice(0, -1)}: URL (only http and https are followed)`,
      );
    }
    if (from.protocol === 'https:' && next.protocol === 'http:') {
      throw fail('refused a redirect from https to plain http');
    }
    return bare(next);
  }

  /** One request, no redirects followed; network and TLS failures become the phase's error. */
  async #exchange(
    url: URL,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
    context: RequestContext,
    bodyTimeout: number = this.#timeouts.headersTimeoutMs,
  ): Promise<Dispatcher.ResponseData> {
    try {
      const { dispatcher, guarded } = this.#dispatcherFor(url);
      await this.#checkAddress(url, guarded);
      const response = await dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        signal: context.signal,
        headersTimeout: this.#timeouts.headersTimeoutMs,
        bodyTimeout,
        highWaterMark: READ_HIGH_WATER_MARK,
      });
      log(`${method} ${shownUrl(url, context)} -> ${response.statusCode}`, ...(context.secrets ?? []));
      return response;
    } catch (error) {
      if (context.signal?.aborted) throw abortedError(context.signal, context.imageHref, context.secret);
      if (isImageServiceError(error)) throw error;
      log(
        `${method} ${shownUrl(url, context)} failed: ${(error as Error)?.message}`,
        ...secretsOfContext(context),
        ...(context.secrets ?? []),
      );
      throw networkFailure(error, context, this.#timeouts);
    }
  }

  /**
   * The dispatcher for `url`, and whether its connections check the address policy themselves (the driver's own agent
   * does, in its lookup; a proxy or a dispatcher passed in cannot).
   */
  #dispatcherFor(url: URL): { dispatcher: Dispatcher; guarded: boolean } {
    if (this.#custom) return { dispatcher: this.#custom, guarded: false };
    const proxy = this.#proxy ? proxyFor(url, this.#proxy) : undefined;
    const timeouts = {
      headersTimeout: this.#timeouts.headersTimeoutMs,
      bodyTimeout: this.#timeouts.headersTimeoutMs,
    };
    if (proxy) {
      let agent = this.#proxies.get(proxy);
      if (!agent) {
        agent = new ProxyAgent({
          uri: proxy,
          ...timeouts,
          requestTls: { ...this.#tls, timeout: this.#timeouts.connectTimeoutMs },
          proxyTls: { timeout: this.#timeouts.connectTimeoutMs },
        });
        this.#proxies.set(proxy, agent);
      }
      return { dispatcher: agent, guarded: false };
    }
    const lookup =
      this.#policy.active || this.#lookup ? guardedLookup(this.#policy, this.#lookup) : undefined;
    this.#direct ??= new Agent({
      ...timeouts,
      connect: { ...this.#tls, timeout: this.#timeouts.connectTimeoutMs, ...(lookup ? { lookup } : {}) },
    });
    return { dispatcher: this.#direct, guarded: true };
  }

  /** Applies the address policy before connecting: to an address literal, and to every address when unguarded. */
  async #checkAddress(url: URL, guarded: boolean): Promise<void> {
    if (!this.#policy.active) return;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    let addresses: string[];
    if (isIP(host)) addresses = [host];
    else if (guarded) return;
    else {
      const resolve = this.#lookup ?? (dnsLookup as unknown as LookupFunction);
      addresses = (await lookupAll(resolve, host)).map((entry) => entry.address);
    }
    const denied = addresses.filter((address) => !this.#policy.allows(address));
    if (denied.length > 0) throw addressDeniedError(denied);
  }

  #contentLength(headers: ResponseHeaders, method: string, context: RequestContext): number | undefined {
    const text = firstHeader(headers, 'content-length');
    const length = parseContentLength(text);
    if (length !== 'invalid') return length;
    const Failure = context.phase === 'download' ? ImageDownloadFailed : ImageRefValidationFailed;
    throw new Failure({
      imageHref: context.imageHref,
      secret: context.secret,
      reason: `the Content-Length "${String(text).slice(0, 40)}" in response to ${method} request is not a valid size`,
    });
  }

  /**
   * The body's bytes after the first `skip`, at most `take` of them: more than `take` is an error unless `cut` (then the
   * rest is dropped), fewer is a transient error; network failures become typed errors.
   */
  async *#read(
    body: Readable,
    context: RequestContext,
    window: { skip: number; take: number | undefined; cut: boolean },
  ): AsyncGenerator<Uint8Array> {
    let skip = window.skip;
    let delivered = 0;
    const { take } = window;
    const fail = (reason: string, transient: boolean) =>
      new ImageDownloadFailed({ imageHref: context.imageHref, reason, transient });
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        let data: Uint8Array = chunk;
        if (skip > 0) {
          if (data.byteLength <= skip) {
            skip -= data.byteLength;
            // Skipped bytes are still progress: an empty chunk tells the core's idle timeout so.
            yield EMPTY;
            continue;
          }
          data = data.subarray(skip);
          skip = 0;
        }
        if (take !== undefined && delivered + data.byteLength > take) {
          if (!window.cut) throw fail(`the server sent more than the ${take} bytes it announced`, false);
          data = data.subarray(0, take - delivered);
        }
        delivered += data.byteLength;
        if (data.byteLength > 0) yield data;
        if (window.cut && delivered === take) return;
      }
    } catch (error) {
      if (isImageServiceError(error)) throw error;
      throw networkFailure(error, context, this.#timeouts);
    } finally {
      if (!body.readableEnded) body.destroy();
    }
    if (skip > 0 || (take !== undefined && delivered < take)) {
      throw fail(`the connection closed after ${delivered} of ${take ?? '?'} bytes`, true);
    }
  }

  /** Runs a metadata request, retrying transient failures with backoff and the server's Retry-After. */
  async #retrying<T>(context: RequestContext, operation: () => Promise<T>): Promise<T> {
    for (let failures = 1; ; failures++) {
      try {
        return await operation();
      } catch (error) {
        if (context.signal?.aborted) throw abortedError(context.signal, context.imageHref, context.secret);
        if (!isImageServiceError(error) || !error.transient || failures > this.#retry.retries) throw error;
        const delay = backoffDelay(failures, this.#retry, error.retryAfterMs);
        log(`retry ${failures} of ${this.#retry.retries} in ${delay} ms: ${error.reason}`);
        try {
          await sleep(delay, undefined, { signal: context.signal });
        } catch {
          throw abortedError(context.signal!, context.imageHref, context.secret);
        }
      }
    }
  }
}

/**
 * Whether an href reads the same to the URL parser as to a reader (and to redaction): the parser drops tabs and line
 * breaks, trims spaces and control characters, takes a backslash for a slash and skips any number of slashes after the
 * scheme, so `http:\\user:pw@host` would send a password that no redaction recognises as one.
 */
function isCanonicalUrlForm(href: string): boolean {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]/i.test(href) || /\s$/.test(href)) return false;
  for (let index = 0; index < href.length; index++) {
    const code = href.charCodeAt(index);
    if (code < 0x20 || code === 0x7f || code === 0x5c) return false;
  }
  return true;
}

/** A URL as a log line may show it: redacted here, where the URL is known, rather than found again in free text. */
function shownUrl(url: URL, context: RequestContext): string {
  return context.secret ? '***' : redactHref(url.href);
}

/** A header value and, for `<scheme> <token>` (Basic, Bearer), the token alone: the forms it may be quoted in. */
function headerSecretForms(value: string): string[] {
  const token = /^\S+\s+(\S.*)$/.exec(value.trim())?.[1];
  return [value, ...(token ? [token] : [])].filter((form) => form.length >= 6);
}

/** The credentials the options configure, in every form they may be quoted in. */
function configuredSecrets(
  options: HttpOptions,
  basicAuth: string | undefined,
  headers: Record<string, string>,
  proxy: ProxySettings | false,
): string[] {
  const found = new Set<string>();
  if (options.password && options.password.length >= 3) found.add(options.password);
  for (const value of [basicAuth, ...Object.values(headers)]) {
    if (value) for (const form of headerSecretForms(value)) found.add(form);
  }
  for (const proxyUrl of proxy ? [proxy.httpProxy, proxy.httpsProxy] : []) {
    if (!proxyUrl) continue;
    try {
      const { username, password } = new URL(normalizeProxyUrl(proxyUrl));
      // The password, or a lone user name (often a token), as written and decoded.
      const secret = password || username;
      for (const part of [secret, decoded(secret)]) if (part.length >= 3) found.add(part);
    } catch {
      // Not a URL: undici will refuse it.
    }
  }
  return [...found];
}

function secretsOfContext(context: RequestContext): string[] {
  if (!context.secret) return [];
  try {
    const url = new URL(context.imageHref);
    return [context.imageHref, url.host, url.hostname, url.pathname, url.search].filter(
      (part) => part.length > 2,
    );
  } catch {
    return [context.imageHref];
  }
}

/** Whether a 206's validator says it is another version than `validator` (a missing one does not). */
function contradicts(headers: ResponseHeaders, validator: string): boolean {
  const field = validator.startsWith('"') ? 'etag' : 'last-modified';
  const value = firstHeader(headers, field)?.trim();
  return value !== undefined && value !== validator;
}

function imageInfo(size: number, headers: ResponseHeaders): ImageInfo {
  const properties: Record<string, unknown> = {};
  const contentType = firstHeader(headers, 'content-type');
  if (contentType !== undefined) properties.contentType = contentType;
  const acceptRanges = listHeader(headers, 'accept-ranges');
  if (acceptRanges !== undefined) properties.acceptRanges = acceptRanges;
  const contentEncoding = firstHeader(headers, 'content-encoding');
  if (contentEncoding !== undefined) properties.contentEncoding = contentEncoding;
  const info: ImageInfo = {
    size,
    updatedAt: parseHttpDate(firstHeader(headers, 'last-modified')),
    properties,
    noCache: cacheControlDirectives(listHeader(headers, 'cache-control')).has('no-store'),
  };
  const etag = firstHeader(headers, 'etag');
  if (etag !== undefined) info.etag = etag;
  return info;
}
