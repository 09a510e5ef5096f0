import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadToFile, isImageServiceError } from '@image-service/core';
import { captureDebugLog, renderError } from '@image-service/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GlanceImageService, type GlanceOptions } from '../src/index.js';

/**
 * Keystone and Glance credentials planted everywhere they can appear (a password, an application credential secret,
 * the token Keystone issues, a user's token in the request context, secrets in hrefs) and every failure path driven
 * against a Keystone and a Glance that quote the credentials back in their error bodies: no message, cause chain
 * (util.inspect, depth 10), JSON form or debug line (IMAGE_SERVICE_DEBUG='*') shows any of them.
 */

const PASSWORD = 'Zq-keystone-Passw0rd-0001';
const APP_SECRET = 'Zq-app-credential-secret-0001';
const ISSUED_TOKEN = `Zq-issued-token-${randomUUID()}`;
const CONTEXT_TOKEN = 'Zq-context-token-0001';
const HREF_PASSWORD = 'Zq-href-password-0001';
const HREF_TOKEN = 'Zq-href-token-0001';
const PLANTED = [PASSWORD, APP_SECRET, ISSUED_TOKEN, CONTEXT_TOKEN, HREF_PASSWORD, HREF_TOKEN];

/** What the fake answers, set per scenario. */
interface Behaviour {
  /** Keystone's answer to a password or application credential: `ok`, or an error status (with the body quoting it). */
  keystone: 'ok' | number;
  /** Glance's answer to GET /v2/images/{id}: `ok`, `queued`, or an error status quoting the token. */
  image: 'ok' | 'queued' | number;
  /** Glance's answer to GET .../file: `ok`, `reset` (mid-body, always) or an error status quoting the token. */
  file: 'ok' | 'reset' | number;
}

const IMAGE_ID = randomUUID();
const DATA = randomBytes(100_000);
let behaviour: Behaviour = { keystone: 'ok', image: 'ok', file: 'ok' };
let server: Server;
let url = '';
let closedUrl = '';
let dir = '';
const lines: string[] = [];
let restoreLog = () => {};

/** An error text quoting everything the request sent: its headers (a token) and its body (a password). */
function quoteBack(req: IncomingMessage, body: string): string {
  return `you sent ${JSON.stringify(req.headers)} with ${body}`;
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

function handle(req: IncomingMessage, res: ServerResponse, body: string) {
  const path = req.url ?? '';
  const echo = (status: number) =>
    json(res, status, {
      error: { code: status, message: quoteBack(req, body), title: `token ${req.headers['x-auth-token']}` },
    });
  if (path.startsWith('/v3/auth/tokens')) {
    if (req.method === 'GET') return echo(404);
    if (behaviour.keystone !== 'ok') return echo(behaviour.keystone);
    return json(
      res,
      201,
      {
        token: {
          expires_at: new Date(Date.now() + 3_600_000).toISOString(),
          project: { id: 'project-demo', name: 'demo' },
          user: { id: 'user-demo' },
          roles: [{ name: 'member' }],
          catalog: [
            {
              type: 'image',
              endpoints: [{ interface: 'public', region_id: 'RegionOne', url: `${url}/glance` }],
            },
          ],
        },
      },
      { 'x-subject-token': ISSUED_TOKEN },
    );
  }
  const file = path.endsWith('/file');
  const answer = file ? behaviour.file : behaviour.image;
  if (typeof answer === 'number') return echo(answer);
  if (!file) {
    return json(res, 200, {
      id: IMAGE_ID,
      status: answer === 'queued' ? 'queued' : 'active',
      visibility: 'public',
      owner: 'project-other',
      size: DATA.length,
      updated_at: '2026-11-26T23:00:00Z',
      direct_url: `swift+https://tenant:${PASSWORD}@swift.example/images/${IMAGE_ID}?temp_url_sig=${ISSUED_TOKEN}`,
    });
  }
  const start = Number(/^bytes=(\d+)-/.exec(String(req.headers.range ?? ''))?.[1] ?? 0);
  res.writeHead(start > 0 ? 206 : 200, {
    'content-length': String(DATA.length - start),
    ...(start > 0 ? { 'content-range': `bytes ${start}-${DATA.length - 1}/${DATA.length}` } : {}),
  });
  if (answer === 'reset') {
    res.write(DATA.subarray(start, Math.max(start, 5000)), () =>
      setTimeout(() => res.socket?.resetAndDestroy(), 10),
    );
  } else res.end(DATA.subarray(start));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'image-service-glance-secrets-'));
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  restoreLog = captureDebugLog(lines);
});
afterAll(async () => {
  restoreLog();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

const HREFS = [
  IMAGE_ID,
  `glance://${IMAGE_ID}`,
  `glance://admin:${HREF_PASSWORD}@127.0.0.1:1/${IMAGE_ID}`,
  `glance://${IMAGE_ID}?token=${HREF_TOKEN}`,
];

describe('glance: planted credentials never show', () => {
  it('whatever Keystone and Glance answer, and whichever way the service authenticates', async () => {
    const auths: Array<[string, () => GlanceOptions]> = [
      [
        'password',
        () => ({ auth: { authUrl: `${url}/v3`, username: 'demo', password: PASSWORD, projectName: 'demo' } }),
      ],
      [
        'application credential',
        () => ({
          auth: {
            authUrl: `${url}/v3`,
            applicationCredentialId: 'app-id',
            applicationCredentialSecret: APP_SECRET,
          },
        }),
      ],
      [
        "a user's token in the request context",
        () => ({
          auth: { authUrl: `${url}/v3`, username: 'demo', password: PASSWORD, projectName: 'demo' },
          context: { authToken: CONTEXT_TOKEN },
        }),
      ],
      [
        'Keystone unreachable',
        () => ({ auth: { authUrl: `${closedUrl}/v3`, username: 'demo', password: PASSWORD } }),
      ],
      ['Glance unreachable', () => ({ endpoint: closedUrl, auth: { token: CONTEXT_TOKEN } })],
    ];
    const behaviours: Behaviour[] = [
      { keystone: 401, image: 'ok', file: 'ok' },
      { keystone: 500, image: 'ok', file: 'ok' },
      { keystone: 'ok', image: 401, file: 'ok' },
      { keystone: 'ok', image: 403, file: 'ok' },
      { keystone: 'ok', image: 404, file: 'ok' },
      { keystone: 'ok', image: 503, file: 'ok' },
      { keystone: 'ok', image: 'queued', file: 'ok' },
      { keystone: 'ok', image: 'ok', file: 403 },
      { keystone: 'ok', image: 'ok', file: 500 },
      { keystone: 'ok', image: 'ok', file: 'reset' },
    ];
    let failures = 0;
    for (const [how, options] of auths) {
      for (const current of behaviours) {
        behaviour = current;
        const service = new GlanceImageService({
          numRetries: 0,
          retryDelayMs: 1,
          timeoutMs: 2000,
          ...options(),
        });
        for (const href of HREFS) {
          const operations: Array<[string, () => Promise<unknown>]> = [
            ['show', () => service.show(href)],
            ['validateHref', () => service.validateHref(href)],
            ['validateHref secret', () => service.validateHref(href, { secret: true })],
            [
              'downloadToFile',
              () =>
                downloadToFile(service, href, join(dir, 'image.img'), {
                  retry: { retries: 1, minDelayMs: 1 },
                }),
            ],
          ];
          for (const [name, run] of operations) {
            lines.length = 0;
            const error = await run().then(
              (value) => ({ resolved: value }),
              (caught: unknown) => caught,
            );
            if (typeof error === 'object' && error !== null && 'resolved' in error) {
              // Shown images carry the store's URL (its password and signature must be masked there too).
              for (const secret of PLANTED)
                expect(JSON.stringify(error), `${how} ${name}`).not.toContain(secret);
              continue;
            }
            failures += 1;
            expect(
              isImageServiceError(error),
              `${how}, ${JSON.stringify(current)}, ${name}: ${String(error)}`,
            ).toBe(true);
            const text = `${renderError(error)}\n${lines.join('\n')}`;
            for (const secret of PLANTED) {
              expect(
                text.includes(secret),
                `${how}, ${JSON.stringify(current)}, ${name} of ${href} shows ${secret}:\n${text}`,
              ).toBe(false);
            }
          }
        }
        await service.close();
      }
    }
    expect(failures).toBeGreaterThan(500);
    expect(await readdir(dir)).toEqual([]);
  });
});
