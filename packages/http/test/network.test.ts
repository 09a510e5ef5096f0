import type { LookupAddress } from 'node:dns';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { ErrorCode, ImageRefIsARedirect, isImageServiceError, logSink } from '@image-service/core';
import { MockAgent } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { HttpImageService, type HttpOptions, type LookupFunction } from '../src/index.js';
import { bytesOf, Collector, rejection, renderError, serve, serveRaw, type TestServer } from './helpers.js';

const IMAGE = bytesOf(64 * 1024, 3);
const servers: TestServer[] = [];
const services: HttpImageService[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
afterAll(async () => {
  await Promise.all(services.map((service) => service.close()));
});

function service(options: HttpOptions = {}): HttpImageService {
  const made = new HttpImageService({ retry: false, proxy: false, ...options });
  services.push(made);
  return made;
}

async function track(server: Promise<TestServer>): Promise<TestServer> {
  const started = await server;
  servers.push(started);
  return started;
}

function image(res: ServerResponse): void {
  res.writeHead(200, { 'content-length': String(IMAGE.length), etag: '"img"' });
  res.end(IMAGE);
}

/** A server that redirects `/r/<code>/<rest>` to `/<rest>` and serves the image elsewhere. */
function redirector(req: IncomingMessage, res: ServerResponse): void {
  const match = /^\/r\/(\d{3})(\/.*)$/.exec(req.url ?? '');
  if (match) {
    res.writeHead(Number(match[1]), { location: match[2] });
    res.end();
  } else image(res);
}

/** A resolver with a fixed table, as `dns.lookup` answers with `all: true`. */
function table(entries: Record<string, string[]>): LookupFunction {
  return (hostname, _options, callback) => {
    const addresses = entries[hostname];
    if (!addresses) {
      const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
        code: 'ENOTFOUND',
        hostname,
      });
      callback(error, []);
      return;
    }
    callback(
      null,
      addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })),
    );
  };
}

describe('redirects', () => {
  it('show and download follow every redirect code', async () => {
    const server = await track(serve(redirector));
    for (const code of [301, 302, 303, 307, 308]) {
      expect((await service().show(`${server.url}/r/${code}/image.img`)).size).toBe(IMAGE.length);
      const sink = new Collector();
      await service().download(`${server.url}/r/${code}/image.img`, sink);
      expect(sink.bytes.equals(IMAGE)).toBe(true);
    }
    expect(server.requests.filter((r) => r.url === '/image.img').map((r) => r.method)).toEqual([
      'HEAD',
      'GET',
      'HEAD',
      'GET',
      'HEAD',
      'GET',
      'HEAD',
      'GET',
      'HEAD',
      'GET',
    ]);
  });

  it('stops a loop and a chain longer than maxRedirects', async () => {
    const server = await track(
      serve((req, res) => {
        const chain = /^\/chain\/(\d+)$/.exec(req.url ?? '');
        if (req.url === '/loop/a' || req.url === '/loop/b') {
          res.writeHead(302, { location: req.url === '/loop/a' ? '/loop/b' : '/loop/a' });
          res.end();
        } else if (chain && Number(chain[1]) > 0) {
          res.writeHead(302, { location: `/chain/${Number(chain[1]) - 1}` });
          res.end();
        } else image(res);
      }),
    );
    const loop = await rejection(service().show(`${server.url}/loop/a`));
    expect(isImageServiceError(loop, ErrorCode.ImageRefValidationFailed)).toBe(true);
    expect(loop.reason).toBe('redirect loop: redirect 2 leads back to a URL already visited');
    const long = await rejection(
      service({ maxRedirects: 2 }).download(`${server.url}/chain/3`, new Collector()),
    );
    expect(long.reason).toBe('more than 2 redirects');
    expect((await service({ maxRedirects: 2 }).show(`${server.url}/chain/2`)).size).toBe(IMAGE.length);
  });

  it('refuses a Location of another scheme, and reports a 3xx without one as a status', async () => {
    for (const location of ['file:///etc/passwd', 'ftp://example.com/image', 'data:text/plain,hi']) {
      const server = await track(
        serve((_req, res) => {
          res.writeHead(302, { location });
          res.end();
        }),
      );
      const error = await rejection(service().show(`${server.url}/image`));
      expect(error.reason, location).toMatch(/^refused a redirect to a (file|ftp|data): URL/);
    }
    const bare = await track(
      serve((_req, res) => {
        res.writeHead(302);
        res.end();
      }),
    );
    expect((await rejection(service().show(`${bare.url}/i`))).reason).toBe(
      'Got HTTP code 302 instead of 200 in response to HEAD request.',
    );
  });
});

describe('credentials', () => {
  it('sends basic auth from options, or from the href userinfo (percent-decoded, taking precedence)', async () => {
    const server = await track(serve((_req, res) => image(res)));
    await service({ user: 'alice', password: 'pa:ss' }).show(`${server.url}/a`);
    await service().show(`http://imageuser:p%40ss%25w0rd%21@127.0.0.1:${server.port}/a`);
    await service({ user: 'alice', password: 'x' }).show(`http://bob:pw@127.0.0.1:${server.port}/a`);
    await service({ headers: { Authorization: 'Bearer tok-123', 'X-Tenant': 'blue' } }).show(
      `${server.url}/a`,
    );
    const decode = (header: unknown) => Buffer.from(String(header).slice(6), 'base64').toString();
    expect(decode(server.requests[0]?.headers.authorization)).toBe('alice:pa:ss');
    expect(decode(server.requests[1]?.headers.authorization)).toBe('imageuser:p@ss%w0rd!');
    expect(decode(server.requests[2]?.headers.authorization)).toBe('bob:pw');
    expect(server.requests[3]?.headers.authorization).toBe('Bearer tok-123');
    expect(server.requests[3]?.headers['x-tenant']).toBe('blue');
  });

  it('keeps credentials on a same-origin redirect and drops them all when the origin changes', async () => {
    const other = await track(serve((_req, res) => image(res)));
    const origin = await track(
      serve((req, res) => {
        if (req.url === '/same') {
          res.writeHead(302, { location: '/image' });
          res.end();
        } else if (req.url === '/away') {
          res.writeHead(307, { location: `${other.url}/image` });
          res.end();
        } else image(res);
      }),
    );
    const options = { user: 'alice', password: 'pw', headers: { 'X-Api-Key': 'k-1' } };
    for (const href of [`${origin.url}/same`, `http://bob:secret@127.0.0.1:${origin.port}/away`]) {
      const sink = new Collector();
      await service(options).download(href, sink);
      expect(sink.bytes.equals(IMAGE)).toBe(true);
    }
    expect(
      origin.requests.map((r) => [r.url, Boolean(r.headers.authorization), r.headers['x-api-key']]),
    ).toEqual([
      ['/same', true, 'k-1'],
      ['/image', true, 'k-1'],
      ['/away', true, 'k-1'],
    ]);
    expect(other.requests).toHaveLength(1);
    expect(other.requests[0]?.headers.authorization).toBeUndefined();
    expect(other.requests[0]?.headers['x-api-key']).toBeUndefined();
    expect(other.requests[0]?.headers['user-agent']).toBe('image-service');
  });
});

describe('secrets', () => {
  const PASSWORD = 'S3cretPassw0rd';
  const TOKEN = 'T0kenValue123';
  const SIGNATURE = 'SiGnAtUrE987';

  async function failures(svc: HttpImageService, href: string, secret: boolean): Promise<string[]> {
    const texts: string[] = [];
    texts.push(renderError(await rejection(svc.validateHref(href, { secret }))));
    if (!secret) {
      texts.push(renderError(await rejection(svc.show(href))));
      texts.push(renderError(await rejection(svc.download(href, new Collector()))));
    }
    return texts;
  }

  async function scenarios(): Promise<{ name: string; href: string; svc: HttpImageService }[]> {
    const notFound = await track(
      serve((_req, res) => {
        res.writeHead(404);
        res.end();
      }),
    );
    const redirects = await track(
      serve((_req, res) => {
        res.writeHead(302, { location: `file:///srv/image?token=${TOKEN}` });
        res.end();
      }),
    );
    const silent = await track(serveRaw(() => {}));
    const closed = await track(serve(() => {}));
    await closed.close();
    servers.splice(servers.indexOf(closed), 1);
    const query = `?token=${TOKEN}&X-Amz-Signature=${SIGNATURE}`;
    const at = (port: number) =>
      `http://alice-user:${PASSWORD}@127.0.0.1:${port}/secret-dir/image.img${query}`;
    return [
      { name: '404', href: at(notFound.port), svc: service() },
      { name: 'refused redirect', href: at(redirects.port), svc: service() },
      { name: 'connection refused', href: at(closed.port), svc: service() },
      { name: 'headers timeout', href: at(silent.port), svc: service({ headersTimeoutMs: 100 }) },
      {
        name: 'DNS failure',
        href: `http://alice-user:${PASSWORD}@secret-host-name.test/secret-dir/image.img${query}`,
        svc: service({ lookup: table({}) }),
      },
      {
        name: 'denied address',
        href: at(notFound.port),
        svc: service({ blockPrivateAddresses: true }),
      },
    ];
  }

  it('never shows a userinfo password, token or signature in any error', async () => {
    for (const { name, href, svc } of await scenarios()) {
      for (const text of await failures(svc, href, false)) {
        for (const secret of [PASSWORD, TOKEN, SIGNATURE])
          expect(text, `${name}: ${secret}`).not.toContain(secret);
      }
    }
  });

  it('with secret: true shows no part of the href, whatever failed', async () => {
    for (const { name, href, svc } of await scenarios()) {
      const url = new URL(href);
      const parts = [
        href,
        PASSWORD,
        TOKEN,
        SIGNATURE,
        'alice-user',
        url.hostname,
        'secret-dir',
        'image.img',
        `:${url.port || 80}`,
      ];
      for (const text of await failures(svc, href, true)) {
        for (const part of parts) expect(text, `${name}: ${part}`).not.toContain(part);
      }
    }
  });

  it('hides the location of a redirect with secret: true and masks its secrets otherwise', async () => {
    const server = await track(
      serve((_req, res) => {
        res.writeHead(302, { location: `/elsewhere/image.img?token=${TOKEN}` });
        res.end();
      }),
    );
    const href = `${server.url}/image.img`;
    const shown = await rejection(service().validateHref(href));
    expect(shown).toBeInstanceOf(ImageRefIsARedirect);
    expect(shown.message).toContain('/elsewhere/image.img?token=***');
    expect(renderError(shown)).not.toContain(TOKEN);
    expect((shown as unknown as ImageRefIsARedirect).location).toBe(
      `${server.url}/elsewhere/image.img?token=${TOKEN}`,
    );
    const hidden = renderError(await rejection(service().validateHref(href, { secret: true })));
    for (const part of ['elsewhere', TOKEN, '127.0.0.1', 'image.img']) expect(hidden).not.toContain(part);
  });
});

describe('address policy', () => {
  it('refuses a denied address literal without connecting', async () => {
    const server = await track(serve((_req, res) => image(res)));
    const error = await rejection(service({ blockPrivateAddresses: true }).show(`${server.url}/a`));
    expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed)).toBe(true);
    expect(error.reason).toBe('the address policy denies the address 127.0.0.1');
    expect(error.transient).toBe(false);
    expect(server.connections()).toBe(0);
    expect(
      (
        await service({ blockPrivateAddresses: true, allowedAddresses: ['127.0.0.1'] }).show(
          `${server.url}/a`,
        )
      ).size,
    ).toBe(IMAGE.length);
  });

  it('checks the addresses a host name resolves to at connect time', async () => {
    const server = await track(serve((_req, res) => image(res)));
    const error = await rejection(
      service({ blockPrivateAddresses: true, proxy: false }).download(
        `http://localhost:${server.port}/a`,
        new Collector(),
      ),
    );
    expect(error.code).toBe(ErrorCode.ImageDownloadFailed);
    expect(error.reason).toMatch(/^the address policy denies (the address|every address) /);
    expect(server.connections()).toBe(0);
    const mixed = service({
      deniedAddresses: ['169.254.0.0/16'],
      lookup: table({ 'images.test': ['169.254.169.254', '127.0.0.1'] }),
    });
    expect((await mixed.show(`http://images.test:${server.port}/a`)).size).toBe(IMAGE.length);
  });

  it('refuses a redirect to a denied target, by name or by address', async () => {
    const server = await track(
      serve((req, res) => {
        const target =
          req.url === '/to-name'
            ? `http://metadata.test:${server.port}/latest`
            : 'http://169.254.169.254/latest';
        res.writeHead(302, { location: target });
        res.end();
      }),
    );
    const svc = service({
      deniedAddresses: ['169.254.0.0/16'],
      lookup: table({ 'images.test': ['127.0.0.1'], 'metadata.test': ['169.254.169.254'] }),
    });
    for (const path of ['/to-name', '/to-address']) {
      const error = await rejection(svc.show(`http://images.test:${server.port}${path}`));
      expect(error.reason, path).toBe('the address policy denies the address 169.254.169.254');
    }
    expect(server.requests.map((r) => r.url)).toEqual(['/to-name', '/to-address']);
  });
});

/** An HTTP proxy that tunnels CONNECT requests and records them. */
async function startProxy(requireAuth?: string): Promise<TestServer & { connects: string[] }> {
  const connects: string[] = [];
  const sockets = new Set<Socket>();
  const proxy = createServer();
  proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('error', () => {});
    if (requireAuth && req.headers['proxy-authorization'] !== requireAuth) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    connects.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host ?? '', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  const server = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests: [],
    connects,
    connections: () => connects.length,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
  servers.push(server);
  return server;
}

describe('proxies', () => {
  it('goes through the proxy for the href scheme, and around it for NO_PROXY hosts or proxy: false', async () => {
    const server = await track(serve((_req, res) => image(res)));
    const proxy = await startProxy();
    const sink = new Collector();
    await service({ proxy: { httpProxy: proxy.url } }).download(`${server.url}/a`, sink);
    expect(sink.bytes.equals(IMAGE)).toBe(true);
    expect(proxy.connects).toEqual([`127.0.0.1:${server.port}`]);
    await service({ proxy: { httpProxy: proxy.url, noProxy: '127.0.0.0/8' } }).show(`${server.url}/a`);
    await service({ proxy: false }).show(`${server.url}/a`);
    await service({ proxy: { httpsProxy: proxy.url } }).show(`${server.url}/a`);
    expect(proxy.connects).toHaveLength(1);
  });

  it('reads HTTP_PROXY from the environment by default', async () => {
    const server = await track(serve((_req, res) => image(res)));
    const proxy = await startProxy();
    const saved = { ...process.env };
    try {
      for (const name of ['http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY'])
        delete process.env[name];
      process.env.HTTP_PROXY = proxy.url;
      const svc = new HttpImageService({ retry: false });
      services.push(svc);
      await svc.show(`${server.url}/a`);
    } finally {
      process.env = saved;
    }
    expect(proxy.connects).toHaveLength(1);
  });

  it('authenticates to the proxy from its URL and never shows the proxy password', async () => {
    const server = await track(serve((_req, res) => image(res)));
    const expected = `Basic ${Buffer.from('proxyuser:Pr0xyPass').toString('base64')}`;
    const proxy = await startProxy(expected);
    const withAuth = `http://proxyuser:Pr0xyPass@127.0.0.1:${proxy.port}`;
    expect((await service({ proxy: { httpProxy: withAuth } }).show(`${server.url}/a`)).size).toBe(
      IMAGE.length,
    );
    const wrong = `http://proxyuser:Wr0ngPass@127.0.0.1:${proxy.port}`;
    const error = await rejection(service({ proxy: { httpProxy: wrong } }).show(`${server.url}/a`));
    expect(isImageServiceError(error, ErrorCode.ImageRefValidationFailed)).toBe(true);
    expect(renderError(error)).not.toContain('Wr0ngPass');
  });

  it('checks the address policy before handing a request to a proxy', async () => {
    const proxy = await startProxy();
    const svc = service({
      proxy: { httpProxy: proxy.url },
      deniedAddresses: ['169.254.0.0/16'],
      lookup: table({ 'metadata.test': ['169.254.169.254'] }),
    });
    const error = await rejection(svc.show('http://metadata.test/latest'));
    expect(error.reason).toBe('the address policy denies the address 169.254.169.254');
    expect(proxy.connects).toHaveLength(0);
  });
});

describe('a dispatcher passed in', () => {
  it('is used for every request', async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    const pool = agent.get('http://images.test');
    pool.intercept({ path: '/a.img', method: 'HEAD' }).reply(200, '', { headers: { 'content-length': '3' } });
    pool
      .intercept({ path: '/a.img', method: 'GET' })
      .reply(200, 'abc', { headers: { 'content-length': '3' } });
    const svc = service({ dispatcher: agent });
    expect((await svc.show('http://images.test/a.img')).size).toBe(3);
    const sink = new Collector();
    await svc.download('http://images.test/a.img', sink);
    expect(sink.bytes.toString()).toBe('abc');
    await svc.close();
    agent.assertNoPendingInterceptors();
    await agent.close();
  });
});

describe('abort and logs', () => {
  it('aborts while waiting for headers and while backing off, hiding a secret href', async () => {
    const silent = await track(serveRaw(() => {}));
    const waiting = new AbortController();
    const pending = service().validateHref(`${silent.url}/hidden-path`, {
      signal: waiting.signal,
      secret: true,
    });
    setTimeout(() => waiting.abort(), 50);
    const aborted = await rejection(pending);
    expect(aborted.code).toBe(ErrorCode.ImageOperationAborted);
    expect(renderError(aborted)).not.toContain('hidden-path');

    const busy = await track(
      serve((_req, res) => {
        res.writeHead(503, { 'retry-after': '30' });
        res.end();
      }),
    );
    const backingOff = new AbortController();
    const retrying = service({ retry: { retries: 3, maxDelayMs: 60_000 } }).show(`${busy.url}/a`, {
      signal: backingOff.signal,
    });
    setTimeout(() => backingOff.abort(), 100);
    expect((await rejection(retrying)).code).toBe(ErrorCode.ImageOperationAborted);
    expect(busy.requests).toHaveLength(1);
  });

  it('writes debug lines without credentials or secret query values', async () => {
    const server = await track(
      serve((req, res) => {
        if (!req.url?.startsWith('/missing')) return image(res);
        res.writeHead(404);
        res.end();
      }),
    );
    const lines: string[] = [];
    const write = logSink.write;
    const saved = process.env.IMAGE_SERVICE_DEBUG;
    process.env.IMAGE_SERVICE_DEBUG = 'image-service:http';
    logSink.write = (line) => lines.push(line);
    try {
      await service().show(`http://alice:L0gPassw0rd@127.0.0.1:${server.port}/a?token=L0gT0ken`);
      await rejection(
        service().show(`http://alice:L0gPassw0rd@127.0.0.1:${server.port}/missing?token=L0gT0ken`),
      );
    } finally {
      logSink.write = write;
      if (saved === undefined) delete process.env.IMAGE_SERVICE_DEBUG;
      else process.env.IMAGE_SERVICE_DEBUG = saved;
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.some((line) => line.includes('HEAD http://127.0.0.1'))).toBe(true);
    for (const line of lines) {
      expect(line).not.toContain('L0gPassw0rd');
      expect(line).not.toContain('L0gT0ken');
    }
  });
});
