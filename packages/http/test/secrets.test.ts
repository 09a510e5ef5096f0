import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadToFile, isImageServiceError } from '@image-service/core';
import { captureDebugLog, renderError } from '@image-service/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpImageService, type HttpOptions, type LookupFunction } from '../src/index.js';
import {
  type ChaosResponse,
  type ChaosServer,
  imageAnswer,
  rangeStart,
  startChaosServer,
} from './chaos-server.js';
import { bytesOf } from './helpers.js';

/**
 * Credentials planted everywhere an http(s) download can carry them (userinfo, presigned query parameters, the basic
 * auth and headers the options configure, a proxy's password) and every failure path driven: no error message, cause
 * chain (util.inspect, depth 10), JSON form or debug line (IMAGE_SERVICE_DEBUG='*') shows any of them, in any of the
 * forms they travel in (as written, percent-decoded, base64 in a Basic header). (A headers timeout with planted secrets
 * is in network.test.ts.)
 */

const USERINFO_PASSWORD = 'Zq-userinfo-Passw0rd';
const OPTION_PASSWORD = 'Zq-option-Passw0rd';
const HEADER_TOKEN = 'Zq-header-token-0001';
const BEARER_TOKEN = 'Zq-bearer-token-0001';
const PROXY_PASSWORD = 'Zq-proxy-Passw0rd';
const SIGNATURE = 'Zq0signature0001';
const CREDENTIAL = 'ZqAKIA0credential';
const SECURITY_TOKEN = 'Zq-security-token-0001';
const QUERY_TOKEN = 'Zq-query-token-0001';
const QUERY = `X-Amz-Signature=${SIGNATURE}&X-Amz-Credential=${CREDENTIAL}&X-Amz-Security-Token=${SECURITY_TOKEN}&token=${QUERY_TOKEN}`;

const PLANTED = [
  USERINFO_PASSWORD,
  OPTION_PASSWORD,
  HEADER_TOKEN,
  BEARER_TOKEN,
  PROXY_PASSWORD,
  SIGNATURE,
  CREDENTIAL,
  SECURITY_TOKEN,
  QUERY_TOKEN,
];
/** The planted secrets in every form they may be quoted in. */
const FORMS = [
  ...PLANTED,
  Buffer.from(`alice:${USERINFO_PASSWORD}`).toString('base64'),
  Buffer.from(`bob:${OPTION_PASSWORD}`).toString('base64'),
].flatMap((form) => [form, encodeURIComponent(form)]);

const IMAGE = bytesOf(128 * 1024, 8);
const lines: string[] = [];
let restoreLog = () => {};
const servers: ChaosServer[] = [];
const services: HttpImageService[] = [];
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'image-service-http-secrets-'));
  restoreLog = captureDebugLog(lines);
});
afterAll(async () => {
  restoreLog();
  await Promise.all(services.map((service) => service.close()));
  await Promise.all(servers.map((server) => server.close()));
  await rm(dir, { recursive: true, force: true });
});

function service(options: HttpOptions = {}): HttpImageService {
  const made = new HttpImageService({
    proxy: false,
    retry: { retries: 1, minDelayMs: 1, maxDelayMs: 5 },
    headersTimeoutMs: 300,
    user: 'bob',
    password: OPTION_PASSWORD,
    headers: { 'X-Auth-Token': HEADER_TOKEN },
    ...options,
  });
  services.push(made);
  return made;
}

async function chaos(answer: (request: Parameters<typeof imageAnswer>[0], index: number) => ChaosResponse) {
  const server = await startChaosServer(answer);
  servers.push(server);
  return server;
}

const noName: LookupFunction = (hostname, _options, callback) =>
  callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);

/** Each failure path: a name, the hrefs to try (with userinfo and without) and the service to try them with. */
async function scenarios(): Promise<Array<{ name: string; hrefs: string[]; svc: HttpImageService }>> {
  const v1 = { bytes: IMAGE, etag: '"v1"' };
  const status = (code: number, headers: Array<[string, string]> = []) =>
    chaos(() => ({ status: code, headers: [...headers, ['Content-Length', '0']] }));
  const at = (server: ChaosServer | { port: number }, host = '127.0.0.1') => [
    `http://alice:${USERINFO_PASSWORD}@${host}:${server.port}/dir/image.img?${QUERY}`,
    `http://${host}:${server.port}/dir/image.img?${QUERY}`,
  ];
  const closed = await chaos(() => ({}));
  await closed.close();
  const list: Array<{
    name: string;
    server: ChaosServer | { port: number };
    svc?: HttpImageService;
    host?: string;
  }> = [
    { name: '404', server: await status(404) },
    { name: '401', server: await status(401, [['WWW-Authenticate', 'Basic realm="images"']]) },
    { name: '503, retries spent', server: await status(503, [['Retry-After', '0']]) },
    {
      name: 'redirect to file:',
      server: await status(302, [['Location', `file:///etc/shadow?token=${QUERY_TOKEN}`]]),
    },
    {
      name: 'redirect loop',
      server: await chaos((request) => ({
        status: 302,
        headers: [
          ['Location', request.url.includes('loop') ? `/dir/image.img?${QUERY}` : `/loop?${QUERY}`],
          ['Content-Length', '0'],
        ],
      })),
    },
    { name: 'connection refused', server: closed },
    {
      name: 'reset mid-body, retries spent',
      server: await chaos((request) => ({
        ...imageAnswer(request, v1),
        truncateAt: Math.max(0, 1000 - rangeStart(request)),
        ending: 'reset',
      })),
    },
    {
      name: 'body stalls (idle timeout)',
      server: await chaos((request) => ({
        ...imageAnswer(request, v1),
        truncateAt: Math.max(0, 1000 - rangeStart(request)),
        ending: 'hang',
      })),
    },
    {
      name: 'a response echoing the request (a parser error quoting it)',
      server: await chaos((request) => ({
        headers: [['X-Echo\u0001', JSON.stringify(request)]],
        body: Buffer.from(JSON.stringify(request)),
        ending: 'close',
      })),
    },
    {
      name: 'a redirect echoing the request into the location',
      server: await chaos((request, index) => ({
        status: index % 2 === 0 ? 307 : 500,
        headers: [
          ['Location', `http://127.0.0.1:1/${encodeURIComponent(JSON.stringify(request.headers))}?${QUERY}`],
          ['Content-Length', '0'],
        ],
      })),
    },
    {
      name: 'a redirect echoing the request (with the href) into a path that answers',
      server: await chaos((request) =>
        request.url.startsWith('/echo/')
          ? { status: 404, headers: [['Content-Length', '0']] }
          : {
              status: 302,
              headers: [
                ['Location', `/echo/${encodeURIComponent(JSON.stringify(request))}`],
                ['Content-Length', '0'],
              ],
            },
      ),
    },
    { name: 'denied address', server: await status(200), svc: service({ blockPrivateAddresses: true }) },
    {
      name: 'unresolvable host',
      server: { port: 80 },
      host: 'images.invalid',
      svc: service({ lookup: noName }),
    },
    {
      name: 'proxy refused',
      server: await status(200),
      svc: service({ proxy: { httpProxy: `http://proxyuser:${PROXY_PASSWORD}@127.0.0.1:${closed.port}` } }),
    },
    {
      name: 'bearer token, 403',
      server: await status(403),
      svc: service({
        user: undefined,
        password: undefined,
        headers: { Authorization: `Bearer ${BEARER_TOKEN}` },
      }),
    },
  ];
  return list.map(({ name, server, svc, host }) => ({
    name,
    hrefs: at(server, host),
    svc: svc ?? service(),
  }));
}

/** Fails the test when `text` shows a planted secret. */
function expectNoSecret(text: string, what: string): void {
  for (const form of FORMS) expect(text.includes(form), `${what} shows ${form}:\n${text}`).toBe(false);
}

describe('http: planted credentials never show', () => {
  it('in any error or debug line, whatever fails', async () => {
    let failures = 0;
    for (const { name, hrefs, svc } of await scenarios()) {
      for (const href of hrefs) {
        const operations: Array<[string, () => Promise<unknown>]> = [
          ['show', () => svc.show(href)],
          ['validateHref', () => svc.validateHref(href)],
          ['validateHref secret', () => svc.validateHref(href, { secret: true })],
          ['downloadToFile', () => downloadToFile(svc, href, join(dir, 'image.img'), { idleTimeoutMs: 200 })],
          [
            'downloadToFile with a wrong checksum',
            () =>
              downloadToFile(svc, href, join(dir, 'image.img'), {
                checksum: { algorithm: 'sha256', value: '0'.repeat(64) },
                idleTimeoutMs: 200,
              }),
          ],
        ];
        for (const [operation, run] of operations) {
          lines.length = 0;
          const error = await run().then(
            () => undefined,
            (caught: unknown) => caught,
          );
          if (error === undefined) continue;
          failures += 1;
          expect(isImageServiceError(error), `${name} ${operation}: ${String(error)}`).toBe(true);
          expectNoSecret(`${renderError(error)}\n${lines.join('\n')}`, `${name}, ${operation} of ${href}`);
        }
      }
    }
    expect(failures).toBeGreaterThan(100);
    expect(await readdir(dir)).toEqual([]);
  });

  it('when aborted mid-body, and for an href the URL parser reads differently', async () => {
    const server = await chaos((request) => ({
      ...imageAnswer(request, { bytes: IMAGE, etag: '"v"' }),
      drip: { bytes: 1024, everyMs: 5 },
    }));
    const svc = service();
    const controller = new AbortController();
    lines.length = 0;
    const aborted = await downloadToFile(
      svc,
      `http://alice:${USERINFO_PASSWORD}@127.0.0.1:${server.port}/i?${QUERY}`,
      join(dir, 'image.img'),
      {
        signal: controller.signal,
        onProgress: ({ bytes }) => {
          if (bytes > 0) controller.abort(new Error(`stopped by the caller for ${QUERY}`));
        },
      },
    ).catch((caught: unknown) => caught);
    expect(isImageServiceError(aborted, 'IMAGE_OPERATION_ABORTED')).toBe(true);
    expectNoSecret(`${renderError(aborted)}\n${lines.join('\n')}`, 'abort');
    const lenient = await svc
      .show(`http:\\\\alice:${USERINFO_PASSWORD}@127.0.0.1:${server.port}/i?${QUERY}`)
      .catch((caught: unknown) => caught);
    expect(isImageServiceError(lenient, 'IMAGE_REF_VALIDATION_FAILED')).toBe(true);
    expectNoSecret(`${renderError(lenient)}\n${lines.join('\n')}`, 'lenient href');
  });
});
