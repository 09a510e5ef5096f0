import { readFileSync } from 'node:fs';
import {
  abortedError,
  createLogger,
  ImageNotAuthorized,
  ImageNotFound,
  ImageRefValidationFailed,
  ImageServiceError,
  waitFor,
  withAbort,
} from '@image-service/core';
import { Agent, type Dispatcher, request } from 'undici';
import { type GlanceRequestContext, globalRequestIdHeader } from './context.js';
import { GlanceConnectionFailed, KeystoneConnectionFailed } from './errors.js';
import { type Body, discard, errorText, networkReason, readText, retryAfterMs } from './http.js';
import {
  authSecrets,
  imageEndpointOf,
  KeystoneFailure,
  KeystoneSession,
  type KeystoneToken,
} from './keystone.js';
import type { GlanceClientOptions } from './options.js';

const log = createLogger('image-service:glance');
const BRAND = Symbol.for('@image-service/glance:client');
const USER_AGENT = 'image-service-glance/0.1';

/** A Glance v2 image record, as GET /v2/images/{id} returns it. */
export interface GlanceImage {
  /** The image id. */
  id: string;
  /** queued, saving, active, killed, deleted, pending_delete, deactivated, uploading, importing. */
  status: string;
  /** public, community, shared or private. */
  visibility?: string;
  /** The owning project's id. */
  owner?: string | null;
  /** Bytes of image data, null until uploaded. */
  size?: number | null;
  /** MD5 of the data (legacy). */
  checksum?: string | null;
  /** The algorithm of `os_hash_value` (sha512 by default). */
  os_hash_algo?: string | null;
  /** The multihash of the data. */
  os_hash_value?: string | null;
  /** When the record last changed. */
  updated_at?: string;
  /** Every other attribute and custom property. */
  [key: string]: unknown;
}

/** Who a call is made as and where it goes, once configuration, Keystone and the request context are combined. */
export interface GlanceCaller {
  /** The Glance endpoint (without a version suffix). */
  endpoint: string;
  /** The token sent as X-Auth-Token, if any. */
  token?: string;
  /** Whether the token is the client's own, which it may renew on a 401. */
  renewable: boolean;
  /** The caller's project id, for the access rules. */
  projectId?: string;
  /** The caller's role names. */
  roles: readonly string[];
  /** Whether the caller is an administrator. */
  isAdmin: boolean;
  /** Whether a token was held back because the href named an endpoint other than the configured or catalog one. */
  tokenWithheld?: boolean;
}

/** What one Glance call is about: the href (for errors), where to go, whose request it is. */
export interface GlanceCall {
  /** The href as the caller gave it; errors show it redacted. */
  imageHref: string;
  /** Hide the whole href in errors. */
  secret?: boolean;
  /** Ends the call early. */
  signal?: AbortSignal;
  /** An endpoint named by the href, used instead of the configured or catalog one. */
  endpoint?: string;
  /** The request context. */
  context?: GlanceRequestContext;
}

/** The base of a Glance endpoint URL: no trailing slash and no `/v1`, `/v2` or `/v2.x` suffix. */
export function glanceBaseUrl(endpoint: string): string {
  return endpoint
    .replace(/\/+$/, '')
    .replace(/\/v[12](\.\d+)?$/, '')
    .replace(/\/+$/, '');
}

/**
 * A Glance v2 client: one keep-alive undici Agent, Keystone v3 authentication with a cached token renewed once on a
 * 401, the image endpoint from the catalog (or configured), and errors mapped to image-service errors. Share one
 * client between services; each call may carry its own request context.
 */
export class GlanceClient {
  /** The options the client was built with. */
  readonly options: Readonly<GlanceClientOptions>;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #session: KeystoneSession | undefined;
  readonly #secrets: string[];
  readonly #timeoutMs: number;
  readonly #staticToken: string | undefined;

  constructor(options: GlanceClientOptions = {}) {
    this.options = { ...options };
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#secrets = authSecrets(options.auth);
    if (options.dispatcher) {
      this.#dispatcher = options.dispatcher;
      this.#ownsDispatcher = false;
    } else {
      const connect: Record<string, unknown> = { timeout: this.#timeoutMs };
      if (options.caCert) {
        try {
          connect.ca = readFileSync(options.caCert);
        } catch (error) {
          throw new TypeError(`Cannot read the CA bundle ${options.caCert}: ${(error as Error).message}`);
        }
      }
      if (options.insecure) connect.rejectUnauthorized = false;
      this.#dispatcher = new Agent({ connect, keepAliveTimeout: 30_000 });
      this.#ownsDispatcher = true;
    }
    const authType = options.auth?.authType?.toLowerCase().replace(/[-_]/g, '');
    const noAuth = authType === 'none' || authType === 'noauth';
    const tokenOnly = authType === 'admintoken' || authType === 'tokenendpoint';
    const authUrl = noAuth || tokenOnly ? undefined : options.auth?.authUrl;
    this.#staticToken = noAuth || authUrl ? undefined : options.auth?.token;
    this.#session = authUrl
      ? new KeystoneSession({ ...options.auth, authUrl }, (url, init) =>
          request(url, {
            dispatcher: this.#dispatcher,
            method: init.method,
            headers: { 'user-agent': USER_AGENT, ...init.headers },
            body: init.body,
            headersTimeout: this.#timeoutMs,
            bodyTimeout: this.#timeoutMs,
          }),
        )
      : undefined;
    if (!authUrl && !options.endpoint && !this.#staticToken) {
      log(
        'no endpoint and no Keystone configured: only glance://<host>/<id> hrefs and request contexts can work',
      );
    }
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** Whether `value` is a GlanceClient (of any installed copy of this package). */
  static isGlanceClient(value: unknown): value is GlanceClient {
    return typeof value === 'object' && value !== null && BRAND in value;
  }

  /** The client's own Keystone token (authenticating when none is cached), or undefined when it has no credentials. */
  async getToken(): Promise<string | undefined> {
    if (this.#session) return (await this.#session.token()).token;
    return this.#staticToken;
  }

  /** Who the call is made as and where it goes. Rejects with an image-service error. */
  async caller(call: GlanceCall): Promise<GlanceCaller> {
    const ctx = call.context;
    const hrefEndpoint = call.endpoint === undefined ? undefined : glanceBaseUrl(call.endpoint);
    const ownIdentity =
      ctx !== undefined &&
      (ctx.projectId !== undefined || ctx.roles !== undefined || ctx.isAdmin !== undefined);
    const identity = (info: KeystoneToken | undefined, fallbackProjectId?: string) => {
      const roles = ownIdentity ? (ctx.roles ?? []) : (info?.roles ?? []);
      return {
        projectId: ownIdentity ? ctx.projectId : (info?.projectId ?? fallbackProjectId),
        roles,
        isAdmin: ctx?.isAdmin ?? roles.includes('admin'),
      };
    };
    // With an href naming the endpoint, the catalog's is only needed to decide whether to trust it.
    const catalog = (info: KeystoneToken) =>
      hrefEndpoint === undefined
        ? this.#catalogEndpoint(info, call)
        : imageEndpointOf(info.catalog, this.options.interface ?? 'public', this.options.regionName);
    let token: string | undefined;
    let renewable = false;
    let trusted: string | undefined;
    let who: ReturnType<typeof identity>;
    if (ctx?.authToken) {
      const needInfo = !(hrefEndpoint ?? this.options.endpoint) || !ownIdentity;
      const info =
        needInfo && this.#session ? await this.#keystone(call, (s) => s.validate(ctx.authToken!)) : undefined;
      token = ctx.authToken;
      trusted = this.options.endpoint ?? (info ? catalog(info) : undefined);
      who = identity(info);
    } else if (this.#session) {
      const info = await this.#keystone(call, (s) => s.token());
      token = info.token;
      renewable = true;
      trusted = this.options.endpoint ?? catalog(info);
      who = identity(info);
    } else {
      token = this.#staticToken;
      trusted = this.options.endpoint;
      who = identity(undefined, this.options.auth?.projectId);
    }
    const endpoint = hrefEndpoint ?? (trusted === undefined ? undefined : glanceBaseUrl(trusted));
    if (endpoint === undefined) {
      throw new ImageServiceError({
        imageHref: call.imageHref,
        secret: call.secret,
        reason: this.#session
          ? 'No Glance endpoint: the Keystone catalog has none and no endpoint is configured'
          : 'No Glance endpoint is configured: set OS_IMAGE_URL (or the endpoint option), or configure Keystone (OS_AUTH_URL or OS_CLOUD)',
      });
    }
    // A token goes only to the configured or catalog endpoint: an href must not be able to send it to another host.
    const withheld =
      token !== undefined &&
      hrefEndpoint !== undefined &&
      !this.options.trustHrefEndpoints &&
      (trusted === undefined || new URL(hrefEndpoint).origin !== new URL(glanceBaseUrl(trusted)).origin);
    if (withheld)
      log(`not sending the token to ${hrefEndpoint}, which is not the configured or catalog endpoint`);
    return {
      endpoint,
      ...(token !== undefined && !withheld ? { token } : {}),
      renewable: renewable && !withheld,
      tokenWithheld: withheld,
      ...who,
    };
  }

  /**
   * GET /v2/images/{id}, retried `retries` times (default `numRetries`) after a connection failure or a 5xx. Rejects
   * with ImageNotFound (404), ImageNotAuthorized (401 after one renewal, 403), ImageRefValidationFailed (400) or
   * GlanceConnectionFailed.
   */
  async getImage(
    imageId: string,
    call: GlanceCall,
    retries = this.options.numRetries ?? 3,
  ): Promise<{ image: GlanceImage; caller: GlanceCaller }> {
    return this.#retrying(call, retries, async () => {
      const { response, caller } = await this.#send('GET', `/v2/images/${imageId}`, call);
      if (response.statusCode !== 200) throw await this.#statusError(response, call, caller);
      const image = await this.#json<GlanceImage>(response.body, call, caller);
      if (typeof image !== 'object' || image === null || typeof image.status !== 'string') {
        throw this.#connectionFailed(
          call,
          caller,
          'Glance answered with something that is not an image record',
        );
      }
      return { image, caller };
    });
  }

  /** GET /v2/images/{id}/members/{member}: the membership, or null when the project is not a member (404, 403). */
  async getMember(
    imageId: string,
    memberId: string,
    call: GlanceCall,
    retries = this.options.numRetries ?? 3,
  ): Promise<{ status?: string; member_id?: string } | null> {
    return this.#retrying(call, retries, async () => {
      const path = `/v2/images/${imageId}/members/${encodeURIComponent(memberId)}`;
      const { response, caller } = await this.#send('GET', path, call);
      if (response.statusCode === 404 || response.statusCode === 403) {
        discard(response.body);
        return null;
      }
      if (response.statusCode !== 200) throw await this.#statusError(response, call, caller);
      return this.#json<{ status?: string; member_id?: string }>(response.body, call, caller);
    });
  }

  /**
   * GET /v2/images/{id}/file, with `range` as the Range header when given. Resolves with a 200, 204, 206 or 416
   * response (the body is the caller's to consume); maps every other status to an image-service error.
   */
  async openFile(
    imageId: string,
    range: string | undefined,
    call: GlanceCall,
  ): Promise<Dispatcher.ResponseData> {
    const { response, caller } = await this.#send('GET', `/v2/images/${imageId}/file`, call, {
      headers: range ? { range, accept: 'application/octet-stream' } : { accept: 'application/octet-stream' },
      bodyTimeout: 0,
    });
    if ([200, 204, 206, 416].includes(response.statusCode)) return response;
    throw await this.#statusError(response, call, caller);
  }

  /** Closes the client's own Agent (not a dispatcher handed in). */
  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  async #send(
    method: 'GET',
    path: string,
    call: GlanceCall,
    extra: { headers?: Record<string, string>; bodyTimeout?: number } = {},
  ): Promise<{ response: Dispatcher.ResponseData; caller: GlanceCaller }> {
    for (let renewed = false; ; renewed = true) {
      const caller = await this.caller(call);
      const url = `${caller.endpoint}${path}`;
      const headers: Record<string, string> = {
        accept: 'application/json',
        'user-agent': USER_AGENT,
        ...extra.headers,
      };
      if (caller.token) headers['x-auth-token'] = caller.token;
      const requestId = globalRequestIdHeader(call.context);
      if (requestId) headers['x-openstack-request-id'] = requestId;
      let response: Dispatcher.ResponseData;
      try {
        response = await request(url, {
          dispatcher: this.#dispatcher,
          method,
          headers,
          signal: call.signal,
          headersTimeout: this.#timeoutMs,
          bodyTimeout: extra.bodyTimeout ?? this.#timeoutMs,
        });
      } catch (error) {
        log(`${method} ${url} failed: ${networkReason(error)}`, ...this.#secrets);
        throw this.#networkFailure(error, call, caller);
      }
      log(
        `${method} ${url}${extra.headers?.range ? ` (${extra.headers.range})` : ''} -> ${response.statusCode}`,
      );
      if (response.statusCode === 401 && caller.token) {
        if (caller.renewable && !renewed && this.#session) {
          discard(response.body);
          log('Glance refused the cached token (401): authenticating again');
          this.#session.invalidate(caller.token);
          continue;
        }
        if (!caller.renewable) this.#session?.forget(caller.token);
      }
      return { response, caller };
    }
  }

  async #statusError(
    response: Dispatcher.ResponseData,
    call: GlanceCall,
    caller: GlanceCaller,
  ): Promise<Error> {
    const status = response.statusCode;
    const secrets = caller.token ? [...this.#secrets, caller.token] : this.#secrets;
    const detail = errorText(await readText(response.body, 16 * 1024).catch(() => ''), secrets);
    const base = { imageHref: call.imageHref, secret: call.secret };
    const said = `Glance answered HTTP ${status}${detail ? `: ${detail}` : ''}`;
    if (status === 404) return new ImageNotFound(base);
    if (status === 401) {
      const whose = caller.tokenWithheld
        ? 'no token is sent to an endpoint named in an href unless it is the configured or catalog one, or trustHrefEndpoints is set'
        : caller.token === undefined
          ? 'no token was sent: configure Keystone, or pass a request context with a token'
          : caller.renewable
            ? 'even after authenticating again'
            : 'the token is not valid (expired or revoked)';
      return new ImageNotAuthorized({ ...base, reason: `${said} (${whose})` });
    }
    if (status === 403) return new ImageNotAuthorized({ ...base, reason: said });
    if (status >= 500 || status === 429) {
      return this.#connectionFailed(call, caller, said, { retryAfterMs: retryAfterMs(response.headers) });
    }
    return new ImageRefValidationFailed({ ...base, reason: said });
  }

  /** Glance could not be reached or answered with something unusable; this client's credentials are masked in it. */
  #connectionFailed(
    call: GlanceCall,
    caller: GlanceCaller,
    reason: string,
    extra: { cause?: unknown; retryAfterMs?: number } = {},
  ): GlanceConnectionFailed {
    return new GlanceConnectionFailed({
      endpoint: caller.endpoint,
      imageHref: call.imageHref,
      secret: call.secret,
      secrets: caller.token ? [...this.#secrets, caller.token] : this.#secrets,
      reason,
      ...extra,
    });
  }

  /** A failure of the connection itself: the caller's abort, or a `GlanceConnectionFailed` naming what broke. */
  #networkFailure(error: unknown, call: GlanceCall, caller: GlanceCaller): Error {
    if (call.signal?.aborted) return abortedError(call.signal, call.imageHref, call.secret);
    return this.#connectionFailed(call, caller, networkReason(error), { cause: error });
  }

  async #json<T>(body: Body, call: GlanceCall, caller: GlanceCaller): Promise<T> {
    let text: string;
    try {
      text = await readText(body, 8 * 1024 * 1024);
    } catch (error) {
      throw this.#networkFailure(error, call, caller);
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw this.#connectionFailed(call, caller, 'Glance answered with a body that is not JSON');
    }
  }

  async #retrying<T>(call: GlanceCall, retries: number, attempt: () => Promise<T>): Promise<T> {
    for (let failures = 0; ; failures++) {
      try {
        return await attempt();
      } catch (error) {
        const retryable =
          error instanceof GlanceConnectionFailed || error instanceof KeystoneConnectionFailed;
        if (!retryable || failures >= retries || call.signal?.aborted) throw error;
        const wait = Math.min(error.retryAfterMs ?? this.options.retryDelayMs ?? 1000, 60_000);
        log(`${error.message}; retry ${failures + 1} of ${retries} in ${wait} ms`);
        await waitFor(wait, call.signal, call.imageHref);
      }
    }
  }

  async #keystone<T>(call: GlanceCall, ask: (session: KeystoneSession) => Promise<T>): Promise<T> {
    const session = this.#session!;
    try {
      return await withAbort(call.signal, call.imageHref, () => ask(session), call.secret);
    } catch (error) {
      if (!(error instanceof KeystoneFailure)) throw error;
      const base = { imageHref: call.imageHref, secret: call.secret };
      log(`Keystone ${error.endpoint}: ${error.message}`, ...this.#secrets);
      if (error.kind === 'unauthorized') throw new ImageNotAuthorized({ ...base, reason: error.message });
      throw new KeystoneConnectionFailed({
        ...base,
        endpoint: error.endpoint,
        reason: error.message,
        retryAfterMs: error.retryAfterMs,
      });
    }
  }

  #catalogEndpoint(info: KeystoneToken, call: GlanceCall): string {
    const iface = this.options.interface ?? 'public';
    const region = this.options.regionName;
    const found = imageEndpointOf(info.catalog, iface, region);
    if (found) return found;
    throw new ImageServiceError({
      imageHref: call.imageHref,
      secret: call.secret,
      reason: `The Keystone catalog has no ${iface} image endpoint${region ? ` in region ${region}` : ''}${
        info.catalog.length === 0 ? ' (the token is unscoped: set a project)' : ''
      }`,
    });
  }
}
