import { isImageServiceError } from '@image-service/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FileImageService } from '../src/index.js';

describe('file driver under hostile hrefs', () => {
  const service = new FileImageService({ allowedPaths: ['/nonexistent-allowed'] });
  const hrefs = fc.oneof(
    fc.string({ maxLength: 300 }).map((s) => `file://${s}`),
    fc.string({ maxLength: 300, unit: 'binary' }).map((s) => `file:///${s}`),
    fc
      .array(
        fc.constantFrom('..', '.', '%2e%2e', '%2F', '%00', 'etc', 'dev', '%0a', 'a b', '%ff', '\\', '\u202e'),
        { maxLength: 12 },
      )
      .map((parts) => `file:///${parts.join('/')}`),
    fc
      .tuple(
        fc.constantFrom('file://localhost', 'file://user:pw@localhost', 'file://[::1]', 'FILE://', 'file:'),
        fc.string({ maxLength: 50 }),
      )
      .map(([a, b]) => a + b),
    fc.string({ minLength: 4000, maxLength: 10000 }).map((s) => `file:///${s}`),
  );

  it('show and validateHref only ever reject with an ImageServiceError', async () => {
    await fc.assert(
      fc.asyncProperty(hrefs, async (href) => {
        for (const call of [() => service.show(href), () => service.validateHref(href, { secret: true })]) {
          const error = await call().then(
            () => new Error(`resolved for ${href}`),
            (e: unknown) => e,
          );
          expect(isImageServiceError(error), String(error)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});
