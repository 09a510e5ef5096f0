import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadToFile, ErrorCode, isImageServiceError } from '@image-service/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpImageService, type HttpOptions, type LookupFunction } from '../src/index.js';
import {
  type ChaosResponse,
  type ChaosScript,
  type ChaosServer,
  imageAnswer,
  rangeStart,
  startChaosServer,
} from './chaos-server.js';
import { bytesOf, Collector, rejection, sha256 } from './helpers.js';

/**
 * Faults injected byte by byte by the chaos server, against the http driver through `downloadToFile`: whatever happens,
 * the destination ends up as the complete, verified image or exactly as it was, and nothing else is left in its folder.
 */

const SIZE = 256 * 1024;
const IMAGE = bytesOf(SIZE, 21);
const DIGEST = { algorithm: 'sha256' as const, value: sha256(IMAGE) };
const V1 = { bytes: IMAGE, etag: '"v1"' };
const PREVIOUS = 'the previous image, which a failed download must leave as it is';
const FAST_RETRY = { retries: 3, minDelayMs: 1, maxDelayMs: 20 };

const servers: ChaosServer[] = [];
const services: HttpImageService[] = [];
let root = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'image-service-chaos-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
afterAll(async () => {
  await Promise.all(services.map((service) => service.close()));
  await rm(root, { recursive: true, force: true });
});

async function chaos(script: ChaosScript): Promise<ChaosServer> {
  const server = await startChaosServer(script);
  servers.push(server);
  return server;
}

function service(options: HttpOptions = {}): HttpImageService {
  const made = new HttpImageService({ retry: FAST_RETRY, proxy: false, ...options });
  services.push(made);
  return made;
}

let cases = 0;
/** A destination in a folder of its own, holding a previous image unless `empty`. */
async function destination(empty = false) {
  const folder = await mkdtemp(join(root, `case-${cases++}-`));
  const path = join(folder, 'image.img');
  if (!empty) await writeFile(path, PREVIOUS);
  return {
    path,
    /** The destination holds the complete image and nothing else is in its folder. */
    async isComplete() {
      expect(sha256(await readFile(path))).toBe(DIGEST.value);
      expect(await readdir(folder)).toEqual(['image.img']);
    },
    /** The destination is as it was and nothing else is in its folder. */
    async isUntouched() {
      if (empty) expect(await readdir(folder)).toEqual([]);
      else {
        expect(await readFile(path, 'utf8')).toBe(PREVIOUS);
        expect(await readdir(folder)).toEqual(['image.img']);
      }
    },
  };
}

/** The correct answer to `request`, with its body cut at the absolute byte `at` of the image and then ended as `ending` says. */
function cutAt(
  request: Parameters<ChaosScript>[0],
  at: number,
  ending: ChaosResponse['ending'],
): ChaosResponse {
  const answer = imageAnswer(request, V1);
  return { ...answer, truncateAt: Math.max(0, at - rangeStart(request)), ending };
}

/**
 * Waits until every connection that carried a request is closed (the driver closed what it abandoned), or fails after
 * 2 s. Connections the agent opened and never used stay pooled until its keep-alive timeout or `close()`.
 */
async function noAbandonedConnection(server: ChaosServer): Promise<void> {
  const used = () => [...new Set(server.requests.map((request) => request.connection))].filter(server.isOpen);
  for (let waited = 0; used().length > 0 && waited < 2000; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(used()).toEqual([]);
}

describe('a connection reset (RST) during the body', () => {
  const points: Array<[string, number]> = [
    ['at the start of the body', 0],
    ['in the middle of the body', SIZE / 2],
    ['one byte before the end', SIZE - 1],
  ];

  for (const [where, at] of points) {
    it(`${where}: resumed, and the destination is the complete, verified image`, async () => {
      const server = await chaos((request, index) =>
        index === 0 ? cutAt(request, at, 'reset') : imageAnswer(request, V1),
      );
      const out = await destination();
      const result = await downloadToFile(service(), `${server.url}/image.img`, out.path, {
        checksum: DIGEST,
      });
      expect(result).toMatchObject({ bytes: SIZE, checksum: DIGEST, retries: 1 });
      await out.isComplete();
      const resume = server.requests[1]!;
      expect(rangeStart(resume)).toBeLessThanOrEqual(at);
      if (resume.headers.range !== undefined) expect(resume.headers['if-range']).toBe('"v1"');
    });

    it(`${where}, on every attempt: a transient ImageDownloadFailed, the destination untouched`, async () => {
      const server = await chaos((request) => cutAt(request, at, 'reset'));
      const out = await destination();
      const error = await rejection(downloadToFile(service(), `${server.url}/image.img`, out.path));
      expect(isImageServiceError(error, ErrorCode.ImageDownloadFailed), String(error)).toBe(true);
      expect(error.transient).toBe(true);
      expect(server.requests.length).toBeLessThanOrEqual(1 + FAST_RETRY.retries + 1);
      await out.isUntouched();
      await noAbandonedConnection(server);
    });
  }
  it('mid-body on every attempt, from a server that gives no validator: restarts, then ImageDownloadFailed, the destination untouched', async () => {
    // No ETag and no Last-Modified: a resume could splice two versions, so every retry starts over from byte 0, and
    // the bytes it fetches again must not count as progress (or it would retry for ever).
    const server = await chaos((request) => ({
      ...imageAnswer(request, { bytes: IMAGE }),
      truncateAt: SIZE / 2,
      ending: 'reset',
    }));
    const out = await destination();
    const error = await rejection(
      downloadToFile(service(), `${server.url}/image.img`, out.path, { signal: AbortSignal.timeout(10_000) }),
    );
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(server.requests.every((request) => request.headers.range === undefined)).toBe(true);
    expect(server.requests.length).toBeLessThanOrEqual(2 * (FAST_RETRY.retries + 1));
    await out.isUntouched();
  });
});

describe('bodies that disagree with their framing', () => {
  it('longer than Content-Length on a keep-alive connection: the excess never reaches the file, and the next download works', async () => {
    const server = await chaos((request) => {
      const answer = imageAnswer(request, V1);
      if (request.method === 'HEAD' || request.headers.range) return answer;
      return { ...answer, body: Buffer.concat([IMAGE, Buffer.from('GARBAGE AFTER THE BODY')]) };
    });
    const svc = service();
    for (let round = 0; round < 3; round++) {
      const out = await destination();
      await downloadToFile(svc, `${server.url}/image.img`, out.path, { checksum: DIGEST });
      await out.isComplete();
    }
  });

  it('shorter than Content-Length, every time: a transient ImageDownloadFailed, the destination untouched', async () => {
    const server = await chaos((request) => cutAt(request, 1000, 'close'));
    const out = await destination();
    const error = await rejection(
      downloadToFile(service({ retry: { retries: 2, minDelayMs: 1 } }), `${server.url}/i`, out.path),
    );
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(error.transient).toBe(true);
    await out.isUntouched();
  });

  it('chunked and missing its last chunk: resumed, and the destination is complete', async () => {
    const server = await chaos((request, index) => {
      if (index > 0) return imageAnswer(request, V1);
      return {
        headers: [['ETag', '"v1"']],
        body: IMAGE,
        chunked: true,
        drip: { bytes: 16 * 1024, everyMs: 0 },
        truncateAt: SIZE / 2,
        ending: 'close',
      };
    });
    const out = await destination();
    const result = await downloadToFile(service(), `${server.url}/i`, out.path, { checksum: DIGEST });
    expect(result.retries).toBe(1);
    expect(rangeStart(server.requests[1]!)).toBeGreaterThan(0);
    await out.isComplete();
  });

  it('with no length and cut short (close-delimited): the checksum catches it, the destination untouched', async () => {
    const server = await chaos(() => ({ body: IMAGE, truncateAt: SIZE / 2, ending: 'close' }));
    const out = await destination();
    const error = await rejection(
      downloadToFile(service(), `${server.url}/i`, out.path, { checksum: DIGEST }),
    );
    expect(error.code).toBe(ErrorCode.ImageChecksumError);
    await out.isUntouched();
  });

  it('with no length and a connection that never closes: the idle timeout ends it, the destination untouched', async () => {
    const server = await chaos(() => ({ body: IMAGE, ending: 'hang' }));
    const out = await destination();
    const error = await rejection(
      downloadToFile(service({ retry: false }), `${server.url}/i`, out.path, { idleTimeoutMs: 200 }),
    );
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(error.reason).toMatch(/^no data arrived for 200 ms after \d+ bytes$/);
    await out.isUntouched();
    await noAbandonedConnection(server);
  });
});

describe('resume answers that cannot be trusted', () => {
  it('a 206 announcing another total size: restarted from byte 0, never spliced', async () => {
    const server = await chaos((request, index) => {
      if (index === 0) return cutAt(request, SIZE / 2, 'reset');
      if (index === 1) {
        const start = rangeStart(request);
        return {
          status: 206,
          headers: [
            ['ETag', '"v1"'],
            ['Content-Range', `bytes ${start}-${SIZE + 999}/${SIZE + 1000}`],
            ['Content-Length', String(SIZE + 1000 - start)],
          ],
          body: Buffer.alloc(SIZE + 1000 - start, 0x58),
        };
      }
      return imageAnswer(request, V1);
    });
    const out = await destination();
    const result = await downloadToFile(service(), `${server.url}/i`, out.path, { checksum: DIGEST });
    expect(result.retries).toBe(2);
    expect(server.requests.map((r) => r.headers.range === undefined)).toEqual([true, false, true]);
    await out.isComplete();
  });

  it('a 206 whose Content-Range does not parse: ImageDownloadFailed, the destination untouched', async () => {
    const server = await chaos((request, index) => {
      if (index === 0) return cutAt(request, SIZE / 2, 'reset');
      return {
        status: 206,
        headers: [
          ['ETag', '"v1"'],
          ['Content-Range', 'bytes banana'],
        ],
        body: IMAGE,
        ending: 'close',
      };
    });
    const out = await destination();
    const error = await rejection(downloadToFile(service(), `${server.url}/i`, out.path));
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(error.reason).toMatch(/with Content-Range "bytes banana"$/);
    await out.isUntouched();
  });

  it('a strong ETag on the first answer and none on a 200 to the resume: restarted, never spliced', async () => {
    const other = bytesOf(SIZE, 77);
    const server = await chaos((request, index) => {
      if (index === 0) return cutAt(request, SIZE / 2, 'reset');
      // Serves another image, with no validator: the resume cannot tell it is the same one, so it must not trust it.
      const answer = imageAnswer({ ...request, headers: {} }, { bytes: index === 1 ? other : IMAGE });
      return index === 1 ? answer : imageAnswer(request, V1);
    });
    const out = await destination();
    await downloadToFile(service(), `${server.url}/i`, out.path, { checksum: DIGEST });
    await out.isComplete();
  });
});

describe('stalls', () => {
  const DRIPPED = bytesOf(64 * 1024, 5);

  it('a slow drip that never pauses as long as the idle timeout succeeds', async () => {
    const server = await chaos((request) => ({
      ...imageAnswer(request, { bytes: DRIPPED, etag: '"d"' }),
      drip: { bytes: 2048, everyMs: 10 },
    }));
    const out = await destination(true);
    const result = await downloadToFile(service({ retry: false }), `${server.url}/i`, out.path, {
      idleTimeoutMs: 250,
      computeChecksum: 'sha256',
    });
    expect(result).toMatchObject({ bytes: DRIPPED.length, retries: 0 });
    expect(result.checksum?.value).toBe(sha256(DRIPPED));
    expect(server.requests).toHaveLength(1);
  });

  it('a full stop mid-body on every attempt: ImageDownloadFailed after the retries, the destination untouched', async () => {
    const server = await chaos((request) => cutAt(request, SIZE / 2, 'hang'));
    const out = await destination();
    const error = await rejection(
      downloadToFile(service({ retry: { retries: 1, minDelayMs: 1 } }), `${server.url}/i`, out.path, {
        idleTimeoutMs: 150,
      }),
    );
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(error.reason).toMatch(/^no data arrived for 150 ms/);
    expect(server.requests).toHaveLength(2);
    await out.isUntouched();
    await noAbandonedConnection(server);
  });

  it('a server that never closes after a complete body: the download completes', async () => {
    const server = await chaos((request) => ({ ...imageAnswer(request, V1), ending: 'hang' }));
    const out = await destination();
    const result = await downloadToFile(service({ retry: false }), `${server.url}/i`, out.path, {
      checksum: DIGEST,
      idleTimeoutMs: 5000,
    });
    expect(result.retries).toBe(0);
    await out.isComplete();
  });

  it('a stall before the headers on every attempt: the headers timeout, then the destination untouched', async () => {
    const server = await chaos(() => ({ stallBeforeHeaders: 'never' }));
    const out = await destination();
    const error = await rejection(
      downloadToFile(
        service({ headersTimeoutMs: 100, retry: { retries: 1, minDelayMs: 1 } }),
        `${server.url}/i`,
        out.path,
      ),
    );
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(error.reason).toBe('no response headers arrived within 100 ms (UND_ERR_HEADERS_TIMEOUT)');
    expect(server.requests).toHaveLength(2);
    await out.isUntouched();
  });
});

describe('Retry-After', () => {
  const inAnHour = () => new Date(Date.now() + 3_600_000).toUTCString();
  const forms: Array<[string, () => string]> = [
    ['seconds (an hour)', () => '3600'],
    ['an HTTP date an hour ahead', inAnHour],
    ['an absurd number of seconds', () => '999999999999999999999'],
    ['a date in the year 9999', () => 'Fri, 31 Dec 9999 23:59:59 GMT'],
  ];

  // Each wait is asked to be an hour or more: the downloads finish within the test's 10 s only because every wait is
  // capped at the retry policy's maxDelayMs (50 ms).
  for (const [form, value] of forms) {
    it(`429 then 503 with Retry-After as ${form}: capped at maxDelayMs, then the download succeeds`, {
      timeout: 10_000,
    }, async () => {
      const server = await chaos((request, index) => {
        if (index > 1) return imageAnswer(request, V1);
        return {
          status: index === 0 ? 429 : 503,
          headers: [
            ['Retry-After', value()],
            ['Content-Length', '0'],
          ],
        };
      });
      const svc = service({ retry: { retries: 3, minDelayMs: 1, maxDelayMs: 50 } });
      const out = await destination();
      const result = await downloadToFile(svc, `${server.url}/i`, out.path, { checksum: DIGEST });
      expect(result.retries).toBe(2);
      await out.isComplete();

      const refused = await chaos(() => ({
        status: 503,
        headers: [
          ['Retry-After', value()],
          ['Content-Length', '0'],
        ],
      }));
      const error = await rejection(svc.download(`${refused.url}/i`, new Collector(), { retry: false }));
      expect(error.transient).toBe(true);
      expect(error.retryAfterMs).toBe(50);
    });
  }

  it('ignores a Retry-After it cannot read and backs off on its own', async () => {
    let status = 0;
    const server = await chaos((request, index) => {
      if (index >= 3) return imageAnswer(request, V1);
      const garbage = ['soon', '-1', '1.5'][index]!;
      status = index % 2 === 0 ? 503 : 429;
      return {
        status,
        headers: [
          ['Retry-After', garbage],
          ['Content-Length', '0'],
        ],
      };
    });
    const out = await destination();
    const result = await downloadToFile(service(), `${server.url}/i`, out.path, { checksum: DIGEST });
    expect(result.retries).toBe(3);
    await out.isComplete();
  });
});

describe('hostile headers', () => {
  const LENGTHS: Array<[string, Array<[string, string]>]> = [
    ['huge (past 2^64)', [['Content-Length', '99999999999999999999']]],
    ['past 2^53', [['Content-Length', '9007199254740993']]],
    ['a petabyte, with a short body', [['Content-Length', '1000000000000000']]],
    [
      'duplicated with different values',
      [
        ['Content-Length', '10'],
        ['Content-Length', '20'],
      ],
    ],
    [
      'duplicated with the same value',
      [
        ['Content-Length', String(SIZE)],
        ['Content-Length', String(SIZE)],
      ],
    ],
    ['a list', [['Content-Length', `${SIZE}, ${SIZE}`]]],
    ['negative', [['Content-Length', '-5']]],
    ['non-numeric', [['Content-Length', 'abc']]],
    ['hexadecimal', [['Content-Length', '0x10']]],
  ];

  for (const [what, headers] of LENGTHS) {
    it(`a Content-Length ${what}: show and downloadToFile reject with ImageServiceErrors, the destination untouched`, async () => {
      const server = await chaos((request) => ({
        headers: [['ETag', '"v1"'], ...headers],
        body: request.method === 'HEAD' ? undefined : IMAGE,
        ending: 'close',
      }));
      const svc = service({ retry: { retries: 1, minDelayMs: 1 } });
      const shown = await svc.show(`${server.url}/i`).then(
        (info) => info,
        (error: unknown) => error,
      );
      if (isImageServiceError(shown)) expect(shown.code).toBe(ErrorCode.ImageRefValidationFailed);
      else
        expect(
          (shown as { size: number }).size,
          'show may only succeed with a sane size',
        ).toBeLessThanOrEqual(10 ** 15);
      const out = await destination();
      const error = await rejection(
        downloadToFile(svc, `${server.url}/i`, out.path, { idleTimeoutMs: 1000 }),
      );
      expect(isImageServiceError(error), String(error)).toBe(true);
      await out.isUntouched();
    });
  }

  it('a garbage Last-Modified: show gives no date, and a resume without a validator restarts rather than splices', async () => {
    const garbage = ['yesterday', 'Tue, 99 Nov 2014 08:12:31 GMT', '\u00ff\u00fe', 'x'.repeat(4000), '0'];
    for (const lastModified of garbage) {
      const server = await chaos((request, index) => {
        const answer = imageAnswer(request, { bytes: IMAGE, lastModified });
        return index === 1 ? { ...answer, truncateAt: SIZE / 2, ending: 'reset' } : answer;
      });
      const svc = service();
      const info = await svc.show(`${server.url}/i`);
      expect(info.updatedAt, lastModified.slice(0, 20)).toBeNull();
      const out = await destination();
      await downloadToFile(svc, `${server.url}/i`, out.path, { checksum: DIGEST });
      await out.isComplete();
      expect(server.requests.slice(1).every((r) => r.headers.range === undefined)).toBe(true);
    }
  });

  it('a Location to file:, data:, javascript: or another scheme is refused by downloads too, the destination untouched', async () => {
    for (const location of [
      'file:///etc/shadow',
      'data:application/octet-stream;base64,AAAA',
      'javascript:alert(1)',
      'gopher://example.com/1',
      'ftp://example.com/image.img',
    ]) {
      const server = await chaos(() => ({
        status: 302,
        headers: [
          ['Location', location],
          ['Content-Length', '0'],
        ],
      }));
      const out = await destination();
      const error = await rejection(downloadToFile(service(), `${server.url}/i`, out.path));
      expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed), location).toBe(true);
      expect(error.reason).toMatch(/^refused a redirect to a [a-z]+: URL/);
      await out.isUntouched();
    }
  });
});

describe('redirects to non-public addresses with blockPrivateAddresses', () => {
  /** Resolves `metadata.test` to the cloud metadata address and every other name nowhere. */
  const lookup: LookupFunction = (hostname, _options, callback) => {
    if (hostname === 'metadata.test') callback(null, [{ address: '169.254.169.254', family: 4 }]);
    else callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
  };
  const TARGETS: Array<[string, string]> = [
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254'],
    ['http://2852039166/latest/meta-data/', '169.254.169.254'],
    ['http://0251.0376.0251.0376/latest/', '169.254.169.254'],
    ['http://0xa9.0xfe.0xa9.0xfe/latest/', '169.254.169.254'],
    ['http://[::ffff:169.254.169.254]/latest/', '::ffff:a9fe:a9fe'],
    ['http://[fe80::1]/', 'fe80::1'],
    ['http://[fd00:ec2::254]/latest/', 'fd00:ec2::254'],
    ['http://[::1]:8080/', '::1'],
    ['http://10.0.0.1/', '10.0.0.1'],
    ['http://192.168.1.1/', '192.168.1.1'],
    ['http://172.16.0.1/', '172.16.0.1'],
    ['http://100.64.0.1/', '100.64.0.1'],
    ['http://0.0.0.0:8080/', '0.0.0.0'],
    ['http://127.0.0.2/', '127.0.0.2'],
    ['http://metadata.test/latest/', '169.254.169.254'],
  ];

  it('refuses every one of them, and never follows it, for show and downloadToFile', async () => {
    const server = await chaos((request) => {
      const target = TARGETS[Number(request.url.slice(1))]?.[0] ?? 'http://169.254.169.254/';
      return {
        status: 307,
        headers: [
          ['Location', target],
          ['Content-Length', '0'],
        ],
      };
    });
    const svc = service({ blockPrivateAddresses: true, allowedAddresses: ['127.0.0.1'], lookup });
    for (const [index, [target, address]] of TARGETS.entries()) {
      const shown = await rejection(svc.show(`${server.url}/${index}`));
      expect(isImageServiceError(shown, ErrorCode.ImageRefValidationFailed), target).toBe(true);
      expect(shown.reason, target).toBe(`the address policy denies the address ${address}`);
      expect(shown.transient).toBe(false);
      const out = await destination();
      const failed = await rejection(downloadToFile(svc, `${server.url}/${index}`, out.path));
      expect(failed.reason, target).toBe(`the address policy denies the address ${address}`);
      await out.isUntouched();
    }
    expect(server.requests.every((r) => /^\/\d+$/.test(r.url))).toBe(true);
  });
});
