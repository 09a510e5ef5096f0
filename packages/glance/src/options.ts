import type { Dispatcher } from 'undici';

/** A catalog interface to take the image endpoint from. */
export type GlanceInterface = 'public' | 'internal' | 'admin';

/** Keystone v3 credentials, as the OpenStack tools take them (OS_* variables, clouds.yaml `auth:`). */
export interface KeystoneAuthOptions {
  /** Keystone's URL (OS_AUTH_URL); `/v3` is appended unless the path already ends with it. Absent: `token` is sent as is. */
  authUrl?: string;
  /** `password`, `token`, `applicationcredential` (or their `v3` names); `admin_token` sends `token` as is; `none` skips auth. Inferred from the credentials when unset. */
  authType?: string;
  /** The user's name (OS_USERNAME). */
  username?: string;
  /** The user's id, instead of a name and domain (OS_USER_ID). */
  userId?: string;
  /** The user's password (OS_PASSWORD). */
  password?: string;
  /** The user's domain name (OS_USER_DOMAIN_NAME). */
  userDomainName?: string;
  /** The user's domain id (OS_USER_DOMAIN_ID). */
  userDomainId?: string;
  /** The project to scope the token to, by name (OS_PROJECT_NAME). */
  projectName?: string;
  /** The project to scope the token to, by id (OS_PROJECT_ID). */
  projectId?: string;
  /** The project's domain name (OS_PROJECT_DOMAIN_NAME). */
  projectDomainName?: string;
  /** The project's domain id (OS_PROJECT_DOMAIN_ID). */
  projectDomainId?: string;
  /** The domain name of the user and the project when they name none (clouds.yaml `domain_name`); last resort: id `default`. */
  domainName?: string;
  /** The domain id of the user and the project when they name none (clouds.yaml `domain_id`). */
  domainId?: string;
  /** A Keystone token (OS_TOKEN): exchanged for a scoped one with `authUrl`, sent as is without. */
  token?: string;
  /** An application credential's id (OS_APPLICATION_CREDENTIAL_ID). */
  applicationCredentialId?: string;
  /** An application credential's name, with the user's name or id (OS_APPLICATION_CREDENTIAL_NAME). */
  applicationCredentialName?: string;
  /** The application credential's secret (OS_APPLICATION_CREDENTIAL_SECRET). */
  applicationCredentialSecret?: string;
}

/** How a {@link GlanceClient} reaches Glance: the endpoint or the Keystone catalog, credentials, TLS, retries. */
export interface GlanceClientOptions {
  /** Glance's URL, used instead of the catalog's (OS_IMAGE_URL, clouds.yaml `image_endpoint_override`). */
  endpoint?: string;
  /** Keystone v3 credentials; the token is cached and renewed once when Glance answers 401. */
  auth?: KeystoneAuthOptions;
  /** The catalog region to take the image endpoint from (OS_REGION_NAME); default: the first listed. */
  regionName?: string;
  /** The catalog interface: `public` (default), `internal` or `admin` (OS_INTERFACE). */
  interface?: GlanceInterface;
  /** Path of a PEM CA bundle to trust for Keystone and Glance (OS_CACERT, clouds.yaml `cacert`). */
  caCert?: string;
  /** Skip TLS certificate verification (OS_INSECURE, clouds.yaml `verify: false`). */
  insecure?: boolean;
  /** The scheme used to reach `glance://<host>[:<port>]/<id>` endpoints: `http` (default) or `https`. */
  endpointScheme?: 'http' | 'https';
  /** How many times `show` retries after a connection failure or a 5xx (default 3; downloads use the core's retries). */
  numRetries?: number;
  /** The wait before each of those retries, in ms (default 1000, Ironic's); a Retry-After header overrides it. */
  retryDelayMs?: number;
  /** The connect and response-header timeout of each request, in ms (default 60000). */
  timeoutMs?: number;
  /** Send the token also to endpoints named in `glance://<host>/<id>` hrefs that are not the configured or catalog one (default false). */
  trustHrefEndpoints?: boolean;
  /** An undici dispatcher to send every request through, instead of the client's own keep-alive Agent. */
  dispatcher?: Dispatcher;
}
