/** The scheme of an href, lower case, or undefined for a scheme-less href (RFC 3986: a letter, then letters, digits, +, - or .). */
export function schemeOf(imageHref: string): string | undefined {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(imageHref);
  return match?.[1]?.toLowerCase();
}

/**
 * Whether `text` is UUID-like the way OpenStack's `is_uuid_like` has it: 32 hex digits, case-insensitive, with dashes
 * anywhere or none, optionally in braces or after `urn:uuid:`.
 */
export function isUuidLike(text: string): boolean {
  if (typeof text !== 'string' || text.length > 64) return false;
  let body = text.toLowerCase();
  if (body.startsWith('urn:')) body = body.slice(4);
  if (body.startsWith('uuid:')) body = body.slice(5);
  if (body.startsWith('{') && body.endsWith('}')) body = body.slice(1, -1);
  return /^[0-9a-f]{32}$/.test(body.replace(/-/g, ''));
}

/** A UUID-like text in its canonical form: lower case, 8-4-4-4-12. Throws when it is not UUID-like. */
export function canonicalUuid(text: string): string {
  if (!isUuidLike(text)) throw new TypeError('not UUID-like');
  const hex = text
    .toLowerCase()
    .replace(/^urn:/, '')
    .replace(/^uuid:/, '')
    .replace(/[{}-]/g, '');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
