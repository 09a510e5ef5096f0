import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';

/** An object the fake store holds. */
export interface FakeObject {
  body: Buffer;
  etag: string;
  metadata?: Record<string, string>;
  contentType?: string;
  storageClass?: string;
  versionId?: string;
  /** Base64 SHA-256 the store reports with checksum mode (`x-amz-checksum-sha256`). */
  checksumSha256?: string;
  /** FULL_OBJECT or COMPOSITE. */
  checksumType?: string;
  lastModified?: Date;
}

/** A request as the fake saw it. */
export interface SeenRequest {
  method: string;
  bucket: string;
  key: string;
  headers: Record<string, string>;
  query: Record<string, string>;
}

/** What a fault hook may answer instead of the store: a status with an S3 error code, or a body that breaks. */
export type FakeAnswer =
  | { status: number; code: string; message?: string; extraXml?: string; headers?: Record<string, string> }
  | { breakAfter: number; errorCode?: string };

interface HttpRequestLike {
  method: string;
  path: string;
  headers: Record<string, string>;
  query?: Record<string, string | string[] | null>;
}

/**
 * An in-memory S3 behind the SDK's own `requestHandler` seam: HEAD and GET of path-style requests with Range, If-Match,
 * versionId, checksum mode and user metadata, real S3 error bodies, and a `fault` hook to inject what radosgw cannot be
 * made to do (a reset mid-body, 503 SlowDown, an overwrite between two ranges).
 */
export class FakeS3 {
  readonly buckets = new Map<string, Map<string, FakeObject>>();
  readonly requests: SeenRequest[] = [];
  /** Access key ids the store knows; unknown ones get InvalidAccessKeyId, AKIAFAKEWRONGSECRET0 SignatureDoesNotMatch. */
  readonly users = new Map<string, string>([
    ['AKIAFAKEFAKEFAKEFAKE', 'fake-secret-key-0123456789'],
    ['AKIAFAKEWRONGSECRET0', 'any'],
  ]);
  /** Called before each request is served; an answer replaces the store's. */
  fault: ((request: SeenRequest, index: number) => FakeAnswer | undefined) | undefined;

  put(bucket: string, key: string, body: Buffer | string, extra: Partial<FakeObject> = {}): FakeObject {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    const object: FakeObject = {
      body: data,
      etag: `"${createHash('md5').update(data).digest('hex')}"`,
      lastModified: new Date('2026-01-02T03:04:05Z'),
      ...extra,
    };
    let objects = this.buckets.get(bucket);
    if (!objects) {
      objects = new Map();
      this.buckets.set(bucket, objects);
    }
    objects.set(key, object);
    return object;
  }

  /** A client that talks to this fake, with the given credentials (default: a known user's). */
  client(
    credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = {
      accessKeyId: 'AKIAFAKEFAKEFAKEFAKE',
      secretAccessKey: 'fake-secret-key-0123456789',
    },
    maxAttempts = 3,
  ): S3Client {
    return new S3Client({
      endpoint: 'http://fake-s3.invalid',
      region: 'us-east-1',
      forcePathStyle: true,
      credentials,
      maxAttempts,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { handle: (request: HttpRequestLike) => this.handle(request) },
    });
  }

  async handle(request: HttpRequestLike): Promise<{ response: unknown }> {
    const headers = Object.fromEntries(
      Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), String(v)]),
    );
    const query: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (typeof value === 'string') query[name] = value;
    }
    const [, bucket = '', ...rest] = request.path.split('/');
    const seen: SeenRequest = {
      method: request.method,
      bucket: decodeURIComponent(bucket),
      key: decodeURIComponent(rest.join('/')),
      headers,
      query,
    };
    this.requests.push(seen);
    const head = request.method === 'HEAD';
    const answer = this.fault?.(seen, this.requests.length - 1);
    if (answer && 'status' in answer) return errorResponse(answer, head);

    const accessKey = /Credential=([^/]+)\//.exec(headers.authorization ?? '')?.[1];
    if (!accessKey || !this.users.has(accessKey)) {
      return errorResponse(
        {
          status: 403,
          code: 'InvalidAccessKeyId',
          message: 'The AWS Access Key Id you provided does not exist in our records.',
          extraXml: `<AWSAccessKeyId>${accessKey}</AWSAccessKeyId>`,
        },
        head,
      );
    }
    if (accessKey === 'AKIAFAKEWRONGSECRET0') {
      return errorResponse(
        {
          status: 403,
          code: 'SignatureDoesNotMatch',
          // Some stores quote the request's Authorization header in the message.
          message: `The request signature we calculated does not match the signature you provided: ${headers.authorization}`,
          extraXml: `<AWSAccessKeyId>${accessKey}</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n${headers['x-amz-date']}</StringToSign><SignatureProvided>${/Signature=([0-9a-f]+)/.exec(headers.authorization ?? '')?.[1]}</SignatureProvided>`,
        },
        head,
      );
    }
    const objects = this.buckets.get(seen.bucket);
    if (!objects)
      return errorResponse(
        { status: 404, code: 'NoSuchBucket', message: 'The specified bucket does not exist' },
        head,
      );
    const object = objects.get(seen.key);
    if (!object || (query.versionId !== undefined && query.versionId !== object.versionId)) {
      return errorResponse(
        query.versionId !== undefined
          ? { status: 404, code: 'NoSuchVersion', message: 'The specified version does not exist.' }
          : { status: 404, code: 'NoSuchKey', message: 'The specified key does not exist.' },
        head,
      );
    }
    const ifMatch = headers['if-match'];
    if (ifMatch !== undefined && ifMatch !== object.etag) {
      return errorResponse(
        {
          status: 412,
          code: 'PreconditionFailed',
          message: 'At least one of the pre-conditions you specified did not hold',
        },
        head,
      );
    }
    const size = object.body.length;
    const responseHeaders: Record<string, string> = {
      etag: object.etag,
      'last-modified': (object.lastModified ?? new Date()).toUTCString(),
      'content-type': object.contentType ?? 'application/octet-stream',
      'accept-ranges': 'bytes',
      'x-amz-request-id': 'FAKEREQUEST',
    };
    for (const [name, value] of Object.entries(object.metadata ?? {}))
      responseHeaders[`x-amz-meta-${name}`] = value;
    if (object.storageClass) responseHeaders['x-amz-storage-class'] = object.storageClass;
    if (object.versionId) responseHeaders['x-amz-version-id'] = object.versionId;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = headers.range ? /^bytes=(\d+)-(\d*)$/.exec(headers.range) : null;
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size)
        return errorResponse(
          { status: 416, code: 'InvalidRange', message: 'The requested range is not satisfiable' },
          head,
        );
      status = 206;
      responseHeaders['content-range'] = `bytes ${start}-${end}/${size}`;
    } else if (headers['x-amz-checksum-mode'] === 'ENABLED' && object.checksumSha256) {
      responseHeaders['x-amz-checksum-sha256'] = object.checksumSha256;
      if (object.checksumType) responseHeaders['x-amz-checksum-type'] = object.checksumType;
    }
    const slice = object.body.subarray(start, end + 1);
    responseHeaders['content-length'] = String(slice.length);
    if (head) return { response: { statusCode: 200, headers: responseHeaders, body: Readable.from([]) } };
    const body =
      answer && 'breakAfter' in answer
        ? brokenBody(slice, answer.breakAfter, answer.errorCode)
        : Readable.from(chunks(slice));
    return { response: { statusCode: status, headers: responseHeaders, body } };
  }
}

function* chunks(data: Buffer, size = 64 * 1024): Generator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

/** A body that sends `after` bytes and then fails the way a reset connection does. */
function brokenBody(data: Buffer, after: number, code = 'ECONNRESET'): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(data.subarray(0, after));
        return;
      }
      setImmediate(() => this.destroy(Object.assign(new Error('aborted'), { code })));
    },
  });
}

function errorResponse(
  answer: {
    status: number;
    code: string;
    message?: string;
    extraXml?: string;
    headers?: Record<string, string>;
  },
  head: boolean,
): { response: unknown } {
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${answer.code}</Code>` +
    `${answer.message ? `<Message>${answer.message}</Message>` : ''}${answer.extraXml ?? ''}` +
    '<RequestId>FAKEREQUEST</RequestId><HostId>fake-host-id</HostId></Error>';
  const headers: Record<string, string> = {
    'content-type': 'application/xml',
    'x-amz-request-id': 'FAKEREQUEST',
    ...answer.headers,
  };
  if (!head) headers['content-length'] = String(Buffer.byteLength(xml));
  return {
    response: { statusCode: answer.status, headers, body: Readable.from(head ? [] : [Buffer.from(xml)]) },
  };
}
