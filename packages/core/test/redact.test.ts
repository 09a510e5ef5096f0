import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { redactHref, redactText, secretsOf } from '../src/index.js';

describe('redactHref', () => {
  it.each([
    ['http://user:pw12345@host/p', 'http://user:***@host/p'],
    ['https://tok3nvalue@host/p', 'https://***@host/p'],
    [
      'https://h/p?X-Amz-Signature=aa&X-Amz-Credential=bb&X-Amz-Security-Token=cc&x=1',
      'https://h/p?X-Amz-Signature=***&X-Amz-Credential=***&X-Amz-Security-Token=***&x=1',
    ],
    ['https://h/p?temp_url_sig=aa&temp_url_expires=1', 'https://h/p?temp_url_sig=***&temp_url_expires=1'],
    [
      'https://h/p?sig=a&signature=b&token=c&access_token=d',
      'https://h/p?sig=***&signature=***&token=***&access_token=***',
    ],
    ['https://h/p?x-goog-signature=a&api_key=b#frag', 'https://h/p?x-goog-signature=***&api_key=***#frag'],
    ['file:///var/lib/images/a.img', 'file:///var/lib/images/a.img'],
    ['0fdc6a44-5bd5-4b2a-a1b0-7e64ce6ad1bb', '0fdc6a44-5bd5-4b2a-a1b0-7e64ce6ad1bb'],
  ])('%s -> %s', (href, shown) => {
    expect(redactHref(href)).toBe(shown);
  });

  it('masks everything with secret: true', () => {
    expect(redactHref('https://h/p', { secret: true })).toBe('***');
  });
});

describe('redactText', () => {
  it('masks the href, URLs quoted in the text and decoded secrets', () => {
    const href = 'https://u:p%40ss123@h/p?token=t%2Bk3n';
    const text = `failed ${href}; password p@ss123; token t+k3n; other https://x:y12345@z/q`;
    const out = redactText(text, href);
    expect(out).not.toMatch(/p@ss123|p%40ss123|t\+k3n|t%2Bk3n|y12345/);
  });
});

const secretText = fc
  .string({ minLength: 6, maxLength: 40, unit: 'grapheme-ascii' })
  .filter((s) => /^[A-Za-z0-9._~!$'()*,-]+$/.test(s));

describe('redaction properties', () => {
  it('no userinfo password or secret query value survives', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('http', 'https', 's3', 'glance', 'ftp'),
        fc.domain(),
        secretText,
        secretText,
        fc.constantFrom(
          'X-Amz-Signature',
          'sig',
          'token',
          'access_token',
          'temp_url_sig',
          'X-Amz-Security-Token',
          'password',
        ),
        (scheme, host, password, value, name) => {
          fc.pre(!host.includes(password) && !host.includes(value) && !scheme.includes(value));
          const href = `${scheme}://user:${password}@${host}/path/img?${name}=${value}&plain=1`;
          const shown = redactHref(href);
          expect(shown).not.toContain(password);
          expect(shown).not.toContain(value);
          const text = redactText(
            `error for ${href}: ${password} ${value} ${decodeURIComponent(value)}`,
            href,
          );
          expect(text).not.toContain(password);
          expect(text).not.toContain(value);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (href) => {
        redactHref(href);
        redactText(href, href);
        redactText('x', href, { secret: true });
        secretsOf(href, { secret: true });
      }),
      { numRuns: 500 },
    );
  });

  it('with secret: true no part of the href survives', () => {
    fc.assert(
      fc.property(fc.webUrl({ withQueryParameters: true }), (href) => {
        const url = new URL(href);
        fc.pre(url.hostname.length >= 3);
        const out = redactText(`failed: ${href} (${url.hostname})`, href, { secret: true });
        expect(out).not.toContain(url.hostname);
      }),
      { numRuns: 200 },
    );
  });
});
