import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadToFile, ErrorCode, isImageServiceError } from '@image-service/core';
import { imageFromBytes, runConformance } from '@image-service/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peer } from '../../../scripts/peers/peers.js';
import { HttpImageService, type HttpOptions } from '../src/index.js';
import {
  bytesOf,
  Collector,
  drain,
  OpenableHttpImageService,
  rejection,
  renderError,
  sha256,
} from './helpers.js';

interface NginxPeer {
  httpUrl: string;
  httpUrlLocalhost: string;
  httpUrlV6: string | null;
  httpsUrl: string;
  httpsUrlIp: string;
  httpsUrlV6: string | null;
  httpsUntrustedUrl: string;
  httpsWrongNameUrl: string;
  caFile: string;
  caPem: string;
  docroot: string;
  privateDir: string;
  basicAuth: { user: string; password: string; realm: string };
}

const nginx = peer<NginxPeer>('nginx');
const prefix = `http-peers-${process.pid}-${randomBytes(3).toString('hex')}`;
const SMALL = bytesOf(96 * 1024, 11);
const small = `${prefix}-small.img`;
const large = `${prefix}-large.img`;
const LARGE_SIZE = 24 * 1024 * 1024;
let largeSha256 = '';
const { user, password } = nginx.basicAuth;
const encodedUserinfo = `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;

const services: HttpImageService[] = [];
function service(options: HttpOptions = {}): OpenableHttpImageService {
  const made = new OpenableHttpImageService({ proxy: false, retry: false, ca: nginx.caFile, ...options });
  services.push(made);
  return made;
}

let scratch = '';
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'image-service-http-peers-'));
  await writeFile(join(nginx.docroot, small), SMALL);
  await writeFile(join(nginx.privateDir, small), SMALL);
  // The large image is written and hashed in 1 MiB pieces.
  const hash = createHash('sha256');
  const out = createWriteStream(join(nginx.docroot, large));
  for (let index = 0; index < LARGE_SIZE / (1024 * 1024); index++) {
    const piece = bytesOf(1024 * 1024, 1000 + index);
    hash.update(piece);
    if (!out.write(piece)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  largeSha256 = hash.digest('hex');
});

afterAll(async () => {
  await Promise.all(services.map((svc) => svc.close()));
  await Promise.all(
    [join(nginx.docroot, small), join(nginx.privateDir, small), join(nginx.docroot, large)].map((path) =>
      rm(path, { force: true }),
    ),
  );
  await rm(scratch, { recursive: true, force: true });
});

for (const [scheme, base] of [
  ['http', nginx.httpUrl],
  ['https', nginx.httpsUrl],
] as const) {
  runConformance(
    { describe, it, beforeAll, afterAll },
    {
      name: `http driver against nginx over ${scheme}`,
      service: () => service(),
      existing: () => imageFromBytes(`${base}/${small}`, SMALL),
      missing: `${base}/${prefix}-missing.img`,
      malformed: `${scheme}://[not-a-host/${small}`,
      secret: {
        href: `${scheme}://${user}:Wr0ngPassw0rd@${new URL(base).host}/private/${small}?token=T0kenValue`,
        secrets: ['Wr0ngPassw0rd', 'T0kenValue'],
      },
      abortable: `${base}/slow/${large}`,
    },
  );
}

describe('http driver against nginx', () => {
  it('downloads a 24 MiB image with downloadToFile over https, sha256 checked', async () => {
    const dest = join(scratch, 'large.img');
    const started = performance.now();
    const result = await downloadToFile(service(), `${nginx.httpsUrl}/${large}`, dest, {
      checksum: { algorithm: 'sha256', value: largeSha256 },
    });
    const seconds = (performance.now() - started) / 1000;
    console.info(`24 MiB over https from nginx: ${(LARGE_SIZE / 1024 / 1024 / seconds).toFixed(0)} MiB/s`);
    expect(result.bytes).toBe(LARGE_SIZE);
    expect(result.checksum?.value).toBe(largeSha256);
  });

  it('downloads the 24 MiB image as parallel ranges pinned to its ETag', async () => {
    const dest = join(scratch, 'large-parallel.img');
    const started = performance.now();
    const result = await downloadToFile(
      service({ parallel: { partSize: 4 * 1024 * 1024, concurrency: 4, threshold: 8 * 1024 * 1024 } }),
      `${nginx.httpsUrl}/${large}`,
      dest,
      { checksum: { algorithm: 'sha256', value: largeSha256 } },
    );
    const seconds = (performance.now() - started) / 1000;
    console.info(
      `24 MiB over https in 4 parallel ranges: ${(LARGE_SIZE / 1024 / 1024 / seconds).toFixed(0)} MiB/s`,
    );
    expect(result.checksum?.value).toBe(largeSha256);
  });

  it('aborts a download of /slow/ mid-body and leaves no file', async () => {
    const dir = await mkdtemp(join(scratch, 'abort-'));
    const controller = new AbortController();
    let received = 0;
    const error = await rejection(
      downloadToFile(service(), `${nginx.httpUrl}/slow/${large}`, join(dir, 'image.img'), {
        signal: controller.signal,
        onProgress: (progress) => {
          received = progress.bytes;
          if (progress.bytes > 0) controller.abort();
        },
      }),
    );
    expect(error.code).toBe(ErrorCode.ImageOperationAborted);
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(LARGE_SIZE);
    expect(await readdir(dir)).toEqual([]);
  });

  it('authenticates with basic auth from options or userinfo; missing or wrong credentials are refused', async () => {
    const href = `${nginx.httpUrl}/private/${small}`;
    expect((await service({ user, password }).show(href)).size).toBe(SMALL.length);
    const sink = new Collector();
    await service().download(
      `http://${encodedUserinfo}@${new URL(nginx.httpUrl).host}/private/${small}`,
      sink,
    );
    expect(sha256(sink.bytes)).toBe(sha256(SMALL));
    const missing = await rejection(service().show(href));
    expect(missing.code).toBe(ErrorCode.ImageNotAuthorized);
    expect(missing.reason).toBe('Got HTTP code 401 instead of 200 in response to HEAD request.');
    const wrong = await rejection(service({ user, password: 'not-it' }).download(href, new Collector()));
    expect(wrong.code).toBe(ErrorCode.ImageNotAuthorized);
    expect(wrong.reason).toBe('Got HTTP code 401 instead of 200 in response to GET request.');
    expect((await service({ user, password }).show(`${nginx.httpUrl}/private-redirect/${small}`)).size).toBe(
      SMALL.length,
    );
  });

  it('follows each redirect code, relative locations and chains up to maxRedirects', async () => {
    for (const code of ['301', '302', '307', '308', 'relative']) {
      const href = `${nginx.httpUrl}/r/${code}/${small}`;
      expect((await service().show(href)).size, code).toBe(SMALL.length);
      const sink = new Collector();
      await service().download(href, sink);
      expect(sha256(sink.bytes), code).toBe(sha256(SMALL));
      const redirect = await rejection(service().validateHref(href));
      expect(redirect.code).toBe(ErrorCode.ImageRefIsARedirect);
      expect((redirect as unknown as { location: string }).location).toBe(`${nginx.httpUrl}/${small}`);
    }
    expect((await service().show(`${nginx.httpUrl}/r/chain/5/${small}`)).size).toBe(SMALL.length);
    expect((await rejection(service().show(`${nginx.httpUrl}/r/chain/6/${small}`))).reason).toBe(
      'more than 5 redirects',
    );
    expect((await rejection(service().show(`${nginx.httpUrl}/loop/a`))).reason).toMatch(/^redirect loop/);
    expect((await service().show(`${nginx.httpUrl}/to-https/${small}`)).size).toBe(SMALL.length);
  });

  it('refuses an https to http redirect', async () => {
    const error = await rejection(service().download(`${nginx.httpsUrl}/to-http/${small}`, new Collector()));
    expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed)).toBe(true);
    expect(error.reason).toBe('refused a redirect from https to plain http');
  });

  it('sends credentials to the origin but never to another origin after a redirect', async () => {
    const svc = service({ user, password, headers: { 'X-Api-Key': 'k' } });
    const direct = new Collector();
    await svc.download(`${nginx.httpUrl}/echo-auth`, direct);
    expect(direct.bytes.toString().trim()).toBe(
      `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
    );
    const redirected = new Collector();
    await svc.download(`${nginx.httpUrl}/r/other-origin/echo-auth`, redirected);
    expect(redirected.bytes.toString().trim()).toBe('');
    const fromUserinfo = new Collector();
    await service().download(
      `http://${encodedUserinfo}@${new URL(nginx.httpUrl).host}/r/other-origin/echo-auth`,
      fromUserinfo,
    );
    expect(fromUserinfo.bytes.toString().trim()).toBe('');
  });

  it('verifies TLS: the private CA (path or PEM) and IP names pass; untrusted and wrong names fail clearly', async () => {
    expect((await service({ ca: nginx.caPem }).show(`${nginx.httpsUrlIp}/${small}`)).size).toBe(SMALL.length);
    // nginx listens on [::1] unless the machine has no IPv6 loopback (then the peer reports null).
    if (nginx.httpsUrlV6) {
      const sink = new Collector();
      await service().download(`${nginx.httpsUrlV6}/${small}`, sink);
      expect(sha256(sink.bytes)).toBe(sha256(SMALL));
    }
    expect((await service({ tlsMinVersion: 'TLSv1.3' }).show(`${nginx.httpsUrl}/${small}`)).size).toBe(
      SMALL.length,
    );
    const noCa = await rejection(
      new HttpImageService({ proxy: false, retry: false }).show(`${nginx.httpsUrl}/${small}`),
    );
    expect(noCa.reason).toMatch(
      /^TLS certificate verification failed: .* \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)$/,
    );
    const untrusted = await rejection(service().show(`${nginx.httpsUntrustedUrl}/healthz`));
    expect(isImageServiceError(untrusted, ErrorCode.ImageRefValidationFailed)).toBe(true);
    expect(untrusted.reason).toBe(
      'TLS certificate verification failed: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)',
    );
    expect(untrusted.transient).toBe(false);
    const wrongName = await rejection(
      service().download(`${nginx.httpsWrongNameUrl}/${small}`, new Collector()),
    );
    expect(wrongName.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(wrongName.reason).toMatch(
      /^TLS certificate verification failed: .*example\.invalid.* \(ERR_TLS_CERT_ALTNAME_INVALID\)$/,
    );
    const hidden = renderError(
      await rejection(service().validateHref(`${nginx.httpsWrongNameUrl}/${small}`, { secret: true })),
    );
    for (const part of ['localhost', small, String(new URL(nginx.httpsWrongNameUrl).port)])
      expect(hidden).not.toContain(part);
    const insecure = service({ insecure: true, ca: undefined });
    expect((await insecure.show(`${nginx.httpsUntrustedUrl}/${small}`)).size).toBe(SMALL.length);
    const sink = new Collector();
    await insecure.download(`${nginx.httpsWrongNameUrl}/${small}`, sink);
    expect(sha256(sink.bytes)).toBe(sha256(SMALL));
  });

  it('reports noCache for no-store, and falls back to a Range GET when HEAD is refused', async () => {
    expect((await service().show(`${nginx.httpUrl}/no-store/${small}`)).noCache).toBe(true);
    const plain = await service().show(`${nginx.httpUrl}/${small}`);
    expect(plain.noCache).toBe(false);
    expect(plain.updatedAt).toBeInstanceOf(Date);
    expect(plain.etag).toMatch(/^"/);
    expect(plain.properties.acceptRanges).toBe('bytes');
    const refused = await rejection(service().validateHref(`${nginx.httpUrl}/no-head/${small}`));
    expect(refused.reason).toBe('Got HTTP code 405 instead of 200 in response to HEAD request.');
    const info = await service().show(`${nginx.httpUrl}/no-head/${small}`);
    expect(info.size).toBe(SMALL.length);
    expect(info.etag).toBe(plain.etag);
  });

  it('maps nginx statuses and carries Retry-After', async () => {
    for (const [code, expected] of [
      [404, ErrorCode.ImageNotFound],
      [401, ErrorCode.ImageNotAuthorized],
      [403, ErrorCode.ImageNotAuthorized],
      [410, ErrorCode.ImageRefValidationFailed],
      [500, ErrorCode.ImageRefValidationFailed],
    ] as const) {
      const error = await rejection(service().download(`${nginx.httpUrl}/status/${code}`, new Collector()));
      expect(error.code, String(code)).toBe(expected);
      expect(error.reason).toBe(`Got HTTP code ${code} instead of 200 in response to GET request.`);
    }
    for (const code of [429, 503]) {
      const error = await rejection(service().show(`${nginx.httpUrl}/status/${code}`));
      expect(error.transient, String(code)).toBe(true);
      expect(error.retryAfterMs).toBe(1000);
    }
    const empty = await rejection(service().show(`${nginx.httpUrl}/empty-reply`));
    expect(isImageServiceError(empty, ErrorCode.ImageRefValidationFailed)).toBe(true);
    expect(empty.reason).toMatch(/^the connection failed: .* \(UND_ERR_SOCKET\)$/);
    expect(empty.transient).toBe(true);
  });

  it('resumes against nginx with Range and If-Range, and refuses a stale validator', async () => {
    const svc = service();
    const href = `${nginx.httpsUrl}/${small}`;
    const first = await svc.open(href);
    expect(first.rangesSupported).toBe(true);
    await drain(first);
    const resumed = await svc.open(href, { offset: 1000, validator: first.validator });
    expect(resumed.size).toBe(SMALL.length);
    expect((await drain(resumed)).equals(SMALL.subarray(1000))).toBe(true);
    const stale = await rejection(svc.open(href, { offset: 1000, validator: '"stale-etag"' }));
    expect(stale.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(stale.mustRestart).toBe(true);
  });
});
