/** What every error message and log line shows in place of a secret. */
export const REDACTED = '***';

/** Query parameter names (lower case) that always carry a secret. */
const SECRET_QUERY_NAMES = new Set([
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
  'x-goog-signature',
  'x-goog-credential',
  'temp_url_sig',
  'sig',
  'signature',
  'token',
  'access_token',
  'id_token',
  'refresh_token',
  'password',
  'passwd',
  'pwd',
  'secret',
  'client_secret',
  'api_key',
  'apikey',
  'key',
  'awsaccesskeyid',
  'googleaccessid',
  'auth',
]);

/** Parts of a name that mark any other query parameter as secret-bearing. */
const SECRET_NAME_PATTERN = /sig|token|secret|passw|credential|api[-_]?key|auth/i;

/** Whether a query parameter of this name carries a secret. */
export function isSecretParameterName(name: string): boolean {
  const lower = name.toLowerCase();
  return SECRET_QUERY_NAMES.has(lower) || SECRET_NAME_PATTERN.test(lower);
}

/** Options of {@link redactHref}. */
export interface RedactOptions {
  /** Mask the whole href, as the seed's `secret=True` does. */
  secret?: boolean;
}

const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i;

/**
 * The href as it may be shown: the password in its userinfo (or a lone user name, which is often a token) and the values
 * of secret-bearing query parameters are masked; with `secret: true` nothing of it is shown.
 */
export function redactHref(imageHref: string, options: RedactOptions = {}): string {
  if (options.secret || typeof imageHref !== 'string') return REDACTED;
  const url = parseUrl(imageHref);
  const shown = url && carriesSecrets(url) ? maskedUrl(url) : maskedText(imageHref);
  return scrubText(shown, secretsOf(imageHref));
}

/** The href as the WHATWG URL parser (and so undici) reads it, which accepts more forms than a strict parse. */
function parseUrl(imageHref: string): URL | undefined {
  try {
    return new URL(imageHref);
  } catch {
    return undefined;
  }
}

/** The raw `name=value` pairs of a URL's query, as sent. */
function rawQueryPairs(url: URL): Array<[string, string]> {
  return url.search
    .slice(1)
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const equals = pair.indexOf('=');
      return equals < 0 ? [pair, ''] : [pair.slice(0, equals), pair.slice(equals + 1)];
    });
}

function carriesSecrets(url: URL): boolean {
  return (
    url.username !== '' || url.password !== '' || mapSecretParameters(url.href, () => REDACTED) !== url.href
  );
}

/** The parsed URL with its password (or lone user name) and secret query values masked. */
function maskedUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = REDACTED;
  else if (copy.username) copy.username = REDACTED;
  if (copy.hash) copy.hash = mapSecretParameters(copy.hash, () => REDACTED).replace(/^#/, '');
  if (copy.search) {
    copy.search = rawQueryPairs(copy)
      .map(([name, value]) =>
        isSecretParameterName(safeDecode(name))
          ? `${name}=${REDACTED}`
          : value === ''
            ? name
            : `${name}=${value}`,
      )
      .join('&');
  }
  return copy.href;
}

/** Masks userinfo and secret parameter values in text that is not a URL the parser accepts. */
function maskedText(imageHref: string): string {
  const out = imageHref.replace(USERINFO, (_all, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    if (colon < 0) return `${scheme}${REDACTED}@`;
    return `${scheme}${userinfo.slice(0, colon)}:${REDACTED}@`;
  });
  return mapSecretParameters(out, () => REDACTED);
}

/**
 * `text` with the value of every secret-bearing parameter replaced: `name=value` pairs of the query (after the first
 * `?`) and of the fragment (after the first `#`, where OAuth's implicit flow puts tokens), split on `&` and `;`, and
 * `;name=value` parameters of the path. A value never runs across a `?` or `#`.
 */
function mapSecretParameters(text: string, replace: (value: string) => string): string {
  const hash = text.indexOf('#');
  const beforeHash = hash < 0 ? text : text.slice(0, hash);
  const question = beforeHash.indexOf('?');
  const path = question < 0 ? beforeHash : beforeHash.slice(0, question);
  const mapPairs = (part: string) =>
    part.replace(/(^|[&;])([^=&;]*)=([^&;]*)/g, (all, sep: string, name: string, value: string) =>
      isSecretParameterName(safeDecode(name)) ? `${sep}${name}=${replace(value)}` : all,
    );
  let out = path.replace(/;([^=;/]*)=([^;/]*)/g, (all, name: string, value: string) =>
    isSecretParameterName(safeDecode(name)) ? `;${name}=${replace(value)}` : all,
  );
  if (question >= 0) out += `?${mapPairs(beforeHash.slice(question + 1))}`;
  if (hash >= 0) out += `#${mapPairs(text.slice(hash + 1))}`;
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/**
 * The secrets an href carries, in every form they may be printed in (raw and percent-decoded): the userinfo password (or
 * lone user name), the secret query values and, with `secret: true`, the href itself and its host, path and query.
 */
export function secretsOf(imageHref: string, options: RedactOptions = {}): string[] {
  if (typeof imageHref !== 'string' || imageHref === '') return [];
  const found = new Set<string>();
  const add = (value: string | undefined) => {
    if (!value) return;
    found.add(value);
    const decoded = safeDecode(value);
    if (decoded) found.add(decoded);
  };
  const userinfo = USERINFO.exec(imageHref)?.[2];
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    add(colon < 0 ? userinfo : userinfo.slice(colon + 1));
  }
  mapSecretParameters(imageHref, (value) => {
    add(value);
    return value;
  });
  const parsed = parseUrl(imageHref);
  if (parsed) {
    add(parsed.password || (parsed.username ? parsed.username : undefined));
    mapSecretParameters(parsed.href, (value) => {
      add(value);
      return value;
    });
  }
  if (options.secret) {
    add(imageHref);
    try {
      const url = new URL(imageHref);
      found.add(url.href);
      add(url.host);
      add(url.hostname);
      if (url.pathname.length > 1) add(url.pathname);
      if (url.search) add(url.search);
      add(url.username);
      add(url.password);
    } catch {
      // Not a URL: the whole text was added above.
    }
  }
  // Very short values would mask ordinary words; secrets are not that short.
  return [...found].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
}

/** `text` with every occurrence of each of `secrets` masked. */
export function scrubText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/**
 * Masks what `text` says of the href: the href itself (shown redacted), and each secret it carries. Every error message
 * and log line goes through this.
 */
export function redactText(text: string, imageHref?: string, options: RedactOptions = {}): string {
  let out = text;
  if (imageHref) out = out.split(imageHref).join(redactHref(imageHref, options));
  out = redactUrlsIn(out);
  if (imageHref) out = scrubText(out, secretsOf(imageHref, options));
  return out;
}

const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s"<>]+/gi;

/** Redacts every URL found in free text (an error from a library may quote one). */
export function redactUrlsIn(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => redactHref(url));
}
