import { describe, expect, it } from 'vitest';
import { modulesByPackage } from '../src/cases/show.js';
import { cell, renderChart, renderMarkdown, xml } from '../src/report.js';
import { evaluateTargets } from '../src/targets.js';
import type { BenchResults, ThroughputCase, ToolResult } from '../src/types.js';

const GiB = 1024 ** 3;

function row(id: string, ms: number, kind: ToolResult['kind'] = 'peer', label = id): ToolResult {
  return {
    id,
    label,
    command: `${id} <dest>`,
    kind,
    samples: [{ ms, wallMs: ms, peakRssKiB: 10 * 1024 }],
    medianMs: ms,
    mibPerSec: 1024 / (ms / 1000),
    referenceRatio: null,
    peakRssMiB: 10,
    verifiedOutputs: 1,
    failures: [],
  };
}

function throughput(id: string, tools: ToolResult[]): ThroughputCase {
  return {
    id,
    title: `${id} title`,
    description: 'd',
    bytes: GiB,
    reference: 'image-service',
    rounds: 5,
    loadAverage: [1, 1],
    tools,
  };
}

function results(overrides: Partial<BenchResults> = {}): Omit<BenchResults, 'targets'> {
  return {
    date: '2026-01-01T00:00:00.000Z',
    mode: 'full',
    durationSeconds: 600,
    machine: {
      cores: 2,
      cpuModel: 'cpu',
      memoryBytes: 8 * GiB,
      os: 'Linux',
      node: 'v20',
      tools: { curl: 'curl 8 | pipes' },
      commit: 'abc',
      loadAverage: { start: [1, 1, 1], end: [2, 2, 2] },
      peersStarted: [],
    },
    settings: { imageBytes: GiB, bigImageBytes: 4 * GiB, rounds: 5, warmupRounds: 1 },
    cases: [
      throughput('http', [
        row('image-service', 1000, 'image-service'),
        row('image-service-parallel', 500, 'image-service'),
        row('image-service-checksum', 1200, 'image-service'),
        row('curl', 1200, 'peer', 'curl'),
      ]),
      throughput('s3', [row('image-service', 1000, 'image-service'), row('aws', 900)]),
    ],
    memory: {
      results: [
        { bytes: GiB, runs: 2, peakRssMiB: 100, mibPerSec: 500 },
        { bytes: 4 * GiB, runs: 2, peakRssMiB: 115, mibPerSec: 500 },
      ],
      runs: [],
    },
    startup: {
      command: 'image-service show file:///x',
      runs: 10,
      medianMs: 120,
      maxMs: 140,
      nodeBaselineMs: 40,
      modulesLoaded: { 'packages/core': 14 },
      otherDriversLoaded: [],
    },
    notes: ['a note'],
    ...overrides,
  };
}

describe('evaluateTargets', () => {
  it('computes throughput ratios and marks each target met, missed or not measured', () => {
    const targets = Object.fromEntries(evaluateTargets(results()).map((t) => [t.target, t]));
    const http = targets['http download: at least 1.1x curl'];
    expect(http?.status).toBe('met');
    expect(http?.measured).toMatch(/^1\.20x curl/);
    expect(targets['http download with parallel ranged requests: at least 1.5x curl']?.status).toBe('met');
    const s3 = targets['s3 download: at least 1.0x aws s3 cp'];
    expect(s3?.status).toBe('missed');
    expect(s3?.note).toMatch(/missed by 10%/);
    expect(targets['glance download: at least 0.9x curl']?.status).toBe('not measured');
    expect(targets['with a checksum to verify: at least 0.9x the same download without']?.status).toBe(
      'missed',
    );
    expect(targets['peak RSS at most 128 MiB for a 1 GiB download']?.status).toBe('met');
    expect(targets['peak RSS for 4 GiB within 10% of the 1 GiB download']?.status).toBe('missed');
    expect(targets['image-service show file://... under 150 ms wall']?.status).toBe('met');
  });

  it('does not count a tool without successful runs', () => {
    const failed = { ...row('curl', 1), samples: [], failures: ['round 1: boom'] };
    const cases = [throughput('http', [row('image-service', 1000, 'image-service'), failed])];
    const http = evaluateTargets(results({ cases })).find((t) => t.target.startsWith('http download: '));
    expect(http?.status).toBe('not measured');
  });
});

describe('renderMarkdown and renderChart', () => {
  it('writes a table per case, the targets and escaped cells', () => {
    const full = { ...results(), targets: evaluateTargets(results()) } as BenchResults;
    const markdown = renderMarkdown(full);
    expect(markdown).toContain('### http title');
    expect(markdown).toContain(
      '| **image-service** | 1.00 s (1.00–1.00) | 1024 | - | 10 MiB | 1 | `image-service <dest>` |',
    );
    expect(markdown).toContain('| curl | 1.20 s (1.20–1.20) | 853 | - | 10 MiB |');
    expect(markdown).toContain('| curl | curl 8 \\| pipes |');
    expect(markdown).toContain('| s3 download: at least 1.0x aws s3 cp |');
    expect(markdown).toContain('**missed**');
  });

  it('draws one bar per tool, scaled to the fastest, with escaped labels', () => {
    const cases = [
      throughput('http', [row('image-service', 1000, 'image-service', 'a <b> & "c"'), row('curl', 500)]),
    ];
    const svg = renderChart({ ...results({ cases }), targets: [] } as BenchResults);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('a &lt;b&gt; &amp; &quot;c&quot;');
    const widths = [...svg.matchAll(/<rect x="\d+" y="\d+" width="(\d+)" height="16"/g)].map((m) =>
      Number(m[1]),
    );
    expect(widths).toHaveLength(2);
    expect(widths[1]).toBe(2 * (widths[0] as number));
  });

  it('escapes helpers', () => {
    expect(cell('a|b\nc')).toBe('a\\|b c');
    expect(xml('<&>"')).toBe('&lt;&amp;&gt;&quot;');
  });
});

describe('modulesByPackage', () => {
  it('counts ESM and CommonJS modules per package from a NODE_DEBUG trace', () => {
    const trace = [
      'ESM 1: Storing file:///repo/packages/core/dist/index.js (implicit type) in ModuleLoadMap',
      'ESM 1: Storing file:///repo/packages/core/dist/base.js (implicit type) in ModuleLoadMap',
      'ESM 1: Storing file:///repo/packages/core/dist/base.js (implicit type) in ModuleLoadMap',
      'MODULE 1: load "/repo/node_modules/.pnpm/undici@7/node_modules/undici/index.js" for module "undici"',
      'ESM 1: Storing file:///repo/node_modules/@aws-sdk/client-s3/dist-es/index.js (implicit type) in ModuleLoadMap',
    ].join('\n');
    expect(modulesByPackage(trace)).toEqual({ 'packages/core': 2, undici: 1, '@aws-sdk/client-s3': 1 });
  });
});
