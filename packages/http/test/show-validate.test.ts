import { ErrorCode, ImageRefIsARedirect, isImageServiceError } from '@image-service/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { HttpImageService } from '../src/index.js';
import { Collector, QUICK_RETRY, rejection, serve, serveRaw, type TestServer } from './helpers.js';

const servers: TestServer[] = [];
const services: HttpImageService[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
afterAll(async () => {
  await Promise.all(services.map((service) => service.close()));
});

function service(options: ConstructorParameters<typeof HttpImageService>[0] = {}): HttpImageService {
  const made = new HttpImageService({ retry: false, proxy: false, ...options });
  services.push(made);
  return made;
}

async function track(server: Promise<TestServer>): Promise<TestServer> {
  const started = await server;
  servers.push(started);
  return started;
}

/** A server answering HEAD with these headers and an empty body. */
function headServer(headers: Record<string, string | string[]>, status = 200) {
  return track(
    serve((_req, res) => {
      res.writeHead(status, headers);
      res.end();
    }),
  );
}

describe('show', () => {
  it('reads size, the three Last-Modified forms, the ETag and properties', async () => {
    for (const lastModified of [
      'Tue, 15 Nov 2014 08:12:31 GMT',
      'Tuesday, 15-Nov-14 08:12:31 GMT',
      'Tue Nov 15 08:12:31 2014',
    ]) {
      const server = await headServer({
        'content-length': '1234',
        'last-modified': lastModified,
        etag: '"v1"',
        'content-type': 'application/x-qemu-disk',
        'accept-ranges': 'bytes',
      });
      const info = await service().show(`${server.url}/image.qcow2`);
      expect(info).toEqual({
        size: 1234,
        updatedAt: new Date(Date.UTC(2014, 10, 15, 8, 12, 31)),
        properties: { contentType: 'application/x-qemu-disk', acceptRanges: 'bytes' },
        noCache: false,
        etag: '"v1"',
      });
      expect(server.requests.map((r) => r.method)).toEqual(['HEAD']);
    }
  });

  it('gives a null updatedAt when Last-Modified is absent or unparsable', async () => {
    const cases: Record<string, string>[] = [
      { 'content-length': '5' },
      { 'content-length': '5', 'last-modified': '2014-11-15' },
    ];
    for (const headers of cases) {
      const server = await headServer(headers);
      expect((await service().show(`${server.url}/a`)).updatedAt).toBeNull();
    }
  });

  it('sets noCache exactly when Cache-Control has the no-store directive', async () => {
    const cases: [string | string[], boolean][] = [
      ['no-store', true],
      ['private, No-Store, max-age=0', true],
      [['public', 'no-store'], true],
      ['public, max-age=3600', false],
      ['no-cache', false],
      ['no-cache="no-store"', false],
    ];
    for (const [cacheControl, noCache] of cases) {
      const server = await headServer({ 'content-length': '5', 'cache-control': cacheControl });
      expect((await service().show(`${server.url}/a`)).noCache, String(cacheControl)).toBe(noCache);
    }
  });

  it('asks for bytes 0-0 when HEAD has no Content-Length, and reads the total from Content-Range', async () => {
    const server = await track(
      serve((req, res) => {
        if (req.method === 'HEAD') {
          res.writeHead(200, { 'transfer-encoding': 'chunked', etag: '"h"' });
          res.end();
          return;
        }
        expect(req.headers.range).toBe('bytes=0-0');
        res.writeHead(206, { 'content-range': 'bytes 0-0/987654', 'content-length': '1' });
        res.end('x');
      }),
    );
    const info = await service().show(`${server.url}/image`);
    expect(info.size).toBe(987654);
    expect(info.etag).toBe('"h"');
    expect(server.requests.map((r) => r.method)).toEqual(['HEAD', 'GET']);
  });

  it('falls back to a Range GET when HEAD is refused with 405, 501 or 403 (not on a directory)', async () => {
    for (const refused of [405, 501, 403]) {
      const server = await track(
        serve((req, res) => {
          if (req.method === 'HEAD') {
            res.writeHead(refused);
            res.end();
            return;
          }
          res.writeHead(206, {
            'content-range': 'bytes 0-0/42',
            'last-modified': 'Tue, 15 Nov 2014 08:12:31 GMT',
            'cache-control': 'no-store',
          });
          res.end('x');
        }),
      );
      const info = await service().show(`${server.url}/image`);
      expect(info.size, String(refused)).toBe(42);
      expect(info.updatedAt?.getTime()).toBe(Date.UTC(2014, 10, 15, 8, 12, 31));
      expect(info.noCache).toBe(true);
    }
  });

  it('reads the size of a server that ignores Range from its 200 Content-Length, without reading the body', async () => {
    const server = await track(
      serve((req, res) => {
        if (req.method === 'HEAD') {
          res.writeHead(405);
          res.end();
          return;
        }
        res.writeHead(200, { 'content-length': String(8 * 1024 * 1024) });
        res.write(Buffer.alloc(1024 * 1024));
        // The rest never comes: show must not wait for it.
      }),
    );
    expect((await service({ headersTimeoutMs: 5000 }).show(`${server.url}/big`)).size).toBe(8 * 1024 * 1024);
  });

  it('reports an empty image as size 0 (416 with bytes */0)', async () => {
    const server = await track(
      serve((req, res) => {
        if (req.method === 'HEAD') {
          res.writeHead(405);
          res.end();
          return;
        }
        res.writeHead(416, { 'content-range': 'bytes */0' });
        res.end();
      }),
    );
    expect((await service().show(`${server.url}/empty`)).size).toBe(0);
  });

  it('fails with the reference message when no size can be found', async () => {
    const server = await track(
      serve((_req, res) => {
        res.writeHead(200, { 'transfer-encoding': 'chunked' });
        res.end('some bytes');
      }),
    );
    const error = await rejection(service().show(`${server.url}/image`));
    expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed)).toBe(true);
    expect(error.message).toBe(
      `Validation of image href ${server.url}/image failed, reason: Cannot determine image size as there is no ` +
        'Content-Length header specified in response to HEAD request.',
    );
  });

  it('turns a non-numeric or negative Content-Length into ImageRefValidationFailed, not a crash', async () => {
    for (const length of ['abc', '-5', '12, 13']) {
      const server = await track(
        serveRaw((socket) => {
          socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`);
        }),
      );
      const error = await rejection(service().show(`${server.url}/image`));
      expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed), length).toBe(true);
      expect(error.message, length).toMatch(/Content-Length/);
      if (length !== '12, 13') expect(error.transient).toBe(false);
    }
  });

  it('maps HEAD statuses: 404 ImageNotFound, 401/403 ImageNotAuthorized, others ImageRefValidationFailed', async () => {
    const cases: [number, ErrorCode][] = [
      [404, ErrorCode.ImageNotFound],
      [401, ErrorCode.ImageNotAuthorized],
      [400, ErrorCode.ImageRefValidationFailed],
      [410, ErrorCode.ImageRefValidationFailed],
      [500, ErrorCode.ImageRefValidationFailed],
    ];
    for (const [status, code] of cases) {
      const server = await headServer({}, status);
      const error = await rejection(service().show(`${server.url}/image`));
      expect(error.code, String(status)).toBe(code);
      expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed)).toBe(true);
      expect(error.reason).toBe(`Got HTTP code ${status} instead of 200 in response to HEAD request.`);
      expect(error.transient).toBe(status === 500);
    }
  });

  it('treats 403 on a directory href as refused access, not as a reason to GET', async () => {
    const server = await headServer({}, 403);
    const error = await rejection(service().show(`${server.url}/images/`));
    expect(error.code).toBe(ErrorCode.ImageNotAuthorized);
    expect(server.requests).toHaveLength(1);
  });

  it('retries 503 and then succeeds; carries Retry-After (seconds or date, capped) on the error', async () => {
    const server = await track(
      serve((_req, res, index) => {
        if (index === 0) res.writeHead(503, { 'retry-after': '0' });
        else res.writeHead(200, { 'content-length': '77' });
        res.end();
      }),
    );
    expect((await service({ retry: QUICK_RETRY }).show(`${server.url}/a`)).size).toBe(77);
    expect(server.requests).toHaveLength(2);

    const busy = await track(
      serve((req, res) => {
        const retryAfter = req.url === '/seconds' ? '2' : new Date(Date.now() + 3_600_000).toUTCString();
        res.writeHead(429, { 'retry-after': retryAfter });
        res.end();
      }),
    );
    const capped = service({ retry: { retries: 0, maxDelayMs: 5000 } });
    expect((await rejection(capped.show(`${busy.url}/seconds`))).retryAfterMs).toBe(2000);
    expect((await rejection(capped.show(`${busy.url}/date`))).retryAfterMs).toBe(5000);
  });

  it('never retries a 4xx other than 408 and 429', async () => {
    const server = await headServer({}, 404);
    await rejection(service({ retry: QUICK_RETRY }).show(`${server.url}/a`));
    expect(server.requests).toHaveLength(1);
  });

  it('reuses one keep-alive connection across downloads', async () => {
    const server = await track(
      serve((_req, res) => {
        res.writeHead(200, { 'content-length': '5', etag: '"k"' });
        res.end('abcde');
      }),
    );
    const svc = service();
    for (let index = 0; index < 6; index++) {
      const sink = new Collector();
      await svc.download(`${server.url}/a`, sink);
      expect(sink.bytes.toString()).toBe('abcde');
    }
    expect(server.requests).toHaveLength(6);
    // undici frees a connection a tick after the body ends, so a call right after the first may open a second one.
    expect(server.connections()).toBeLessThanOrEqual(2);
  });
});

describe('validateHref', () => {
  it('resolves a 200 HEAD with its status, headers and URL', async () => {
    const server = await headServer({ 'content-length': '5', etag: '"x"' });
    const result = await service().validateHref(`${server.url}/a`);
    expect(result.status).toBe(200);
    expect(result.headers.etag).toBe('"x"');
    expect(result.url).toBe(`${server.url}/a`);
    expect(server.requests.map((r) => r.method)).toEqual(['HEAD']);
  });

  it('rejects each redirect code with ImageRefIsARedirect and the absolute location, without following', async () => {
    for (const status of [301, 302, 303, 307, 308]) {
      const server = await track(
        serve((_req, res) => {
          res.writeHead(status, { location: '../other/image.img?x=1' });
          res.end();
        }),
      );
      const error = await rejection(service().validateHref(`${server.url}/dir/sub/image.img`));
      expect(error).toBeInstanceOf(ImageRefIsARedirect);
      expect(error.code).toBe(ErrorCode.ImageRefIsARedirect);
      expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed)).toBe(true);
      expect((error as unknown as ImageRefIsARedirect).location).toBe(
        `${server.url}/dir/other/image.img?x=1`,
      );
      expect((error as unknown as ImageRefIsARedirect).status).toBe(status);
      expect(server.requests).toHaveLength(1);
    }
  });

  it('resolves a 403 for an href ending in / (a directory) and rejects it otherwise', async () => {
    const server = await headServer({}, 403);
    expect((await service().validateHref(`${server.url}/images/`)).status).toBe(403);
    const error = await rejection(service().validateHref(`${server.url}/images/a.img`));
    expect(error.code).toBe(ErrorCode.ImageNotAuthorized);
    expect(error.reason).toBe('Got HTTP code 403 instead of 200 in response to HEAD request.');
  });

  it('rejects other statuses with the reference reason', async () => {
    for (const status of [400, 404, 410, 500]) {
      const server = await headServer({}, status);
      const error = await rejection(service().validateHref(`${server.url}/a`));
      expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed)).toBe(true);
      expect(error.reason).toBe(`Got HTTP code ${status} instead of 200 in response to HEAD request.`);
    }
  });

  it('names a network failure in the reason', async () => {
    const server = await headServer({});
    const href = `${server.url}/a`;
    await server.close();
    servers.length = 0;
    const error = await rejection(service().validateHref(href));
    expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed)).toBe(true);
    expect(error.reason).toBe('the connection was refused (ECONNREFUSED)');
    expect(error.transient).toBe(true);
  });
});
