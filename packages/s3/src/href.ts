import { ImageRefValidationFailed } from '@image-service/core';

/** An `s3://` href, parsed. */
export interface S3Ref {
  /** The bucket. */
  bucket: string;
  /** The object key, percent-escapes decoded. */
  key: string;
  /** The object version (`?versionId=`), when one is selected. */
  versionId?: string;
}

const SCHEME = /^s3:\/\//i;
const BUCKET_CHARS = /^[A-Za-z0-9._-]+$/;
const IP_ADDRESS = /^\d{1,3}(\.\d{1,3}){3}$/;
const MAX_KEY_BYTES = 1024;

/**
 * Parses `s3://<bucket>/<key>[?versionId=<id>]`. The key is everything after the first slash (slashes kept, percent-escapes
 * decoded); a `#` or `?` inside a key must be written `%23` / `%3F`. Throws `ImageRefValidationFailed` naming the part
 * that is wrong: the scheme, the bucket (missing or invalid), the key (missing, bad escape, too long) or the query.
 */
export function parseS3Href(imageHref: string, secret?: boolean): S3Ref {
  const fail = (reason: string): never => {
    throw new ImageRefValidationFailed({ imageHref, reason, secret });
  };
  if (typeof imageHref !== 'string' || !SCHEME.test(imageHref)) {
    return fail('the href is not an s3:// URL (s3://<bucket>/<key>)');
  }
  let rest = imageHref.slice('s3://'.length);
  if (rest.includes('#')) {
    return fail('the href has a fragment (#...); write a # that belongs to the key as %23');
  }
  let query = '';
  const questionMark = rest.indexOf('?');
  if (questionMark >= 0) {
    query = rest.slice(questionMark + 1);
    rest = rest.slice(0, questionMark);
  }
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const rawKey = slash < 0 ? '' : rest.slice(slash + 1);

  if (bucket === '') return fail('the bucket is missing (s3://<bucket>/<key>)');
  const bucketProblem = checkBucketName(bucket);
  if (bucketProblem) return fail(`the bucket name is invalid: ${bucketProblem}`);
  if (rawKey === '') return fail(`the key is missing (s3://${bucket}/<key>)`);

  let key: string;
  try {
    key = decodeURIComponent(rawKey);
  } catch {
    return fail('the key has an invalid percent-escape');
  }
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    return fail(`the key is longer than S3's ${MAX_KEY_BYTES} bytes`);
  }

  const ref: S3Ref = { bucket, key };
  if (query !== '') {
    for (const pair of query.split('&')) {
      if (pair === '') continue;
      const equals = pair.indexOf('=');
      const name = equals < 0 ? pair : pair.slice(0, equals);
      if (name !== 'versionId') {
        const shown = equals > 0 && /^[A-Za-z0-9._-]{1,64}$/.test(name) ? ` "${name}"` : '';
        return fail(
          `the query parameter${shown} is not supported (only versionId is); write a ? that belongs to the key as %3F`,
        );
      }
      if (ref.versionId !== undefined) return fail('versionId is given more than once');
      const value = equals < 0 ? '' : safeDecode(pair.slice(equals + 1));
      if (value === '') return fail('the versionId is empty');
      ref.versionId = value;
    }
  }
  return ref;
}

/**
 * Why `bucket` is not a usable bucket name, or undefined when it is. Accepts S3's rules (3 to 63 characters of lower-case
 * letters, digits, dots and hyphens, beginning and ending with a letter or digit, not an IP address, no `..`) relaxed as
 * legacy us-east-1 buckets and Ceph's relaxed names are (upper-case letters and underscores, up to 255 characters).
 */
export function checkBucketName(bucket: string): string | undefined {
  if (bucket.length < 3) return 'it is shorter than 3 characters';
  if (bucket.length > 255) return 'it is longer than 255 characters';
  if (!BUCKET_CHARS.test(bucket)) {
    return 'only letters, digits, dots, hyphens and underscores are allowed (credentials never go in an s3:// href)';
  }
  if (!/^[A-Za-z0-9]/.test(bucket) || !/[A-Za-z0-9]$/.test(bucket)) {
    return 'it must begin and end with a letter or a digit';
  }
  if (bucket.includes('..')) return 'it has two dots in a row';
  if (IP_ADDRESS.test(bucket)) return 'it has the form of an IP address';
  return undefined;
}

/** The href of an object: `s3://bucket/key` with the key percent-escaped where needed, and `?versionId=`. */
export function formatS3Href(ref: S3Ref): string {
  const key = ref.key
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
  return `s3://${ref.bucket}/${key}${ref.versionId === undefined ? '' : `?versionId=${encodeURIComponent(ref.versionId)}`}`;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
