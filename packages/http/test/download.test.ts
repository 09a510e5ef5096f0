import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadToFile, ErrorCode, isImageServiceError, type Progress } from '@image-service/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HttpImageService, HttpOptions } from '../src/index.js';
import {
  bytesOf,
  Collector,
  drain,
  OpenableHttpImageService,
  QUICK_RETRY,
  rejection,
  serve,
  serveRaw,
  sha256,
  type TestServer,
} from './helpers.js';

const IMAGE = bytesOf(256 * 1024, 7);
const CUT = 100_000;

const servers: TestServer[] = [];
const services: HttpImageService[] = [];
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'image-service-http-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
afterAll(async () => {
  await Promise.all(services.map((service) => service.close()));
  await rm(dir, { recursive: true, force: true });
});

function service(options: HttpOptions = {}): OpenableHttpImageService {
  const made = new OpenableHttpImageService({ retry: QUICK_RETRY, proxy: false, ...options });
  services.push(made);
  return made;
}

async function track(server: Promise<TestServer>): Promise<TestServer> {
  const started = await server;
  servers.push(started);
  return started;
}

let files = 0;
/** A fresh destination in its own directory, to check that nothing is left behind. */
async function destination(): Promise<{ path: string; listing: () => Promise<string[]> }> {
  const folder = await mkdtemp(join(dir, `case-${files++}-`));
  return { path: join(folder, 'image.img'), listing: () => readdir(folder) };
}

interface Version {
  bytes: Buffer;
  etag?: string;
  lastModified?: string;
}

/**
 * Answers like a correct server: Range honoured (206) unless If-Range names another version, then 200 with the whole
 * image. `cutAfter` sends only that many body bytes and then drops the connection.
 */
function answer(req: IncomingMessage, res: ServerResponse, version: Version, cutAfter?: number): void {
  const headers: Record<string, string> = {
    'accept-ranges': 'bytes',
    'content-type': 'application/octet-stream',
  };
  if (version.etag) headers.etag = version.etag;
  if (version.lastModified) headers['last-modified'] = version.lastModified;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  const honoured = range && (!ifRange || ifRange === version.etag || ifRange === version.lastModified);
  let body = version.bytes;
  if (honoured) {
    const start = Number(range[1]);
    body = version.bytes.subarray(start);
    res.writeHead(206, {
      ...headers,
      'content-length': String(body.length),
      'content-range': `bytes ${start}-${version.bytes.length - 1}/${version.bytes.length}`,
    });
  } else {
    res.writeHead(200, { ...headers, 'content-length': String(body.length) });
  }
  if (cutAfter === undefined) {
    res.end(body);
  } else {
    res.write(body.subarray(0, cutAfter), () => res.destroy());
  }
}

describe('download', () => {
  it('streams the image with checksum and monotonic progress, and says it serves ranges', async () => {
    const server = await track(serve((req, res) => answer(req, res, { bytes: IMAGE, etag: '"v1"' })));
    const svc = service();
    const sink = new Collector();
    const seen: Progress[] = [];
    const result = await svc.download(`${server.url}/image.img`, sink, {
      checksum: { algorithm: 'sha256', value: sha256(IMAGE) },
      onProgress: (progress) => seen.push(progress),
    });
    expect(sink.bytes.equals(IMAGE)).toBe(true);
    expect(result).toEqual({
      bytes: IMAGE.length,
      checksum: { algorithm: 'sha256', value: sha256(IMAGE) },
      retries: 0,
    });
    expect(seen.at(-1)).toEqual({ bytes: IMAGE.length, total: IMAGE.length });
    expect(seen.every((p, i) => i === 0 || p.bytes >= (seen[i - 1]?.bytes ?? 0))).toBe(true);
    expect(server.requests[0]?.headers['accept-encoding']).toBe('identity');
    const stream = await svc.open(`${server.url}/image.img`);
    expect(stream.rangesSupported).toBe(true);
    expect(stream.size).toBe(IMAGE.length);
    expect(stream.validator).toBe('"v1"');
    expect((await drain(stream)).equals(IMAGE)).toBe(true);
  });

  it('maps GET statuses: 404 ImageNotFound, 401/403 ImageNotAuthorized, others ImageRefValidationFailed', async () => {
    const server = await track(
      serve((req, res) => {
        res.writeHead(Number(req.url?.slice(1)), { 'content-type': 'text/html' });
        res.end('<html>error page</html>');
      }),
    );
    const cases: [number, ErrorCode][] = [
      [404, ErrorCode.ImageNotFound],
      [401, ErrorCode.ImageNotAuthorized],
      [403, ErrorCode.ImageNotAuthorized],
      [400, ErrorCode.ImageRefValidationFailed],
      [410, ErrorCode.ImageRefValidationFailed],
      [500, ErrorCode.ImageRefValidationFailed],
    ];
    for (const [status, code] of cases) {
      const error = await rejection(
        service({ retry: false }).download(`${server.url}/${status}`, new Collector()),
      );
      expect(error.code, String(status)).toBe(code);
      expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed)).toBe(true);
      expect(error.reason).toBe(`Got HTTP code ${status} instead of 200 in response to GET request.`);
      expect(error.transient).toBe(status === 500);
    }
  });

  it('retries 503 and then succeeds', async () => {
    const server = await track(
      serve((req, res, index) => {
        if (index === 0) {
          res.writeHead(503);
          res.end();
        } else answer(req, res, { bytes: IMAGE, etag: '"v1"' });
      }),
    );
    const sink = new Collector();
    const result = await service().download(`${server.url}/image.img`, sink);
    expect(sink.bytes.equals(IMAGE)).toBe(true);
    expect(result.retries).toBe(1);
    expect(server.requests).toHaveLength(2);
  });

  it('waits as long as a 429 Retry-After asks before trying again', async () => {
    const times: number[] = [];
    const server = await track(
      serve((req, res, index) => {
        times.push(Date.now());
        if (index === 0) {
          res.writeHead(429, { 'retry-after': '1' });
          res.end();
        } else answer(req, res, { bytes: IMAGE, etag: '"v1"' });
      }),
    );
    const sink = new Collector();
    await service({ retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5000 } }).download(
      `${server.url}/i`,
      sink,
    );
    expect(sink.bytes.equals(IMAGE)).toBe(true);
    expect(times).toHaveLength(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(900);
  });

  it('does not retry when the driver was made with retry: false', async () => {
    const server = await track(
      serve((_req, res) => {
        res.writeHead(503);
        res.end();
      }),
    );
    const error = await rejection(service({ retry: false }).download(`${server.url}/i`, new Collector()));
    expect(error.reason).toBe('Got HTTP code 503 instead of 200 in response to GET request.');
    expect(server.requests).toHaveLength(1);
  });

  it('resumes a connection reset mid-body with Range and If-Range, and the file has the right bytes', async () => {
    const server = await track(
      serve((req, res, index) =>
        answer(req, res, { bytes: IMAGE, etag: '"v1"' }, index === 0 ? CUT : undefined),
      ),
    );
    const out = await destination();
    const seen: Progress[] = [];
    const result = await downloadToFile(service(), `${server.url}/image.img`, out.path, {
      computeChecksum: 'sha256',
      onProgress: (progress) => seen.push(progress),
    });
    expect((await readFile(out.path)).equals(IMAGE)).toBe(true);
    expect(result.checksum?.value).toBe(sha256(IMAGE));
    expect(result.retries).toBe(1);
    const resume = server.requests[1]!;
    const start = Number(/^bytes=(\d+)-$/.exec(String(resume.headers.range))?.[1]);
    expect(start).toBeGreaterThan(0);
    expect(start).toBeLessThanOrEqual(CUT);
    expect(resume.headers['if-range']).toBe('"v1"');
    expect(seen.every((p, i) => i === 0 || p.bytes >= (seen[i - 1]?.bytes ?? 0))).toBe(true);
    expect(seen.at(-1)?.bytes).toBe(IMAGE.length);
    expect(await out.listing()).toEqual(['image.img']);
  });

  it('pins a resume to Last-Modified when there is no strong ETag', async () => {
    const lastModified = 'Tue, 15 Nov 2014 08:12:31 GMT';
    const server = await track(
      serve((req, res, index) =>
        answer(req, res, { bytes: IMAGE, etag: 'W/"weak"', lastModified }, index === 0 ? CUT : undefined),
      ),
    );
    const sink = new Collector();
    await service().download(`${server.url}/image.img`, sink);
    expect(sink.bytes.equals(IMAGE)).toBe(true);
    expect(server.requests[1]?.headers['if-range']).toBe(lastModified);
  });

  it('starts over when the server gives no validator to pin a resume to', async () => {
    const server = await track(
      serve((req, res, index) => answer(req, res, { bytes: IMAGE }, index === 0 ? CUT : undefined)),
    );
    const out = await destination();
    const result = await downloadToFile(service(), `${server.url}/image.img`, out.path);
    expect((await readFile(out.path)).equals(IMAGE)).toBe(true);
    // The dropped connection, then the refused resume: both count as retries, but only two requests were made.
    expect(result.retries).toBe(2);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]?.headers.range).toBeUndefined();

    const stream = await track(
      serve((req, res, index) => answer(req, res, { bytes: IMAGE }, index === 0 ? CUT : undefined)),
    );
    const error = await rejection(service().download(`${stream.url}/image.img`, new Collector()));
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(error.mustRestart).toBe(true);
  });

  it('skips to the offset when a server ignores Range but serves the same version', async () => {
    const server = await track(
      serve((req, res, index) => {
        const { range: _ignored, ...rest } = req.headers;
        req.headers = rest;
        answer(req, res, { bytes: IMAGE, etag: '"v1"' }, index === 0 ? CUT : undefined);
      }),
    );
    const sink = new Collector();
    const result = await service().download(`${server.url}/image.img`, sink);
    expect(sink.bytes.equals(IMAGE)).toBe(true);
    expect(result.retries).toBe(1);
    expect(server.requests[1]?.headers.range).toMatch(/^bytes=\d+-$/);
  });

  it('never splices two versions: an ETag that changes between attempts restarts the download', async () => {
    const v2 = bytesOf(IMAGE.length + 1000, 99);
    const server = await track(
      serve((req, res, index) =>
        answer(
          req,
          res,
          index === 0 ? { bytes: IMAGE, etag: '"v1"' } : { bytes: v2, etag: '"v2"' },
          index === 0 ? CUT : undefined,
        ),
      ),
    );
    const out = await destination();
    const result = await downloadToFile(service(), `${server.url}/image.img`, out.path, {
      computeChecksum: 'sha256',
    });
    expect((await readFile(out.path)).equals(v2)).toBe(true);
    expect(result.checksum?.value).toBe(sha256(v2));
    expect(server.requests).toHaveLength(3);
    expect(server.requests[2]?.headers.range).toBeUndefined();

    const again = await track(
      serve((req, res, index) =>
        answer(
          req,
          res,
          index === 0 ? { bytes: IMAGE, etag: '"v1"' } : { bytes: v2, etag: '"v2"' },
          index === 0 ? CUT : undefined,
        ),
      ),
    );
    const error = await rejection(service().download(`${again.url}/image.img`, new Collector()));
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(error.message).toContain('the image changed since the download started');
  });

  it('restarts when a server ignores If-Range and sends a 206 of another version', async () => {
    const v2 = bytesOf(IMAGE.length, 98);
    const server = await track(
      serve((req, res, index) => {
        if (index === 0) return answer(req, res, { bytes: IMAGE, etag: '"v1"' }, CUT);
        const { 'if-range': _ignored, ...rest } = req.headers;
        req.headers = rest;
        answer(req, res, { bytes: v2, etag: '"v2"' });
      }),
    );
    const out = await destination();
    await downloadToFile(service(), `${server.url}/image.img`, out.path);
    expect((await readFile(out.path)).equals(v2)).toBe(true);
  });

  it('fails on a 206 whose Content-Range is not the range asked for, and leaves no file', async () => {
    const server = await track(
      serve((req, res, index) => {
        if (index === 0) return answer(req, res, { bytes: IMAGE, etag: '"v1"' }, CUT);
        res.writeHead(206, { etag: '"v1"', 'content-range': `bytes 0-${IMAGE.length - 1}/${IMAGE.length}` });
        res.end(IMAGE);
      }),
    );
    const out = await destination();
    const error = await rejection(downloadToFile(service(), `${server.url}/image.img`, out.path));
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(error.reason).toMatch(
      /^the server answered a request for bytes \d+- with Content-Range "bytes 0-/,
    );
    expect(await out.listing()).toEqual([]);
  });

  it('fails on a body shorter than its Content-Length and leaves no file', async () => {
    const server = await track(serve((req, res) => answer(req, res, { bytes: IMAGE, etag: '"v1"' }, CUT)));
    const out = await destination();
    const error = await rejection(
      downloadToFile(service({ retry: false }), `${server.url}/image.img`, out.path),
    );
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(error.transient).toBe(true);
    expect(await out.listing()).toEqual([]);
  });

  it('never writes more than a body announced', async () => {
    // HTTP/1.1 framing ends the body at Content-Length: the excess never reaches the file.
    const raw = await track(
      serveRaw((socket) => {
        socket.end(`HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789EXTRA-BYTES`);
      }),
    );
    const sink = new Collector();
    expect((await service().download(`${raw.url}/i`, sink)).bytes).toBe(10);
    expect(sink.bytes.toString()).toBe('0123456789');

    // A chunked 206 that runs past its Content-Range.
    const chunked = await track(
      serve((req, res, index) => {
        if (index === 0) return answer(req, res, { bytes: IMAGE, etag: '"v1"' }, CUT);
        const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1]);
        res.writeHead(206, {
          etag: '"v1"',
          'content-range': `bytes ${start}-${IMAGE.length - 1}/${IMAGE.length}`,
        });
        res.write(IMAGE.subarray(start));
        res.end(Buffer.from('trailing garbage'));
      }),
    );
    const error = await rejection(service().download(`${chunked.url}/i`, new Collector()));
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(error.reason).toMatch(/^the server sent more than the \d+ bytes it announced$/);

    // A 206 whose Content-Length disagrees with its Content-Range.
    const mismatch = await track(
      serve((req, res, index) => {
        if (index === 0) return answer(req, res, { bytes: IMAGE, etag: '"v1"' }, CUT);
        const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1]);
        res.writeHead(206, {
          etag: '"v1"',
          'content-range': `bytes ${start}-${IMAGE.length - 1}/${IMAGE.length}`,
          'content-length': String(IMAGE.length - start + 5),
        });
        res.end(Buffer.concat([IMAGE.subarray(start), Buffer.from('12345')]));
      }),
    );
    const mismatched = await rejection(service().download(`${mismatch.url}/i`, new Collector()));
    expect(mismatched.reason).toMatch(/Content-Length \d+ does not match its Content-Range/);
  });

  it('catches a stalled body with the idle timeout, and resumes after it', async () => {
    const stalled = await track(
      serve((req, res) => {
        res.writeHead(200, { 'content-length': String(IMAGE.length), etag: '"v1"' });
        res.write(IMAGE.subarray(0, CUT));
        req.on('close', () => res.destroy());
      }),
    );
    const error = await rejection(
      service({ retry: false }).download(`${stalled.url}/i`, new Collector(), { idleTimeoutMs: 150 }),
    );
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(error.reason).toMatch(/^no data arrived for 150 ms after \d+ bytes$/);

    const recovers = await track(
      serve((req, res, index) => {
        if (index > 0) return answer(req, res, { bytes: IMAGE, etag: '"v1"' });
        res.writeHead(200, { 'content-length': String(IMAGE.length), etag: '"v1"' });
        res.write(IMAGE.subarray(0, CUT));
        req.on('close', () => res.destroy());
      }),
    );
    const sink = new Collector();
    const result = await service().download(`${recovers.url}/i`, sink, { idleTimeoutMs: 150 });
    expect(sink.bytes.equals(IMAGE)).toBe(true);
    expect(result.retries).toBe(1);
    expect(recovers.requests[1]?.headers.range).toMatch(/^bytes=\d+-$/);
  });

  it('times out waiting for response headers', async () => {
    const silent = await track(serveRaw(() => {}));
    const error = await rejection(
      service({ retry: false, headersTimeoutMs: 150 }).download(`${silent.url}/i`, new Collector()),
    );
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(error.reason).toBe('no response headers arrived within 150 ms (UND_ERR_HEADERS_TIMEOUT)');
    expect(error.transient).toBe(true);
    const shown = await rejection(service({ retry: false, headersTimeoutMs: 150 }).show(`${silent.url}/i`));
    expect(shown.code).toBe(ErrorCode.ImageRefValidationFailed);
  });

  it('times out connecting', async () => {
    const neverResolves = () => {};
    const error = await rejection(
      service({ retry: false, connectTimeoutMs: 150, lookup: neverResolves }).show('http://images.test/i'),
    );
    expect(error.reason).toBe('connecting timed out after 150 ms (UND_ERR_CONNECT_TIMEOUT)');
    expect(error.transient).toBe(true);
  });

  it('stops at once on abort mid-body, leaving no file', async () => {
    const server = await track(
      serve((req, res) => {
        res.writeHead(200, { 'content-length': String(IMAGE.length), etag: '"v1"' });
        res.write(IMAGE.subarray(0, CUT));
        req.on('close', () => res.destroy());
      }),
    );
    const out = await destination();
    const controller = new AbortController();
    const error = await rejection(
      downloadToFile(service(), `${server.url}/i`, out.path, {
        signal: controller.signal,
        onProgress: (progress) => {
          if (progress.bytes > 0) controller.abort();
        },
      }),
    );
    expect(error.code).toBe(ErrorCode.ImageOperationAborted);
    expect(await out.listing()).toEqual([]);
  });

  it('fetches a large image as parallel ranges pinned to its validator when asked', async () => {
    const big = bytesOf(1024 * 1024, 5);
    const server = await track(serve((req, res) => answer(req, res, { bytes: big, etag: '"big"' })));
    const parallel = { partSize: 256 * 1024, concurrency: 3, threshold: 512 * 1024 };
    const out = await destination();
    const result = await downloadToFile(service({ parallel }), `${server.url}/big.img`, out.path, {
      computeChecksum: 'sha256',
    });
    expect(result.checksum?.value).toBe(sha256(big));
    expect((await readFile(out.path)).equals(big)).toBe(true);
    const ranged = server.requests.filter((r) => r.headers.range !== undefined);
    expect(ranged.map((r) => r.headers.range).sort()).toEqual([
      'bytes=262144-524287',
      'bytes=524288-786431',
      'bytes=786432-1048575',
    ]);
    expect(ranged.every((r) => r.headers['if-range'] === '"big"')).toBe(true);

    const unpinned = await track(serve((req, res) => answer(req, res, { bytes: big })));
    const stream = await service().open(`${unpinned.url}/big.img`);
    expect(stream.rangesSupported).toBe(false);
    await drain(stream);
    await downloadToFile(service({ parallel }), `${unpinned.url}/big.img`, (await destination()).path);
    expect(unpinned.requests.filter((r) => r.headers.range !== undefined)).toEqual([]);
  });

  it('ends a resume at the end when the server says the range starts at the size (416)', async () => {
    const server = await track(
      serve((_req, res) => {
        res.writeHead(416, { 'content-range': `bytes */${IMAGE.length}` });
        res.end();
      }),
    );
    const stream = await service().open(`${server.url}/i`, { offset: IMAGE.length, validator: '"v1"' });
    expect(stream.size).toBe(IMAGE.length);
    expect((await drain(stream)).length).toBe(0);
    const shrunk = await rejection(service().open(`${server.url}/i`, { offset: 10, validator: '"v1"' }));
    expect(shrunk.mustRestart).toBe(true);
  });
});
