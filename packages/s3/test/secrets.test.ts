import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadToFile, isImageServiceError } from '@image-service/core';
import { captureDebugLog, renderError } from '@image-service/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { S3ImageService, s3OptionsFromEnv } from '../src/index.js';
import { type FakeAnswer, FakeS3 } from './fake-s3.js';

/**
 * S3 credentials planted everywhere they can appear (static options, the AWS_* environment, presigned query parameters
 * and userinfo in hrefs) and every failure path driven, with stores that quote the request's Authorization header and
 * session token back: no message, cause chain (util.inspect, depth 10), JSON form or debug line shows any of them.
 */

const ACCESS_KEY = 'AKIAFAKEFAKEFAKEFAKE';
const SECRET_KEY = 'Zq-s3-secret-access-key-0001';
const SESSION_TOKEN = 'Zq-s3-session-token-0001';
const HREF_PASSWORD = 'Zq-href-password-0001';
const HREF_SIGNATURE = 'Zq0href0signature';
const PLANTED = [SECRET_KEY, SESSION_TOKEN, HREF_PASSWORD, HREF_SIGNATURE];

const lines: string[] = [];
let restoreLog = () => {};
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'image-service-s3-secrets-'));
  restoreLog = captureDebugLog(lines);
});
afterAll(async () => {
  restoreLog();
  await rm(dir, { recursive: true, force: true });
});

/** The signatures the requests carried: a store may quote them back, so they count as secrets too. */
function signaturesOf(requests: Array<{ headers: Record<string, string> }>): string[] {
  return requests.flatMap((r) => /Signature=([0-9a-f]{64})/.exec(r.headers.authorization ?? '')?.[1] ?? []);
}

async function failureOf(operation: Promise<unknown>): Promise<unknown> {
  return operation.then(
    () => undefined,
    (error: unknown) => error,
  );
}

function expectNoSecret(text: string, secrets: readonly string[], what: string): void {
  for (const secret of secrets)
    expect(text.includes(secret), `${what} shows ${secret}:\n${text}`).toBe(false);
}

/** Runs every entry point on `href` and checks what each failure shows. */
async function driveAll(
  service: S3ImageService,
  href: string,
  what: string,
  extra: () => string[],
): Promise<number> {
  const operations: Array<[string, () => Promise<unknown>]> = [
    ['show', () => service.show(href)],
    ['validateHref', () => service.validateHref(href)],
    ['validateHref secret', () => service.validateHref(href, { secret: true })],
    [
      'downloadToFile',
      () => downloadToFile(service, href, join(dir, 'image.img'), { retry: { retries: 1, minDelayMs: 1 } }),
    ],
  ];
  let failures = 0;
  for (const [name, run] of operations) {
    lines.length = 0;
    const error = await failureOf(run());
    if (error === undefined) continue;
    failures += 1;
    expect(isImageServiceError(error), `${what} ${name}: ${String(error)}`).toBe(true);
    expectNoSecret(
      `${renderError(error)}\n${lines.join('\n')}`,
      [...PLANTED, ...extra()],
      `${what}, ${name}`,
    );
  }
  return failures;
}

describe('s3: planted credentials never show', () => {
  it('with static credentials, whatever the store answers', async () => {
    const fake = new FakeS3();
    fake.put('images', 'disk.img', Buffer.alloc(200_000, 1), {
      checksumSha256: Buffer.alloc(32, 7).toString('base64'),
    });
    // A wrong published digest: every download fails, at the latest when the bytes are checked.
    fake.put('images', 'broken.img', Buffer.alloc(200_000, 2), {
      checksumSha256: Buffer.alloc(32, 7).toString('base64'),
      checksumType: 'FULL_OBJECT',
    });
    const echo = (code: string, status: number): FakeAnswer => ({
      status,
      code,
      message: 'quoting the request',
      extraXml: '',
    });
    const faults: Array<
      [
        string,
        ((request: { key: string; headers: Record<string, string> }) => FakeAnswer | undefined) | undefined,
      ]
    > = [
      ['no fault (missing key, wrong digest)', undefined],
      [
        'AccessDenied quoting the Authorization header and the session token',
        (request) => ({
          ...echo('AccessDenied', 403),
          message: `Access denied for ${request.headers.authorization} with token ${request.headers['x-amz-security-token']}`,
          extraXml: `<Token>${request.headers['x-amz-security-token']}</Token>`,
        }),
      ],
      ['503 SlowDown, always', () => echo('SlowDown', 503)],
      [
        'a body reset mid-way, always',
        (request) => (request.key === 'broken.img' ? { breakAfter: 1000 } : undefined),
      ],
    ];
    let failures = 0;
    for (const [what, fault] of faults) {
      for (const accessKeyId of [ACCESS_KEY, 'AKIAFAKEWRONGSECRET0', 'AKIAUNKNOWNKEY000000']) {
        fake.requests.length = 0;
        fake.fault = fault;
        const service = new S3ImageService({
          client: fake.client({ accessKeyId, secretAccessKey: SECRET_KEY, sessionToken: SESSION_TOKEN }, 1),
        });
        for (const href of [
          's3://images/disk.img',
          's3://images/broken.img',
          's3://images/missing.img',
          's3://no-such-bucket/disk.img',
          `s3://${ACCESS_KEY}:${HREF_PASSWORD}@images/disk.img`,
          `s3://images/disk.img?X-Amz-Signature=${HREF_SIGNATURE}`,
        ]) {
          failures += await driveAll(service, href, `${what}, key ${accessKeyId}, ${href}`, () =>
            signaturesOf(fake.requests),
          );
        }
      }
    }
    expect(failures).toBeGreaterThan(150);
    expect(await readdir(dir)).toEqual([]);
  });

  it('with credentials from the AWS_* environment, against a store that quotes them back', async () => {
    const seen: Array<{ headers: Record<string, string> }> = [];
    const server: Server = createServer((req, res) => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      seen.push({ headers });
      const xml =
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code>' +
        `<Message>The signature does not match: ${headers.authorization} ${headers['x-amz-security-token']}</Message>` +
        `<AWSAccessKeyId>${ACCESS_KEY}</AWSAccessKeyId><StringToSign>${headers.authorization}</StringToSign>` +
        '<RequestId>req</RequestId></Error>';
      res.writeHead(403, {
        'content-type': 'application/xml',
        'content-length': String(Buffer.byteLength(xml)),
      });
      res.end(req.method === 'HEAD' ? undefined : xml);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    try {
      vi.stubEnv('AWS_ACCESS_KEY_ID', ACCESS_KEY);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', SECRET_KEY);
      vi.stubEnv('AWS_SESSION_TOKEN', SESSION_TOKEN);
      vi.stubEnv('AWS_REGION', 'us-east-1');
      vi.stubEnv('AWS_MAX_ATTEMPTS', '1');
      vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/aws-config');
      vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/aws-credentials');
      vi.stubEnv('IMAGE_SERVICE_S3_FORCE_PATH_STYLE', 'true');
      let failures = 0;
      for (const port of [(server.address() as AddressInfo).port, closedPort]) {
        vi.stubEnv('AWS_ENDPOINT_URL_S3', `http://127.0.0.1:${port}`);
        const service = new S3ImageService(s3OptionsFromEnv());
        for (const href of [
          's3://images/disk.img',
          `s3://images/disk.img?X-Amz-Signature=${HREF_SIGNATURE}`,
        ]) {
          failures += await driveAll(service, href, `env credentials, port ${port}, ${href}`, () =>
            signaturesOf(seen),
          );
        }
        (await service.client()).destroy();
      }
      expect(seen.length).toBeGreaterThan(0);
      expect(failures).toBe(16);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
