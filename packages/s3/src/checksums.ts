import {
  CHECKSUM_HEX_LENGTHS,
  type Checksum,
  type ChecksumAlgorithm,
  normalizeChecksum,
  parseChecksum,
} from '@image-service/core';

/** The user-metadata keys (`x-amz-meta-<key>`) read as a digest of the whole object, strongest first. */
export const CHECKSUM_METADATA_KEYS: readonly string[] = ['sha512', 'sha256', 'checksum', 'sha1', 'md5'];

/** What HeadObject and GetObject report of an object's checksum. */
export interface StoreChecksumFields {
  /** The base64 SHA-256 the store keeps (with ChecksumMode ENABLED). */
  ChecksumSHA256?: string;
  /** FULL_OBJECT or COMPOSITE (a checksum of the parts' checksums). */
  ChecksumType?: string;
}

/**
 * The object's SHA-256 as the store reports it with ChecksumMode ENABLED, when it is a digest of the whole object: a
 * COMPOSITE checksum of a multipart upload (`...-N`) is a digest of the parts' digests and is not used.
 */
export function storeChecksum(fields: StoreChecksumFields): Checksum | undefined {
  const value = fields.ChecksumSHA256;
  if (!value) return undefined;
  if (fields.ChecksumType === 'COMPOSITE' || /-\d+$/.test(value)) return undefined;
  if (fields.ChecksumType !== undefined && fields.ChecksumType !== 'FULL_OBJECT') return undefined;
  return fromBase64('sha256', value);
}

/**
 * A digest the object's user metadata carries (`x-amz-meta-sha256: <hex or base64>`, `x-amz-meta-checksum:
 * sha256:<hex>`, ...), the strongest first; malformed values are ignored.
 */
export function metadataChecksum(metadata: Record<string, string> | undefined): Checksum | undefined {
  if (!metadata) return undefined;
  const lower = new Map(Object.entries(metadata).map(([key, value]) => [key.toLowerCase(), value.trim()]));
  for (const key of CHECKSUM_METADATA_KEYS) {
    const value = lower.get(key);
    if (!value) continue;
    try {
      if (key === 'checksum') return parseChecksum(value);
      const algorithm = key as ChecksumAlgorithm;
      if (/^[0-9a-f]+$/i.test(value)) return normalizeChecksum({ algorithm, value });
      const decoded = fromBase64(algorithm, value);
      if (decoded) return decoded;
    } catch {
      // Not a digest of that form: try the next key.
    }
  }
  return undefined;
}

function fromBase64(algorithm: ChecksumAlgorithm, value: string): Checksum | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined;
  const hex = Buffer.from(value, 'base64').toString('hex');
  return hex.length === CHECKSUM_HEX_LENGTHS[algorithm] ? { algorithm, value: hex } : undefined;
}
