import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ImageServiceRegistry, isImageServiceError, isUuidLike } from '../src/index.js';
import { NamedService } from './memory-service.js';

const hostile = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ maxLength: 200, unit: 'binary' }),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.uuid().map((u) => u.replace(/-/g, '')),
  fc
    .tuple(
      fc.constantFrom('file:', 'HTTP:', 's3:', 'glance:', 'x-y.z+w:', ':', '1a:'),
      fc.string({ maxLength: 100 }),
    )
    .map(([a, b]) => a + b),
  fc.string({ minLength: 5000, maxLength: 20000 }),
);

describe('registry under hostile hrefs', () => {
  const registry = new ImageServiceRegistry();
  for (const scheme of ['file', 'http', 'https', 's3', 'glance'])
    registry.register(scheme, () => new NamedService(scheme));

  it('resolves or rejects with an ImageServiceError, never anything else', async () => {
    await fc.assert(
      fc.asyncProperty(hostile, async (href) => {
        try {
          await registry.resolve(href);
        } catch (error) {
          expect(isImageServiceError(error), String(error)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects non-string hrefs with an ImageServiceError', async () => {
    for (const href of [undefined, null, 42, {}, []]) {
      const error = await registry.resolve(href as unknown as string).catch((e: unknown) => e);
      expect(isImageServiceError(error)).toBe(true);
    }
  });

  it('sends exactly the UUID-like scheme-less hrefs to glance', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uuid(), fc.stringMatching(/^[0-9a-fA-F-]{30,40}$/)), async (href) => {
        const outcome = await registry.resolve(href).then(
          (service) => service.name,
          () => 'rejected',
        );
        expect(outcome).toBe(isUuidLike(href) ? 'glance' : 'rejected');
      }),
      { numRuns: 500 },
    );
  });
});
