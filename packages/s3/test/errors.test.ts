import { describe, expect, it } from 'vitest';
import { isTransientS3Error, mapS3Error, parseS3Href, safeCause, scrubS3Text } from '../src/index.js';

const imageHref = 's3://images/os/disk.img';
const context = { imageHref, ref: parseS3Href(imageHref), operation: 'read' as const };

function sdkError(name: string, status: number | undefined, extra: Record<string, unknown> = {}) {
  return Object.assign(new Error(extra.message ? String(extra.message) : 'UnknownError'), {
    name,
    Code: name,
    $fault: 'client',
    $metadata: { httpStatusCode: status, requestId: 'REQ1' },
    ...extra,
  });
}

describe('mapS3Error', () => {
  it.each([
    ['NoSuchKey', 404, 'IMAGE_NOT_FOUND', /key "os\/disk.img" in bucket "images" does not exist/],
    ['NoSuchBucket', 404, 'IMAGE_NOT_FOUND', /bucket "images" does not exist/],
    ['AccessDenied', 403, 'IMAGE_NOT_AUTHORIZED', /denied access/],
    ['InvalidAccessKeyId', 403, 'IMAGE_NOT_AUTHORIZED', /does not know the access key id/],
    ['SignatureDoesNotMatch', 403, 'IMAGE_NOT_AUTHORIZED', /secret access key is wrong/],
    ['ExpiredToken', 400, 'IMAGE_NOT_AUTHORIZED', /session token has expired/],
    ['RequestTimeTooSkewed', 403, 'IMAGE_NOT_AUTHORIZED', /clock/],
    ['InvalidObjectState', 403, 'IMAGE_UNACCEPTABLE', /archived/],
    ['PreconditionFailed', 412, 'IMAGE_DOWNLOAD_FAILED', /changed during the download/],
    ['PermanentRedirect', 301, 'IMAGE_REF_VALIDATION_FAILED', /another region/],
    ['InvalidRange', 416, 'IMAGE_DOWNLOAD_FAILED', /refused the request \(InvalidRange, HTTP 416\)/],
  ])('maps %s (HTTP %s) to %s', (code, status, expected, reason) => {
    const error = mapS3Error(sdkError(code, status), context);
    expect(error.code).toBe(expected);
    expect(error.reason).toMatch(reason);
    expect(error.reason).toContain(`${code}, HTTP ${status}`);
  });

  it('marks throttling, 5xx and network failures transient, and the rest not', () => {
    for (const error of [
      sdkError('SlowDown', 503),
      sdkError('InternalError', 500),
      sdkError('Unknown', 502),
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      Object.assign(new Error('timed out'), { name: 'TimeoutError' }),
    ]) {
      expect(isTransientS3Error(error)).toBe(true);
      expect(mapS3Error(error, context)).toMatchObject({ code: 'IMAGE_DOWNLOAD_FAILED', transient: true });
      expect(mapS3Error(error, { ...context, operation: 'show' })).toMatchObject({
        code: 'IMAGE_REF_VALIDATION_FAILED',
        transient: true,
      });
    }
    expect(isTransientS3Error(sdkError('InvalidRange', 416))).toBe(false);
    expect(mapS3Error(sdkError('PreconditionFailed', 412), context)).toMatchObject({
      mustRestart: true,
      transient: true,
    });
  });

  it("honours the store's Retry-After", () => {
    const error = sdkError('SlowDown', 503, {
      $response: { statusCode: 503, headers: { 'retry-after': '3' } },
    });
    expect(mapS3Error(error, context).retryAfterMs).toBe(3000);
  });
});

describe('scrubbing', () => {
  it('masks access keys, signatures, credential scopes, tokens and quoted canonical requests', () => {
    const text = [
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/s3/aws4_request,',
      'SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      'https://b.s3.amazonaws.com/k?X-Amz-Security-Token=FQoGZXIvYXdzEJr&X-Amz-Signature=abc123',
      'x-amz-security-token: FQoGZXIvYXdzEJr//tokenvalue',
      '<AWSAccessKeyId>ASIAEXAMPLEEXAMPLE12</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\nsecret-scope</StringToSign>',
      'my-planted-secret-value',
    ].join('\n');
    const scrubbed = scrubS3Text(text, ['my-planted-secret-value']);
    for (const secret of [
      'AKIAIOSFODNN7EXAMPLE',
      'ASIAEXAMPLEEXAMPLE12',
      '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      'FQoGZXIvYXdzEJr',
      'abc123',
      'secret-scope',
      'my-planted-secret-value',
    ]) {
      expect(scrubbed).not.toContain(secret);
    }
    expect(scrubbed).toContain('Credential=***');
    expect(scrubbed).toContain('<StringToSign>***</StringToSign>');
  });

  it("keeps only an SDK error's name, code, status and request id as the cause", () => {
    const cause = safeCause(
      sdkError('SignatureDoesNotMatch', 403, {
        AWSAccessKeyId: 'AKIAIOSFODNN7EXAMPLE',
        StringToSign: 'string to sign',
        $response: { statusCode: 403, headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIA...' } },
      }),
    );
    expect(cause).toMatchObject({
      name: 'SignatureDoesNotMatch',
      code: 'SignatureDoesNotMatch',
      statusCode: 403,
      requestId: 'REQ1',
    });
    expect(Object.keys(cause).sort()).toEqual(['code', 'requestId', 'statusCode']);
    expect(String(cause.stack)).not.toContain('AKIA');
  });
});
