/** One timed run of one tool. */
export interface Sample {
  /** The time the transfer took, in ms: measured inside the process for the library, else the process's wall time. */
  ms: number;
  /** The wall time of the whole process (start-up included), in ms. */
  wallMs: number;
  /** The process's peak resident set size, in KiB (GNU time's %M); null when it could not be measured. */
  peakRssKiB: number | null;
}

/** What one tool achieved in one case: its samples and their summary. */
export interface ToolResult {
  /** A stable identifier (`image-service`, `curl`, ...). */
  id: string;
  /** What was run, for people. */
  label: string;
  /** The command line or API call, with the destination as `<dest>`. */
  command: string;
  /** Whether this row is image-service itself (library or command) or a peer tool or baseline. */
  kind: 'image-service' | 'peer' | 'baseline';
  /** The measured runs (the warm-up excluded). */
  samples: Sample[];
  /** The median of `samples[].ms`. */
  medianMs: number;
  /** Bytes per run divided by the median time, in MiB/s; null for a case measured in time only. */
  mibPerSec: number | null;
  /** The reference's throughput divided by this tool's (the case's reference row is 1). */
  referenceRatio: number | null;
  /** The highest peak RSS over the runs (the warm-up run included), in MiB. */
  peakRssMiB: number | null;
  /** How many outputs had their SHA-256 checked against the image's (every run's size is checked). */
  verifiedOutputs: number;
  /** Runs that failed or wrote a wrong file (they are not in `samples`). */
  failures: string[];
}

/** A throughput case: several tools moving the same image, interleaved and repeated. */
export interface ThroughputCase {
  /** A stable identifier (`http`, `s3`, ...). */
  id: string;
  /** A one-line title. */
  title: string;
  /** How the case was set up, for the reader. */
  description: string;
  /** The image's size in bytes. */
  bytes: number;
  /** The row every ratio is relative to (image-service's library). */
  reference: string;
  /** Measured rounds (after one warm-up round). */
  rounds: number;
  /** The load average (1 min) before and after the case. */
  loadAverage: [number, number];
  /** The rows. */
  tools: ToolResult[];
}

/** Latency percentiles of one way of asking. */
export interface LatencyResult {
  /** A stable identifier. */
  id: string;
  /** What was measured, for people. */
  label: string;
  /** How many calls were measured. */
  calls: number;
  /** Median latency, ms. */
  p50Ms: number;
  /** 99th percentile latency, ms. */
  p99Ms: number;
  /** Mean latency, ms. */
  meanMs: number;
}

/** The `show` latency case. */
export interface ShowCase {
  /** The href asked. */
  href: string;
  /** The load average (1 min) before and after. */
  loadAverage: [number, number];
  /** The rows. */
  results: LatencyResult[];
}

/** The command start-up case. */
export interface StartupCase {
  /** The command line timed. */
  command: string;
  /** Runs measured (after one warm-up). */
  runs: number;
  /** Median wall time, ms. */
  medianMs: number;
  /** Slowest run, ms. */
  maxMs: number;
  /** Median wall time of `node -e 0`, for scale. */
  nodeBaselineMs: number;
  /** Modules the command loaded, counted per package (from NODE_DEBUG=esm,module). */
  modulesLoaded: Record<string, number>;
  /** Packages of other drivers (http, s3, glance and their dependencies) the command loaded: should be none. */
  otherDriversLoaded: string[];
}

/** Peak memory of library downloads of growing images. */
export interface MemoryCase {
  /** One row per image size. */
  results: Array<{
    /** The image's size in bytes. */
    bytes: number;
    /** Runs measured. */
    runs: number;
    /** The highest peak RSS, MiB. */
    peakRssMiB: number | null;
    /** Median throughput, MiB/s. */
    mibPerSec: number;
  }>;
  /** The runs behind the rows. */
  runs: ThroughputCase[];
}

/** A target of the issue, evaluated on this run. */
export interface TargetResult {
  /** What the issue asks. */
  target: string;
  /** The measured value, in words (`1.23x curl`). */
  measured: string;
  /** Met, missed, or not measured in this run (with why). */
  status: 'met' | 'missed' | 'not measured';
  /** Anything that qualifies the result. */
  note?: string;
}

/** Everything one `pnpm bench` run produced. */
export interface BenchResults {
  /** When the run started (ISO 8601). */
  date: string;
  /** `quick` or `full`. */
  mode: 'quick' | 'full';
  /** How long the run took, in seconds. */
  durationSeconds: number;
  /** The machine and the software measured. */
  machine: MachineInfo;
  /** The settings of the run. */
  settings: { imageBytes: number; bigImageBytes: number | null; rounds: number; warmupRounds: number };
  /** The throughput cases. */
  cases: ThroughputCase[];
  /** `show` latency. */
  show?: ShowCase;
  /** Command start-up. */
  startup?: StartupCase;
  /** Peak memory by image size. */
  memory?: MemoryCase;
  /** The targets, evaluated. */
  targets: TargetResult[];
  /** Caveats the reader needs. */
  notes: string[];
}

/** The machine the run measured. */
export interface MachineInfo {
  /** Logical CPUs. */
  cores: number;
  /** The CPU model. */
  cpuModel: string;
  /** Total memory, bytes. */
  memoryBytes: number;
  /** `linux 6.1.0 x64`. */
  os: string;
  /** process.version. */
  node: string;
  /** First line of each tool's version output. */
  tools: Record<string, string>;
  /** The repository's commit, with `+dirty` when the tree has changes. */
  commit: string;
  /** The load average (1, 5, 15 min) at the start and at the end. */
  loadAverage: { start: number[]; end: number[] };
  /** How fast one core hashes (MiB/s) with each algorithm image-service verifies, in this Node. */
  hashMiBPerSec?: Record<string, number>;
  /** Which peers the bench started itself (the others were already running). */
  peersStarted: string[];
}
