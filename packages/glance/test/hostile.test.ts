import { PassThrough } from 'node:stream';
import { isImageServiceError } from '@image-service/core';
import { captureDebugLog, failureWithin, renderError } from '@image-service/testkit';
import fc from 'fast-check';
import { MockAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GlanceImageService, parseGlanceHref } from '../src/index.js';

/**
 * Hostile hrefs against the glance driver: its parser returns a canonical image id or throws ImageRefValidationFailed,
 * and every entry point rejects only with ImageServiceErrors (never a TypeError, never a hang) without showing a planted
 * secret. No network is used: every request goes to an undici MockAgent that refuses it.
 */

const KEYSTONE_PASSWORD = 'Zq-keystone-Passw0rd';
const agent = new MockAgent();
agent.disableNetConnect();
const withEndpoint = new GlanceImageService({
  endpoint: 'http://glance.test:9292',
  numRetries: 0,
  dispatcher: agent,
});
const withKeystone = new GlanceImageService({
  auth: {
    authUrl: 'http://keystone.test:5000/v3',
    username: 'demo',
    password: KEYSTONE_PASSWORD,
    projectName: 'demo',
  },
  numRetries: 0,
  dispatcher: agent,
});

const lines: string[] = [];
let restoreLog = () => {};
beforeAll(() => {
  restoreLog = captureDebugLog(lines);
});
afterAll(async () => {
  restoreLog();
  await agent.close();
});

const secret = fc
  .tuple(fc.stringMatching(/^[A-Za-z0-9]{6,14}$/), fc.constantFrom('', '%40', '%3A', '%25', '%C3%A9'))
  .map(([text, escaped]) => `Zq${text}${escaped}`);
const id = fc.oneof(
  fc.uuid(),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.uuid().map((u) => u.replace(/-/g, '')),
  fc.uuid().map((u) => `{${u}}`),
  fc.uuid().map((u) => `urn:uuid:${u}`),
  fc.uuid().map((u) => `${u}0`),
  fc.uuid().map((u) => u.replace(/-/g, '%2D')),
  fc.stringMatching(/^[0-9a-fA-F-]{28,40}$/),
);
const host = fc.oneof(
  fc.constantFrom(
    '127.0.0.1:9',
    '[::1]:9292',
    '[::ffff:10.0.0.1]',
    '[fe80::1%25eth0]',
    'glance.test:99999',
    'h:0',
    '',
  ),
  fc.domain(),
  fc.ipV4(),
  fc.ipV6().map((address) => `[${address}]`),
  fc.string({ maxLength: 20 }),
);

interface Planted {
  href: string;
  secrets: string[];
}

const hostile: fc.Arbitrary<Planted> = fc.oneof(
  id.map((href) => ({ href, secrets: [] })),
  fc
    .tuple(fc.constantFrom('glance://', 'GLANCE://', 'glance:', 'glance:///', ' glance://'), id)
    .map(([s, i]) => ({
      href: `${s}${i}`,
      secrets: [],
    })),
  fc.tuple(host, id, fc.constantFrom('', '/', '?x=1', '#f', '/file')).map(([h, i, tail]) => ({
    href: `glance://${h}/${i}${tail}`,
    secrets: [],
  })),
  fc.tuple(secret, host, id).map(([password, h, i]) => ({
    href: `glance://admin:${password}@${h}/${i}`,
    secrets: [password],
  })),
  fc.tuple(id, fc.constantFrom('token', 'X-Amz-Signature', 'password'), secret).map(([i, name, value]) => ({
    href: `glance://${i}?${name}=${value}`,
    secrets: [value],
  })),
  fc.string({ maxLength: 200 }).map((href) => ({ href, secrets: [] })),
  fc.string({ maxLength: 200, unit: 'binary' }).map((href) => ({ href: `glance://${href}`, secrets: [] })),
  fc
    .string({ minLength: 5000, maxLength: 30_000 })
    .map((href) => ({ href: `glance://${href}`, secrets: [] })),
);

function forms(value: string): string[] {
  try {
    return [value, decodeURIComponent(value)];
  } catch {
    return [value];
  }
}

describe('the glance driver under hostile hrefs', () => {
  it('parses to a canonical id or throws ImageRefValidationFailed, nothing else', () => {
    fc.assert(
      fc.property(hostile, ({ href }) => {
        try {
          const parsed = parseGlanceHref(href);
          expect(parsed.imageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
          if (parsed.endpoint !== undefined) expect(new URL(parsed.endpoint).origin).toBe(parsed.endpoint);
        } catch (error) {
          expect(isImageServiceError(error, 'IMAGE_REF_VALIDATION_FAILED'), String(error)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects only with ImageServiceErrors from every entry point, never hangs, never shows a planted secret', async () => {
    await fc.assert(
      fc.asyncProperty(hostile, fc.boolean(), async ({ href, secrets }, keystone) => {
        lines.length = 0;
        const service = keystone ? withKeystone : withEndpoint;
        const operations: Array<[string, () => Promise<unknown>]> = [
          ['show', () => service.show(href)],
          ['validateHref', () => service.validateHref(href)],
          ['validateHref secret', () => service.validateHref(href, { secret: true })],
          ['download', () => service.download(href, new PassThrough().resume(), { retry: false })],
        ];
        for (const [name, operation] of operations) {
          const error = await failureWithin(operation, `${name}(${JSON.stringify(href.slice(0, 80))})`);
          expect(isImageServiceError(error), `${name}: ${String(error)}`).toBe(true);
          const text = `${renderError(error)}\n${lines.join('\n')}`;
          for (const planted of [...secrets.flatMap(forms), KEYSTONE_PASSWORD]) {
            expect(
              text.includes(planted),
              `${name} shows ${planted} for ${JSON.stringify(href)}:\n${text}`,
            ).toBe(false);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
