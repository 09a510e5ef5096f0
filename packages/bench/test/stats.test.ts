import { describe, expect, it } from 'vitest';
import { formatBytes, mean, median, mibPerSec, parseSize, percentile, rotate } from '../src/stats.js';

describe('stats', () => {
  it('takes the median of odd and even counts, whatever the order', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('takes nearest-rank percentiles', () => {
    const values = Array.from({ length: 200 }, (_, i) => 200 - i); // 200 .. 1, unsorted
    expect(percentile(values, 50)).toBe(100);
    expect(percentile(values, 99)).toBe(198);
    expect(percentile(values, 100)).toBe(200);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('averages and converts throughput', () => {
    expect(mean([1, 2, 6])).toBe(3);
    expect(mibPerSec(1024 * 1024 * 1024, 2000)).toBe(512);
  });

  it('parses sizes with binary suffixes and refuses nonsense', () => {
    expect(parseSize('1G')).toBe(1024 ** 3);
    expect(parseSize('64MiB')).toBe(64 * 1024 ** 2);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize('1.5M')).toBe(1.5 * 1024 ** 2);
    expect(parseSize('4096')).toBe(4096);
    expect(() => parseSize('lots')).toThrow(TypeError);
    expect(() => parseSize('0')).toThrow(TypeError);
    expect(() => parseSize('-1G')).toThrow(TypeError);
  });

  it('formats byte counts', () => {
    expect(formatBytes(1024 ** 3)).toBe('1 GiB');
    expect(formatBytes(64 * 1024 ** 2)).toBe('64 MiB');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(12)).toBe('12 B');
  });

  it('rotates tool orders between rounds', () => {
    expect(rotate(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(rotate(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(rotate(['a', 'b', 'c'], 4)).toEqual(['b', 'c', 'a']);
    expect(rotate([], 3)).toEqual([]);
  });
});
