import { inRange, parseAddress, parseRange } from './addresses.js';

/** Which proxy serves which URLs. */
export interface ProxySettings {
  /** The proxy for http:// URLs (a URL; `http://` is assumed when it has no scheme). */
  httpProxy?: string;
  /** The proxy for https:// URLs. */
  httpsProxy?: string;
  /** Hosts reached directly: comma-separated names (a name covers its subdomains), IP addresses, CIDR ranges, or `*`. */
  noProxy?: string;
}

function pick(env: NodeJS.ProcessEnv, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  return undefined;
}

/**
 * The proxy settings in `env`, read the way curl reads them: `http_proxy` (and `HTTP_PROXY`) for http URLs,
 * `https_proxy`/`HTTPS_PROXY` for https URLs, `all_proxy`/`ALL_PROXY` for either when the specific one is unset, and
 * `no_proxy`/`NO_PROXY`; the lower-case name wins when both are set.
 */
export function proxySettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ProxySettings {
  const all = pick(env, 'all_proxy', 'ALL_PROXY');
  return {
    httpProxy: pick(env, 'http_proxy', 'HTTP_PROXY') ?? all,
    httpsProxy: pick(env, 'https_proxy', 'HTTPS_PROXY') ?? all,
    noProxy: pick(env, 'no_proxy', 'NO_PROXY'),
  };
}

/** A proxy URL with a scheme (curl assumes `http://` when there is none). */
export function normalizeProxyUrl(proxy: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `http://${proxy}`;
}

/** Whether `noProxy` (curl's no_proxy syntax) exempts `hostname` from the proxy. */
export function bypassesProxy(hostname: string, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const host = hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  const hostAddress = parseAddress(host);
  for (const raw of noProxy.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    if (hostAddress) {
      try {
        if (inRange(hostAddress.bytes, parseRange(entry.replace(/^\[([^\]]*)\]/, '$1')))) return true;
      } catch {
        // Not an address entry: it cannot match an address host.
      }
      continue;
    }
    const name = entry.replace(/^\*?\./, '').replace(/\.$/, '');
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/** The proxy URL to reach `url` through, or undefined to connect directly. */
export function proxyFor(url: URL, settings: ProxySettings): string | undefined {
  const proxy = url.protocol === 'https:' ? settings.httpsProxy : settings.httpProxy;
  if (!proxy || bypassesProxy(url.hostname, settings.noProxy)) return undefined;
  return normalizeProxyUrl(proxy);
}
