import { canonicalUuid, ImageRefValidationFailed, isUuidLike, schemeOf } from '@image-service/core';

/** What a Glance href names: an image id and, for `glance://<host>[:<port>]/<id>`, the endpoint to ask. */
export interface GlanceHref {
  /** The image id, canonical (lower case, dashed). */
  imageId: string;
  /** The Glance endpoint named in the href (`<scheme>://<host>[:<port>]`), if any. */
  endpoint?: string;
}

/** Ironic's InvalidImageRef: "Invalid image href <href>.". */
export function invalidHref(imageHref: string, secret?: boolean): ImageRefValidationFailed {
  return new ImageRefValidationFailed(
    { imageHref: String(imageHref), secret, reason: `Invalid image href ${String(imageHref)}.` },
    (_href, reason) => reason,
  );
}

const GLANCE_URL = /^glance:\/\/([^/?#]*)(?:\/([^/?#]*))?$/i;

/**
 * Parses a Glance href: a UUID-like id (case-insensitive, with or without dashes), `glance://<id>` or
 * `glance://<host>[:<port>]/<id>` (that endpoint, reached with `endpointScheme`). Anything else throws
 * `ImageRefValidationFailed` "Invalid image href <href>.".
 */
export function parseGlanceHref(
  imageHref: string,
  endpointScheme: 'http' | 'https' = 'http',
  secret?: boolean,
): GlanceHref {
  if (typeof imageHref !== 'string') throw invalidHref(imageHref, secret);
  const scheme = schemeOf(imageHref);
  if (scheme === undefined) {
    if (isUuidLike(imageHref)) return { imageId: canonicalUuid(imageHref) };
    throw invalidHref(imageHref, secret);
  }
  const match = GLANCE_URL.exec(imageHref);
  if (!match) throw invalidHref(imageHref, secret);
  const authority = match[1] ?? '';
  const segment = match[2];
  if (segment === undefined || segment === '') {
    if (isPlainUuid(authority)) return { imageId: canonicalUuid(authority) };
    throw invalidHref(imageHref, secret);
  }
  if (!isPlainUuid(segment) || !isHostPort(authority)) throw invalidHref(imageHref, secret);
  const url = new URL(`${endpointScheme}://${authority}`);
  return { imageId: canonicalUuid(segment), endpoint: url.origin };
}

/** 32 hex digits with or without dashes (no braces or urn prefix inside a URL). */
function isPlainUuid(text: string): boolean {
  return /^[0-9a-f-]+$/i.test(text) && isUuidLike(text);
}

/** A host name, IPv4 or bracketed IPv6 address with an optional port 1-65535, and no user info. */
function isHostPort(authority: string): boolean {
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(\d{1,5}))?$/i.exec(authority);
  if (!match) return false;
  if (match[2] !== undefined) {
    const port = Number(match[2]);
    if (port < 1 || port > 65535) return false;
  }
  try {
    new URL(`http://${authority}`);
    return true;
  } catch {
    return false;
  }
}
