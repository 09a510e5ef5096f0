import { describe, expect, it } from 'vitest';
import { CASES, parseOptions } from '../src/options.js';

describe('parseOptions', () => {
  it('runs every case with 1 GiB images, 5 rounds and a 4 GiB memory run by default', () => {
    const options = parseOptions([]);
    expect(options).toMatchObject({
      quick: false,
      size: 1024 ** 3,
      bigSize: 4 * 1024 ** 3,
      rounds: 5,
      showCalls: 200,
      cases: [...CASES],
    });
  });

  it('uses small images, 3 rounds and no large image in quick mode', () => {
    expect(parseOptions(['--quick'])).toMatchObject({
      quick: true,
      size: 64 * 1024 ** 2,
      bigSize: null,
      rounds: 3,
    });
  });

  it('takes sizes, rounds and a subset of cases, kept in the run order', () => {
    const options = parseOptions([
      '--size',
      '256M',
      '--big-size',
      '0',
      '--rounds',
      '7',
      '--cases',
      'show,http',
    ]);
    expect(options).toMatchObject({
      size: 256 * 1024 ** 2,
      bigSize: null,
      rounds: 7,
      cases: ['http', 'show'],
    });
  });

  it('refuses unknown cases, bad counts and unknown flags', () => {
    expect(() => parseOptions(['--cases', 'http,ftp'])).toThrow(/unknown case "ftp"/);
    expect(() => parseOptions(['--rounds', '0'])).toThrow(/--rounds/);
    expect(() => parseOptions(['--rounds', 'many'])).toThrow(/--rounds/);
    expect(() => parseOptions(['--fast'])).toThrow();
    expect(parseOptions(['--help'])).toBe('help');
  });
});
