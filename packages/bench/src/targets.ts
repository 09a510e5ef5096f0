import { formatBytes } from './stats.js';
import type { BenchResults, TargetResult, ThroughputCase, ToolResult } from './types.js';

const GiB = 1024 * 1024 * 1024;

function tool(cases: readonly ThroughputCase[], caseId: string, toolId: string): ToolResult | undefined {
  const found = cases.find((c) => c.id === caseId)?.tools.find((t) => t.id === toolId);
  return found && found.samples.length > 0 ? found : undefined;
}

/** A throughput ratio target: `subject`'s median throughput divided by `peer`'s, at least `minimum`. */
function ratioTarget(
  cases: readonly ThroughputCase[],
  target: string,
  caseId: string,
  subjectId: string,
  peerId: string,
  minimum: number,
  note?: string,
): TargetResult {
  const subject = tool(cases, caseId, subjectId);
  const peer = tool(cases, caseId, peerId);
  if (!subject || !peer) {
    const ran = cases.some((c) => c.id === caseId);
    return {
      target,
      measured: '-',
      status: 'not measured',
      note: ran ? 'a run failed (see the case)' : 'case not run',
    };
  }
  const ratio = peer.medianMs / subject.medianMs;
  const result: TargetResult = {
    target,
    measured: `${ratio.toFixed(2)}x ${peer.label} (${subject.mibPerSec?.toFixed(0)} vs ${peer.mibPerSec?.toFixed(0)} MiB/s)`,
    status: ratio >= minimum ? 'met' : 'missed',
  };
  if (ratio < minimum) result.note = `missed by ${((1 - ratio / minimum) * 100).toFixed(0)}%`;
  if (note) result.note = result.note ? `${result.note}; ${note}` : note;
  return result;
}

/** "for scale: <label> N MiB/s, ..." for the rows of a case that ran, or undefined. */
function forScale(cases: readonly ThroughputCase[], caseId: string, toolIds: string[], extra: string[] = []) {
  const parts = toolIds
    .map((id) => tool(cases, caseId, id))
    .filter((t): t is ToolResult => t !== undefined)
    .map((t) => `${t.label} ${t.mibPerSec?.toFixed(0)} MiB/s`);
  const all = [...parts, ...extra];
  return all.length > 0 ? `for scale: ${all.join('; ')}` : undefined;
}

/** The targets, evaluated on one run's results. */
export function evaluateTargets(results: Omit<BenchResults, 'targets'>): TargetResult[] {
  const { cases } = results;
  const hash = results.machine.hashMiBPerSec;
  const hashSpeed = (algorithm: string) =>
    hash?.[algorithm] ? [`${algorithm} hashes ${hash[algorithm].toFixed(0)} MiB/s on one core here`] : [];
  const httpScale = forScale(cases, 'http', ['curl-fsync', 'node-pipeline', 'aria2c']);
  const targets: TargetResult[] = [
    ratioTarget(cases, 'http download: at least 1.1x curl', 'http', 'image-service', 'curl', 1.1, httpScale),
    ratioTarget(
      cases,
      'http download with parallel ranged requests: at least 1.5x curl',
      'http',
      'image-service-parallel',
      'curl',
      1.5,
      httpScale,
    ),
    ratioTarget(cases, 's3 download: at least 1.0x aws s3 cp', 's3', 'image-service', 'aws', 1.0),
    ratioTarget(
      cases,
      'glance download: at least 0.9x curl',
      'glance',
      'image-service',
      'curl',
      0.9,
      forScale(cases, 'glance', ['image-service-no-verify'], hashSpeed('sha512')),
    ),
    ratioTarget(cases, 'file copy: at least 0.95x cp', 'file-copy', 'image-service', 'cp', 0.95),
  ];

  const link = tool(cases, 'file-link', 'image-service');
  const linkCase = cases.find((c) => c.id === 'file-link');
  targets.push(
    link
      ? {
          target: 'file: hard link when possible (constant time whatever the size)',
          measured: `hard linked (same inode) in ${link.medianMs.toFixed(1)} ms median for ${formatBytes(linkCase?.bytes ?? 0)}`,
          status: link.failures.length === 0 ? 'met' : 'missed',
          ...(link.failures.length > 0 ? { note: `${link.failures.length} run(s) did not hard link` } : {}),
        }
      : { target: 'file: hard link when possible', measured: '-', status: 'not measured' },
  );

  const small = results.memory?.results.find((r) => r.bytes === results.settings.imageBytes);
  const big = results.memory?.results.find((r) => r.bytes !== results.settings.imageBytes);
  if (small?.peakRssMiB != null) {
    const exact = small.bytes === GiB;
    targets.push({
      target: 'peak RSS at most 128 MiB for a 1 GiB download',
      measured: `${small.peakRssMiB.toFixed(0)} MiB for ${formatBytes(small.bytes)}`,
      status: small.peakRssMiB <= 128 ? 'met' : 'missed',
      ...(exact ? {} : { note: `measured with a ${formatBytes(small.bytes)} image, not 1 GiB` }),
    });
  } else {
    targets.push({
      target: 'peak RSS at most 128 MiB for a 1 GiB download',
      measured: '-',
      status: 'not measured',
    });
  }
  if (small?.peakRssMiB != null && big?.peakRssMiB != null) {
    const growth = big.peakRssMiB / small.peakRssMiB;
    targets.push({
      target: 'peak RSS for 4 GiB within 10% of the 1 GiB download',
      measured: `${big.peakRssMiB.toFixed(0)} MiB for ${formatBytes(big.bytes)} (${((growth - 1) * 100).toFixed(1)}% vs ${formatBytes(small.bytes)})`,
      status: growth <= 1.1 ? 'met' : 'missed',
    });
  } else {
    targets.push({
      target: 'peak RSS for 4 GiB within 10% of the 1 GiB download',
      measured: '-',
      status: 'not measured',
      note: results.mode === 'quick' ? 'quick mode has no large image' : 'no large image in this run',
    });
  }

  if (results.startup) {
    targets.push({
      target: 'image-service show file://... under 150 ms wall',
      measured: `${results.startup.medianMs.toFixed(0)} ms median (node -e 0: ${results.startup.nodeBaselineMs.toFixed(0)} ms)`,
      status: results.startup.medianMs < 150 ? 'met' : 'missed',
    });
    const loaded = Object.entries(results.startup.modulesLoaded)
      .map(([name, count]) => `${name} (${count})`)
      .join(', ');
    const others = results.startup.otherDriversLoaded;
    targets.push({
      target: "image-service show file://... loads no other driver's dependencies",
      measured: `modules loaded: ${loaded}`,
      status: others.length === 0 ? 'met' : 'missed',
      ...(others.length > 0 ? { note: `loaded ${others.join(', ')}` } : {}),
    });
  } else {
    targets.push({
      target: 'image-service show file://... under 150 ms wall',
      measured: '-',
      status: 'not measured',
    });
  }

  const library = results.show?.results.find((r) => r.id === 'image-service');
  const curl = results.show?.results.find((r) => r.id === 'curl-keepalive');
  if (library && curl) {
    const ratio = library.p50Ms / curl.p50Ms;
    targets.push({
      target: "library show over a kept-alive connection within 1.5x curl's HEAD latency",
      measured: `${ratio.toFixed(2)}x (p50 ${library.p50Ms.toFixed(2)} ms vs ${curl.p50Ms.toFixed(2)} ms)`,
      status: ratio <= 1.5 ? 'met' : 'missed',
      note: 'against curl -I with many URLs in one process (also kept alive); one curl process per call is slower',
    });
  } else {
    targets.push({
      target: "library show over a kept-alive connection within 1.5x curl's HEAD latency",
      measured: '-',
      status: 'not measured',
    });
  }

  targets.push(
    ratioTarget(
      cases,
      'with a checksum to verify: at least 0.9x the same download without',
      'http',
      'image-service-checksum',
      'image-service',
      0.9,
      forScale(cases, 'http', [], hashSpeed('sha256')),
    ),
  );
  return targets;
}
