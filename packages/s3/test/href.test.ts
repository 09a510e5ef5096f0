import { type ImageRefValidationFailed, isImageServiceError } from '@image-service/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkBucketName, formatS3Href, parseS3Href } from '../src/index.js';

function rejection(href: string): ImageRefValidationFailed {
  try {
    parseS3Href(href);
  } catch (error) {
    expect(isImageServiceError(error, 'IMAGE_REF_VALIDATION_FAILED')).toBe(true);
    return error as ImageRefValidationFailed;
  }
  throw new Error(`${href} was accepted`);
}

describe('parseS3Href', () => {
  it('splits bucket and key at the first slash and keeps the slashes of the key', () => {
    expect(parseS3Href('s3://images/os/debian/12/disk.qcow2')).toEqual({
      bucket: 'images',
      key: 'os/debian/12/disk.qcow2',
    });
    expect(parseS3Href('S3://images//leading')).toEqual({ bucket: 'images', key: '/leading' });
    expect(parseS3Href('s3://images/dir/')).toEqual({ bucket: 'images', key: 'dir/' });
  });

  it('decodes percent-escapes in the key, and takes spaces and unicode as they are', () => {
    expect(parseS3Href('s3://images/a%20b%2Fc%3Fd%23e').key).toBe('a b/c?d#e');
    expect(parseS3Href('s3://images/my image.raw').key).toBe('my image.raw');
    expect(parseS3Href('s3://images/%C3%A9t%C3%A9/%E7%A3%81%E7%9B%98.img').key).toBe('été/磁盘.img');
    expect(parseS3Href('s3://images/été/磁盘.img').key).toBe('été/磁盘.img');
    expect(parseS3Href('s3://images/a+b').key).toBe('a+b');
  });

  it('takes ?versionId= as the version', () => {
    expect(parseS3Href('s3://images/disk.img?versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY')).toEqual({
      bucket: 'images',
      key: 'disk.img',
      versionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY',
    });
  });

  it('says the bucket is missing', () => {
    expect(rejection('s3:///disk.img').reason).toMatch(/bucket is missing/);
    expect(rejection('s3://').reason).toMatch(/bucket is missing/);
  });

  it('says the key is missing', () => {
    expect(rejection('s3://images').reason).toMatch(/key is missing/);
    expect(rejection('s3://images/').reason).toMatch(/key is missing/);
    expect(rejection('s3://images?versionId=1').reason).toMatch(/key is missing/);
  });

  it('says the bucket name is invalid, and why', () => {
    expect(rejection('s3://ab/key').reason).toMatch(/bucket name is invalid: it is shorter than 3/);
    expect(rejection('s3://-images/key').reason).toMatch(/bucket name is invalid: it must begin and end/);
    expect(rejection('s3://im..ages/key').reason).toMatch(/bucket name is invalid: it has two dots/);
    expect(rejection('s3://192.168.1.10/key').reason).toMatch(
      /bucket name is invalid: it has the form of an IP/,
    );
    expect(rejection('s3://images:9000/key').reason).toMatch(/bucket name is invalid: only letters/);
    expect(rejection(`s3://${'a'.repeat(256)}/key`).reason).toMatch(/longer than 255/);
  });

  it('refuses credentials in the href without showing them', () => {
    const error = rejection('s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY@images/key');
    expect(error.reason).toMatch(/bucket name is invalid/);
    expect(JSON.stringify(error)).not.toContain('wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY');
    expect(error.message).not.toContain('wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY');
  });

  it('says what is wrong with the key or the query', () => {
    expect(rejection('s3://images/bad%zzescape').reason).toMatch(/key has an invalid percent-escape/);
    expect(rejection(`s3://images/${'k'.repeat(1025)}`).reason).toMatch(/key is longer than S3's 1024 bytes/);
    expect(rejection('s3://images/key?partNumber=2').reason).toMatch(
      /query parameter "partNumber" is not supported/,
    );
    expect(rejection('s3://images/key?versionId=').reason).toMatch(/versionId is empty/);
    expect(rejection('s3://images/key?versionId=a&versionId=b').reason).toMatch(/more than once/);
    expect(rejection('s3://images/key#frag').reason).toMatch(/fragment/);
    expect(rejection('http://images/key').reason).toMatch(/not an s3:\/\/ URL/);
  });

  it('never echoes the value of a secret-looking query parameter', () => {
    const error = rejection('s3://images/key?X-Amz-Signature=deadbeefsignature');
    expect(error.message).not.toContain('deadbeefsignature');
    expect(error.reason).not.toContain('deadbeefsignature');
  });

  it('accepts the legacy and relaxed bucket names S3-compatible stores allow', () => {
    expect(checkBucketName('My_Old.Bucket-1')).toBeUndefined();
    expect(checkBucketName('abc')).toBeUndefined();
  });

  it('round-trips any key and version through formatS3Href', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 200, unit: 'grapheme' }),
        fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: undefined }),
        (key, versionId) => {
          const ref =
            versionId === undefined ? { bucket: 'images', key } : { bucket: 'images', key, versionId };
          expect(parseS3Href(formatS3Href(ref))).toEqual(ref);
        },
      ),
    );
  });
});
