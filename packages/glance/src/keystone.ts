import { createHash } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { errorText, header, networkReason, readText, retryAfterMs } from './http.js';
import type { GlanceInterface, KeystoneAuthOptions } from './options.js';

/** One endpoint of a service in a Keystone v3 catalog. */
export interface CatalogEndpoint {
  /** `public`, `internal` or `admin`. */
  interface?: string;
  /** The region's id. */
  region_id?: string;
  /** The region's name (older Keystones). */
  region?: string;
  /** The endpoint's URL. */
  url: string;
}

/** One service of a Keystone v3 catalog. */
export interface CatalogService {
  /** The service type, such as `image`. */
  type: string;
  /** Where the service answers. */
  endpoints: CatalogEndpoint[];
}

/** A Keystone token and what Keystone said about it. */
export interface KeystoneToken {
  /** The token (X-Subject-Token). Never print it. */
  token: string;
  /** When it expires (ms since the epoch), or null when Keystone did not say. */
  expiresAt: number | null;
  /** The project it is scoped to. */
  projectId?: string;
  /** The user it belongs to. */
  userId?: string;
  /** Its role names. */
  roles: string[];
  /** The service catalog that came with it. */
  catalog: CatalogService[];
}

/** Why Keystone gave no token; the client turns it into an image-service error for the href at hand. */
export class KeystoneFailure extends Error {
  constructor(
    /** `unauthorized`: the credentials were refused; `unavailable`: Keystone could not be reached or failed (5xx). */
    readonly kind: 'unauthorized' | 'unavailable',
    message: string,
    /** The Keystone URL that was asked. */
    readonly endpoint: string,
    /** The server's Retry-After, in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'KeystoneFailure';
  }
}

/** Sends one request to Keystone (the client's dispatcher, timeouts and TLS). */
export type KeystoneSender = (
  url: string,
  init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
) => Promise<Dispatcher.ResponseData>;

/** `password`, `token` or `applicationcredential`, from the auth type or, when unset, from the credentials present. */
export function authMethodOf(auth: KeystoneAuthOptions): 'password' | 'token' | 'applicationcredential' {
  const type = auth.authType?.toLowerCase().replace(/[-_]/g, '');
  if (type !== undefined) {
    if (type === 'password' || type === 'v3password') return 'password';
    if (type === 'token' || type === 'v3token') return 'token';
    if (type === 'applicationcredential' || type === 'v3applicationcredential')
      return 'applicationcredential';
    throw new TypeError(
      `The Keystone auth type "${auth.authType}" is not supported (password, token or applicationcredential)`,
    );
  }
  if (auth.applicationCredentialSecret !== undefined) return 'applicationcredential';
  if (auth.password !== undefined) return 'password';
  if (auth.token !== undefined) return 'token';
  throw new TypeError(
    'Keystone credentials are incomplete: give a password, a token or an application credential (OS_PASSWORD, OS_TOKEN, OS_APPLICATION_CREDENTIAL_SECRET)',
  );
}

/** Keystone's v3 URL: the auth URL as given when its path ends with /v3, else with /v3 appended. */
export function keystoneV3Url(authUrl: string): string {
  const trimmed = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

/** The secrets in a set of credentials, to mask wherever text might quote them. */
export function authSecrets(auth: KeystoneAuthOptions | undefined): string[] {
  return [auth?.password, auth?.token, auth?.applicationCredentialSecret].filter(
    (value): value is string => typeof value === 'string' && value.length > 0,
  );
}

function domainOf(id: string | undefined, name: string | undefined, auth: KeystoneAuthOptions) {
  if (id) return { id };
  if (name) return { name };
  if (auth.domainId) return { id: auth.domainId };
  if (auth.domainName) return { name: auth.domainName };
  return { id: 'default' };
}

function userOf(auth: KeystoneAuthOptions): Record<string, unknown> {
  if (auth.userId) return { id: auth.userId };
  if (auth.username)
    return { name: auth.username, domain: domainOf(auth.userDomainId, auth.userDomainName, auth) };
  throw new TypeError(
    'Keystone credentials are incomplete: give a user name or id (OS_USERNAME, OS_USER_ID)',
  );
}

function scopeOf(auth: KeystoneAuthOptions): Record<string, unknown> | undefined {
  if (auth.projectId) return { project: { id: auth.projectId } };
  if (auth.projectName) {
    return {
      project: {
        name: auth.projectName,
        domain: domainOf(auth.projectDomainId, auth.projectDomainName, auth),
      },
    };
  }
  return undefined;
}

/** The body of POST /v3/auth/tokens for these credentials. Throws a TypeError when they are incomplete. */
export function authRequestBody(auth: KeystoneAuthOptions): Record<string, unknown> {
  const method = authMethodOf(auth);
  let identity: Record<string, unknown>;
  if (method === 'password') {
    if (auth.password === undefined)
      throw new TypeError('Keystone password auth needs a password (OS_PASSWORD)');
    identity = { methods: ['password'], password: { user: { ...userOf(auth), password: auth.password } } };
  } else if (method === 'token') {
    if (auth.token === undefined) throw new TypeError('Keystone token auth needs a token (OS_TOKEN)');
    identity = { methods: ['token'], token: { id: auth.token } };
  } else {
    const secret = auth.applicationCredentialSecret;
    if (secret === undefined) {
      throw new TypeError('Application credential auth needs its secret (OS_APPLICATION_CREDENTIAL_SECRET)');
    }
    let credential: Record<string, unknown>;
    if (auth.applicationCredentialId) credential = { id: auth.applicationCredentialId, secret };
    else if (auth.applicationCredentialName)
      credential = { name: auth.applicationCredentialName, secret, user: userOf(auth) };
    else {
      throw new TypeError(
        'Application credential auth needs its id, or its name and the user (OS_APPLICATION_CREDENTIAL_ID)',
      );
    }
    // An application credential carries its own scope; Keystone refuses another one.
    return {
      auth: { identity: { methods: ['application_credential'], application_credential: credential } },
    };
  }
  const scope = scopeOf(auth);
  return { auth: scope ? { identity, scope } : { identity } };
}

/** The image endpoint of a catalog for an interface (default public) and, when given, a region. */
export function imageEndpointOf(
  catalog: readonly CatalogService[],
  iface: GlanceInterface = 'public',
  region?: string,
): string | undefined {
  for (const service of catalog) {
    if (service.type !== 'image' || !Array.isArray(service.endpoints)) continue;
    const found = service.endpoints.find(
      (endpoint) =>
        (endpoint.interface ?? 'public').replace(/URL$/, '') === iface &&
        (region === undefined || endpoint.region_id === region || endpoint.region === region) &&
        typeof endpoint.url === 'string',
    );
    if (found) return found.url;
  }
  return undefined;
}

interface KeystoneResponse {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  text: string;
}

const STALE_MS = 30_000;
const VALIDATED_MAX = 256;

interface TokenBody {
  token?: {
    expires_at?: string;
    project?: { id?: string };
    user?: { id?: string };
    roles?: { name?: string }[];
    catalog?: CatalogService[];
  };
}

/**
 * A Keystone v3 session: authenticates with the configured credentials, caches the token until shortly before it
 * expires (concurrent callers share one request), renews it on demand, and validates users' tokens (cached too).
 */
export class KeystoneSession {
  /** Keystone's v3 URL. */
  readonly url: string;
  readonly #auth: KeystoneAuthOptions;
  readonly #send: KeystoneSender;
  readonly #secrets: string[];
  #value: KeystoneToken | undefined;
  #pending: Promise<KeystoneToken> | undefined;
  readonly #validated = new Map<string, Promise<KeystoneToken>>();

  constructor(auth: KeystoneAuthOptions & { authUrl: string }, send: KeystoneSender) {
    this.url = keystoneV3Url(auth.authUrl);
    this.#auth = auth;
    this.#send = send;
    this.#secrets = authSecrets(auth);
    if (auth.authType !== undefined) authMethodOf(auth);
  }

  /** The session's token, from the cache unless it expires within 30 s; concurrent callers share one request. */
  token(): Promise<KeystoneToken> {
    if (this.#value && !isStale(this.#value)) return Promise.resolve(this.#value);
    this.#value = undefined;
    this.#pending ??= this.#authenticate()
      .then((value) => {
        this.#value = value;
        return value;
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }

  /** Forgets `token` (Glance refused it), so the next {@link token} call authenticates again. */
  invalidate(token: string): void {
    if (this.#value?.token === token) this.#value = undefined;
  }

  /** What Keystone says of a user's token (project, roles, catalog); cached until it expires. */
  validate(userToken: string): Promise<KeystoneToken> {
    const key = createHash('sha256').update(userToken).digest('hex');
    const cached = this.#validated.get(key);
    if (cached) return cached;
    if (this.#validated.size >= VALIDATED_MAX) {
      const oldest = this.#validated.keys().next().value;
      if (oldest !== undefined) this.#validated.delete(oldest);
    }
    const promise = this.#validate(userToken, userToken);
    this.#validated.set(key, promise);
    promise.then(
      (value) => {
        const ttl = value.expiresAt === null ? 300_000 : value.expiresAt - Date.now() - STALE_MS;
        setTimeout(
          () => this.#validated.get(key) === promise && this.#validated.delete(key),
          Math.max(0, ttl),
        ).unref();
      },
      () => this.#validated.get(key) === promise && this.#validated.delete(key),
    );
    return promise;
  }

  /** Forgets a cached validation of a user's token (Glance refused it). */
  forget(userToken: string): void {
    this.#validated.delete(createHash('sha256').update(userToken).digest('hex'));
  }

  async #authenticate(): Promise<KeystoneToken> {
    const auth = this.#auth;
    const url = `${this.url}/auth/tokens`;
    let body: string;
    try {
      body = JSON.stringify(authRequestBody(auth));
    } catch (error) {
      throw new KeystoneFailure('unauthorized', (error as Error).message, url);
    }
    if (authMethodOf(auth) === 'token' && auth.token !== undefined && scopeOf(auth) === undefined) {
      // A token and no scope to exchange it for: use it as it is, learning its catalog and scope from Keystone.
      return this.#validate(auth.token, auth.token);
    }
    const response = await this.#request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body,
    });
    const token = header(response.headers, 'x-subject-token');
    if (response.status !== 201 || !token) throw this.#failure(url, response);
    return parseToken(token, response.text, url);
  }

  async #validate(asToken: string, subject: string): Promise<KeystoneToken> {
    const url = `${this.url}/auth/tokens`;
    const response = await this.#request(url, {
      method: 'GET',
      headers: { 'x-auth-token': asToken, 'x-subject-token': subject, accept: 'application/json' },
    });
    if (response.status !== 200) {
      if (response.status === 404) {
        throw new KeystoneFailure(
          'unauthorized',
          'Keystone says the token is not valid (expired or revoked)',
          url,
        );
      }
      throw this.#failure(url, response);
    }
    return parseToken(subject, response.text, url);
  }

  async #request(url: string, init: Parameters<KeystoneSender>[1]): Promise<KeystoneResponse> {
    try {
      const response = await this.#send(url, init);
      const text = await readText(response.body, 4 * 1024 * 1024);
      return { status: response.statusCode, headers: response.headers, text };
    } catch (error) {
      throw new KeystoneFailure('unavailable', networkReason(error), url);
    }
  }

  #failure(url: string, { status, headers, text }: KeystoneResponse): KeystoneFailure {
    const detail = errorText(text, this.#secrets);
    const reason = `Keystone answered HTTP ${status}${detail ? `: ${detail}` : ''}`;
    if (status >= 500 || status === 429)
      return new KeystoneFailure('unavailable', reason, url, retryAfterMs(headers));
    return new KeystoneFailure('unauthorized', reason, url);
  }
}

function isStale(token: KeystoneToken): boolean {
  return token.expiresAt !== null && token.expiresAt - Date.now() < STALE_MS;
}

function parseToken(token: string, text: string, url: string): KeystoneToken {
  let body: TokenBody;
  try {
    body = JSON.parse(text) as TokenBody;
  } catch {
    throw new KeystoneFailure('unavailable', 'Keystone answered with a token body that is not JSON', url);
  }
  const info = body.token ?? {};
  const expires = info.expires_at ? Date.parse(info.expires_at) : Number.NaN;
  const result: KeystoneToken = {
    token,
    expiresAt: Number.isNaN(expires) ? null : expires,
    roles: (info.roles ?? [])
      .map((role) => role.name)
      .filter((name): name is string => typeof name === 'string'),
    catalog: Array.isArray(info.catalog) ? info.catalog : [],
  };
  if (info.project?.id) result.projectId = info.project.id;
  if (info.user?.id) result.userId = info.user.id;
  return result;
}
