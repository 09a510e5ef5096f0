import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { GlanceClientOptions, GlanceInterface, KeystoneAuthOptions } from './options.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Where {@link glanceOptionsFromEnv} looks for clouds.yaml, besides the environment. */
export interface CloudSearchOptions {
  /** The directory searched first for clouds.yaml (default: the process's working directory). */
  cwd?: string;
}

const CONFIG_SUFFIXES = ['.yaml', '.yml', '.json'];

/**
 * The clouds.yaml (or secure.yaml) candidates, in the openstack client's order: the file named by `fileVariable`, then
 * `<cwd>/<base>.{yaml,yml,json}`, `$XDG_CONFIG_HOME/openstack` (default `~/.config/openstack`) and `/etc/openstack`.
 */
export function cloudConfigCandidates(
  base: 'clouds' | 'secure',
  env: Env = process.env,
  search: CloudSearchOptions = {},
): string[] {
  const named = env[base === 'clouds' ? 'OS_CLIENT_CONFIG_FILE' : 'OS_CLIENT_SECURE_FILE'];
  const home = env.HOME || homedir();
  const userDir = join(env.XDG_CONFIG_HOME || join(home, '.config'), 'openstack');
  const dirs = [resolve(search.cwd ?? process.cwd()), userDir, '/etc/openstack'];
  const files = dirs.flatMap((dir) => CONFIG_SUFFIXES.map((suffix) => join(dir, `${base}${suffix}`)));
  return named ? [named, ...files] : files;
}

function readConfig(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new TypeError(`Cannot read the OpenStack configuration ${file}: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TypeError(`The OpenStack configuration ${file} is not a mapping`);
  }
  return parsed as Record<string, unknown>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isRecord(current) && isRecord(value) ? deepMerge(current, value) : value;
  }
  return out;
}

/**
 * The named cloud of the first clouds.yaml found (see {@link cloudConfigCandidates}), with the same cloud of the first
 * secure.yaml merged over it, as raw clouds.yaml keys. Throws a TypeError when no file or no such cloud is found.
 */
export function readCloud(
  name: string,
  env: Env = process.env,
  search: CloudSearchOptions = {},
): { file: string; cloud: Record<string, unknown> } {
  const candidates = cloudConfigCandidates('clouds', env, search);
  const file = candidates.find((candidate) => existsSync(candidate));
  if (!file) {
    throw new TypeError(
      `The cloud "${name}" was asked for, but no clouds.yaml exists (searched ${candidates.join(', ')})`,
    );
  }
  const clouds = readConfig(file).clouds;
  const cloud = isRecord(clouds) ? clouds[name] : undefined;
  if (!isRecord(cloud)) {
    const known = isRecord(clouds) ? Object.keys(clouds).join(', ') || 'none' : 'none';
    throw new TypeError(`The cloud "${name}" is not in ${file} (clouds there: ${known})`);
  }
  const secureFile = cloudConfigCandidates('secure', env, search).find((candidate) => existsSync(candidate));
  const secureClouds = secureFile ? readConfig(secureFile).clouds : undefined;
  const secure = isRecord(secureClouds) ? secureClouds[name] : undefined;
  return { file, cloud: isRecord(secure) ? deepMerge(cloud, secure) : cloud };
}

function str(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

function flag(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  const text = str(value)?.toLowerCase();
  if (text === undefined) return undefined;
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  if (['0', 'false', 'no', 'off'].includes(text)) return false;
  return undefined;
}

/** `public`, `internal` or `admin` from OpenStack's spellings (`publicURL`, `internalURL`, ...). */
export function normalizeInterface(value: unknown): GlanceInterface | undefined {
  const text = str(value)?.toLowerCase().replace(/url$/, '');
  if (text === undefined) return undefined;
  if (text === 'public' || text === 'internal' || text === 'admin') return text;
  throw new TypeError(`"${String(value)}" is not an endpoint interface (public, internal or admin)`);
}

function compact<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}

/** Options from one clouds.yaml cloud entry (after secure.yaml is merged in). */
export function optionsFromCloud(cloud: Record<string, unknown>): GlanceClientOptions {
  const a = isRecord(cloud.auth) ? cloud.auth : {};
  const auth: KeystoneAuthOptions = compact({
    authUrl: str(a.auth_url),
    authType: str(cloud.auth_type),
    username: str(a.username),
    userId: str(a.user_id),
    password: str(a.password),
    userDomainName: str(a.user_domain_name),
    userDomainId: str(a.user_domain_id),
    projectName: str(a.project_name) ?? str(a.tenant_name),
    projectId: str(a.project_id) ?? str(a.tenant_id),
    projectDomainName: str(a.project_domain_name),
    projectDomainId: str(a.project_domain_id),
    domainName: str(a.domain_name) ?? str(a.default_domain_name),
    domainId: str(a.domain_id) ?? str(a.default_domain_id),
    token: str(a.token),
    applicationCredentialId: str(a.application_credential_id),
    applicationCredentialName: str(a.application_credential_name),
    applicationCredentialSecret: str(a.application_credential_secret),
  });
  const regions = Array.isArray(cloud.regions) ? cloud.regions : [];
  const firstRegion = regions[0];
  const verify = cloud.verify;
  const timeout = Number(cloud.api_timeout);
  return compact({
    endpoint: str(cloud.image_endpoint_override),
    auth: Object.keys(auth).length > 0 ? auth : undefined,
    regionName: str(cloud.region_name) ?? (isRecord(firstRegion) ? str(firstRegion.name) : str(firstRegion)),
    interface: normalizeInterface(cloud.image_interface ?? cloud.interface ?? cloud.endpoint_type),
    caCert: str(cloud.cacert) ?? (typeof verify === 'string' ? str(verify) : undefined),
    insecure: flag(verify) === false ? true : flag(cloud.insecure),
    timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout * 1000 : undefined,
  });
}

/** Options from the OS_* variables alone (no clouds.yaml). */
function optionsFromOsVariables(env: Env): GlanceClientOptions {
  const v = (name: string) => str(env[name]);
  const auth: KeystoneAuthOptions = compact({
    authUrl: v('OS_AUTH_URL'),
    authType: v('OS_AUTH_TYPE'),
    username: v('OS_USERNAME'),
    userId: v('OS_USER_ID'),
    password: v('OS_PASSWORD'),
    userDomainName: v('OS_USER_DOMAIN_NAME'),
    userDomainId: v('OS_USER_DOMAIN_ID'),
    projectName: v('OS_PROJECT_NAME') ?? v('OS_TENANT_NAME'),
    projectId: v('OS_PROJECT_ID') ?? v('OS_TENANT_ID'),
    projectDomainName: v('OS_PROJECT_DOMAIN_NAME'),
    projectDomainId: v('OS_PROJECT_DOMAIN_ID'),
    token: v('OS_TOKEN'),
    applicationCredentialId: v('OS_APPLICATION_CREDENTIAL_ID'),
    applicationCredentialName: v('OS_APPLICATION_CREDENTIAL_NAME'),
    applicationCredentialSecret: v('OS_APPLICATION_CREDENTIAL_SECRET'),
  });
  return compact({
    endpoint: v('OS_IMAGE_URL'),
    auth: Object.keys(auth).length > 0 ? auth : undefined,
    regionName: v('OS_REGION_NAME'),
    interface: normalizeInterface(v('OS_INTERFACE') ?? v('OS_ENDPOINT_TYPE')),
    caCert: v('OS_CACERT'),
    insecure: flag(v('OS_INSECURE')),
  });
}

function nonNegativeInteger(env: Env, name: string): number | undefined {
  const text = str(env[name]);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new TypeError(`${name} must be a whole number >= 0, not "${text}"`);
  return value;
}

/**
 * Glance options the way the openstack client reads its configuration: the cloud named by `OS_CLOUD` from clouds.yaml
 * (with secure.yaml merged in), then the OS_* variables over it (OS_AUTH_URL, OS_AUTH_TYPE, OS_USERNAME, OS_USER_ID,
 * OS_PASSWORD, OS_PROJECT_NAME/ID, OS_USER_DOMAIN_NAME/ID, OS_PROJECT_DOMAIN_NAME/ID, OS_TOKEN,
 * OS_APPLICATION_CREDENTIAL_ID/NAME/SECRET, OS_REGION_NAME, OS_INTERFACE, OS_CACERT, OS_INSECURE, OS_IMAGE_URL), and
 * IMAGE_SERVICE_GLANCE_NUM_RETRIES, IMAGE_SERVICE_GLANCE_ENDPOINT_SCHEME. Throws a TypeError on a bad value or a
 * cloud that cannot be found.
 */
export function glanceOptionsFromEnv(
  env: Env = process.env,
  search: CloudSearchOptions = {},
): GlanceClientOptions {
  const cloudName = str(env.OS_CLOUD);
  const fromCloud = cloudName ? optionsFromCloud(readCloud(cloudName, env, search).cloud) : {};
  const fromVariables = optionsFromOsVariables(env);
  const auth = { ...fromCloud.auth, ...fromVariables.auth };
  const scheme = str(env.IMAGE_SERVICE_GLANCE_ENDPOINT_SCHEME)?.toLowerCase();
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
    throw new TypeError(`IMAGE_SERVICE_GLANCE_ENDPOINT_SCHEME must be http or https, not "${scheme}"`);
  }
  return compact({
    ...fromCloud,
    ...fromVariables,
    auth: Object.keys(auth).length > 0 ? auth : undefined,
    numRetries: nonNegativeInteger(env, 'IMAGE_SERVICE_GLANCE_NUM_RETRIES'),
    endpointScheme: scheme as 'http' | 'https' | undefined,
  });
}
