import { createHash, getHashes, type Hash } from 'node:crypto';
import { ImageChecksumError } from './errors.js';
import type { Checksum, ChecksumAlgorithm } from './types.js';

/** The digest algorithms image-service knows, with their hex lengths. */
export const CHECKSUM_HEX_LENGTHS: Readonly<Record<ChecksumAlgorithm, number>> = {
  md5: 32,
  sha1: 40,
  sha256: 64,
  sha512: 128,
};

/** Whether `name` is a known digest algorithm. */
export function isChecksumAlgorithm(name: unknown): name is ChecksumAlgorithm {
  return typeof name === 'string' && Object.hasOwn(CHECKSUM_HEX_LENGTHS, name);
}

/** The algorithm a bare hex digest most likely is, from its length (128 sha512, 64 sha256, 40 sha1, 32 md5). */
export function inferChecksumAlgorithm(hex: string): ChecksumAlgorithm | undefined {
  if (!/^[0-9a-f]+$/i.test(hex)) return undefined;
  for (const [algorithm, length] of Object.entries(CHECKSUM_HEX_LENGTHS)) {
    if (hex.length === length) return algorithm as ChecksumAlgorithm;
  }
  return undefined;
}

/**
 * A checksum from `algorithm:hex` (or a bare hex digest, its algorithm inferred from its length). Throws
 * `ImageChecksumError` when it is not one.
 */
export function parseChecksum(text: string): Checksum {
  const trimmed = text.trim();
  const colon = trimmed.indexOf(':');
  const algorithm = colon < 0 ? inferChecksumAlgorithm(trimmed) : trimmed.slice(0, colon).toLowerCase();
  const value = (colon < 0 ? trimmed : trimmed.slice(colon + 1)).toLowerCase();
  if (!isChecksumAlgorithm(algorithm)) {
    throw new ImageChecksumError({
      reason: `"${text.slice(0, 200)}" is not <algorithm>:<hex> with an algorithm of md5, sha1, sha256 or sha512`,
    });
  }
  return normalizeChecksum({ algorithm, value });
}

/** Checks a checksum's form and returns it with a lower-case value; throws `ImageChecksumError` when it is malformed. */
export function normalizeChecksum(checksum: Checksum): Checksum {
  const algorithm =
    typeof checksum?.algorithm === 'string' ? checksum.algorithm.toLowerCase() : checksum?.algorithm;
  if (!isChecksumAlgorithm(algorithm)) {
    throw new ImageChecksumError({
      reason: `unsupported checksum algorithm "${String(checksum?.algorithm)}"`,
    });
  }
  const value = typeof checksum.value === 'string' ? checksum.value.toLowerCase() : '';
  if (value.length !== CHECKSUM_HEX_LENGTHS[algorithm] || !/^[0-9a-f]+$/.test(value)) {
    throw new ImageChecksumError({
      reason: `a ${algorithm} digest is ${CHECKSUM_HEX_LENGTHS[algorithm]} hex digits`,
    });
  }
  return { algorithm, value };
}

/** `algorithm:hex`. */
export function formatChecksum(checksum: Checksum): string {
  return `${checksum.algorithm}:${checksum.value}`;
}

/** An incremental digest. */
export interface Hasher {
  /** The algorithm it computes. */
  readonly algorithm: ChecksumAlgorithm;
  /** Adds bytes. */
  update(chunk: Uint8Array): void;
  /** The digest of all bytes added. */
  digest(): Checksum;
}

/** A new incremental digest of `algorithm`. */
export function createHasher(algorithm: ChecksumAlgorithm): Hasher {
  if (algorithm === 'md5' && !getHashes().includes('md5')) {
    throw new ImageChecksumError({ reason: 'md5 is not available in this Node.js build (FIPS mode)' });
  }
  const hash: Hash = createHash(algorithm);
  return {
    algorithm,
    update: (chunk) => {
      hash.update(chunk);
    },
    digest: () => ({ algorithm, value: hash.digest('hex') }),
  };
}
