import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  ImageChecksumError,
  ImageDownloadFailed,
  ImageNotAuthorized,
  ImageNotFound,
  ImageOperationAborted,
  ImageRefIsARedirect,
  ImageRefValidationFailed,
  ImageServiceError,
  ImageUnacceptable,
  isImageServiceError,
} from '../src/index.js';

describe('errors', () => {
  it("use Ironic's message formats", () => {
    expect(new ImageRefValidationFailed({ imageHref: 'http://h/i', reason: 'bad' }).message).toBe(
      'Validation of image href http://h/i failed, reason: bad',
    );
    expect(new ImageDownloadFailed({ imageHref: 'http://h/i', reason: 'io' }).message).toBe(
      'Failed to download image http://h/i, reason: io',
    );
    expect(new ImageUnacceptable({ imageHref: 'abc', reason: 'not active' }).message).toBe(
      'Image abc is unacceptable: not active',
    );
    expect(new ImageChecksumError().message).toBe(
      'The supplied image checksum is invalid or does not match.',
    );
    expect(new ImageNotFound({ imageHref: 'x' }).message).toBe('Image x could not be found.');
    expect(new ImageNotAuthorized({ imageHref: 'x' }).message).toBe('Not authorized for image x.');
  });

  it('not-found and not-authorized are validation failures, so code written for the seed still catches them', () => {
    const notFound = new ImageNotFound({ imageHref: 'x' });
    expect(notFound).toBeInstanceOf(ImageRefValidationFailed);
    expect(new ImageNotAuthorized({ imageHref: 'x' })).toBeInstanceOf(ImageRefValidationFailed);
    expect(notFound.code).toBe('IMAGE_NOT_FOUND');
    expect(notFound.codes).toEqual(['IMAGE_NOT_FOUND', 'IMAGE_REF_VALIDATION_FAILED', 'IMAGE_SERVICE_ERROR']);
    expect(isImageServiceError(notFound, ErrorCode.ImageRefValidationFailed)).toBe(true);
    expect(isImageServiceError(notFound, ErrorCode.ImageDownloadFailed)).toBe(false);
    expect(notFound.name).toBe('ImageNotFound');
  });

  it('the guard works across copies of the core (by brand, not by class identity)', () => {
    const foreign = new ImageDownloadFailed({ reason: 'x' });
    Object.setPrototypeOf(foreign, Error.prototype);
    expect(foreign).not.toBeInstanceOf(ImageServiceError);
    expect(isImageServiceError(foreign, ErrorCode.ImageDownloadFailed)).toBe(true);
    expect(isImageServiceError(new Error('x'))).toBe(false);
    expect(isImageServiceError(null)).toBe(false);
    expect(isImageServiceError({ code: 'IMAGE_NOT_FOUND', codes: ['IMAGE_NOT_FOUND'] })).toBe(false);
  });

  it('redacts the href, the reason and the cause chain', () => {
    const href = 'https://user:hunter22@example.com/i.img?X-Amz-Signature=abcdef123&x=1';
    const inner = new Error(`connect failed for ${href}`);
    const cause = new Error('request to https://user:hunter22@example.com/i.img failed', { cause: inner });
    const error = new ImageDownloadFailed({ imageHref: href, reason: `GET ${href} failed`, cause });
    const rendered = [
      error.message,
      String(error),
      inspect(error, { depth: 10 }),
      JSON.stringify(error),
    ].join('\n');
    expect(rendered).not.toContain('hunter22');
    expect(rendered).not.toContain('abcdef123');
    expect(error.imageHref).toBe('https://user:***@example.com/i.img?X-Amz-Signature=***&x=1');
    expect(error.cause).toBeInstanceOf(Error);
    expect((error.cause as Error).message).toContain('https://user:***@example.com/i.img');
  });

  it('with secret: true shows nothing of the href, even when a cause quotes it', () => {
    const href = 'https://images.example.com/secret-path/i.img';
    const error = new ImageRefValidationFailed({
      imageHref: href,
      secret: true,
      reason: 'getaddrinfo ENOTFOUND images.example.com',
      cause: new Error(`fetch ${href} failed: images.example.com unreachable`),
    });
    const rendered = inspect(error, { depth: 10 });
    expect(rendered).not.toContain('images.example.com');
    expect(rendered).not.toContain('secret-path');
    expect(error.imageHref).toBe('***');
  });

  it('a redirect carries the absolute location and redacts it in the message', () => {
    const error = new ImageRefIsARedirect({
      imageHref: 'http://a/i',
      location: 'http://b/i?token=s3cr3t',
      status: 302,
    });
    expect(error.location).toBe('http://b/i?token=s3cr3t');
    expect(error.status).toBe(302);
    expect(error.message).not.toContain('s3cr3t');
    expect(inspect(error)).not.toContain('s3cr3t');
    expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed)).toBe(true);
  });

  it('an abort is named AbortError', () => {
    const error = new ImageOperationAborted({ imageHref: 'file:///x' });
    expect(error.name).toBe('AbortError');
    expect(error.code).toBe('IMAGE_OPERATION_ABORTED');
  });

  it('carries retry hints', () => {
    const error = new ImageDownloadFailed({
      reason: 'x',
      transient: true,
      retryAfterMs: 1000,
      mustRestart: true,
    });
    expect([error.transient, error.retryAfterMs, error.mustRestart]).toEqual([true, 1000, true]);
    expect(new ImageDownloadFailed().transient).toBe(false);
  });
});

describe('driver-defined errors', () => {
  class StoreBusy extends ImageDownloadFailed {
    constructor(reason: string) {
      super({ reason, transient: true }, (_href, why) => `The store is busy: ${why}`);
      this.adoptCode('STORE_BUSY');
    }
  }

  it('have their own code and message and still match every inherited code', () => {
    const error = new StoreBusy('try later');
    expect(error.message).toBe('The store is busy: try later');
    expect(error.code).toBe('STORE_BUSY');
    expect(error.name).toBe('StoreBusy');
    expect(isImageServiceError(error, 'STORE_BUSY')).toBe(true);
    expect(isImageServiceError(error, ErrorCode.ImageDownloadFailed)).toBe(true);
    expect(isImageServiceError(error, ErrorCode.ImageServiceError)).toBe(true);
    expect(isImageServiceError(error, ErrorCode.ImageNotFound)).toBe(false);
  });
});

describe('causes', () => {
  it('copies a cause that has its own name, code and status, as SDK errors do', () => {
    const sdkError = Object.assign(
      new Error('Access Denied for https://h/b/k?X-Amz-Signature=abc123secret'),
      {
        name: 'AccessDenied',
        Code: 'AccessDenied',
        $fault: 'client',
        statusCode: 403,
      },
    );
    const error = new ImageDownloadFailed({ imageHref: 's3://b/k', reason: 'denied', cause: sdkError });
    const cause = error.cause as Error & { Code?: string; statusCode?: number };
    expect(cause.name).toBe('AccessDenied');
    expect(cause.Code).toBe('AccessDenied');
    expect(cause.statusCode).toBe(403);
    expect(inspect(error, { depth: 5 })).not.toContain('abc123secret');
  });
});

describe('redirect locations', () => {
  it("never show the href's secrets, even when the server echoes them into the location's path", () => {
    const error = new ImageRefIsARedirect({
      imageHref: 'https://h/i.img?token=T0ken-Value-42',
      location: 'https://other/T0ken-Value-42/i.img',
    });
    expect(inspect(error)).not.toContain('T0ken-Value-42');
  });
});

describe('credentials that are not in the href', () => {
  it('are masked in the message, the reason and the cause, raw and percent-encoded, and payload fields are dropped', () => {
    const token = 'b3arer/T0ken+value';
    const parserError = Object.assign(new Error(`bad response echoing Authorization: Bearer ${token}`), {
      data: `HTTP/1.1 200 OK\r\nX-Echo: ${token}\r\n`,
      code: 'HPE_INVALID',
    });
    const error = new ImageDownloadFailed({
      imageHref: 'https://h/i.img',
      reason: `the server said ${encodeURIComponent(token)}`,
      cause: parserError,
      secrets: [token],
    });
    const rendered = inspect(error, { depth: 10 });
    expect(rendered).not.toContain(token);
    expect(rendered).not.toContain(encodeURIComponent(token));
    expect((error.cause as { code?: string }).code).toBe('HPE_INVALID');
    expect((error.cause as { data?: string }).data).toBeUndefined();
  });
});
