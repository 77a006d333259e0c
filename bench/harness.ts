/**
 * Shared pieces of the benchmarks: the result shape every bench/*.bench.ts
 * returns, the machine description, and text/markdown formatting.
 *
 * A bench file default-exports `(ctx: BenchContext) => Promise<BenchResult[]>`.
 * bench/run.ts runs them all, prints the tables and appends them, with the
 * machine, date and commit, to BENCHMARKS.md.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';

export type Cell = string | number;

export interface BenchResult {
  /** Table title, e.g. "TAP binding, raw frames". */
  title: string;
  columns: string[];
  rows: Cell[][];
  /** Set instead of rows when the bench could not run here. */
  skipped?: string;
  /** Free-text lines printed under the table (setup, caveats). */
  notes?: string[];
}

export interface BenchContext {
  /** Seconds each timed measurement should run for. */
  seconds: number;
}

export type BenchFn = (ctx: BenchContext) => Promise<BenchResult[]>;

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  kernel: string;
  /** 1-minute load average when the run started (other jobs share the machine). */
  load: number;
}

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m !== null) cpu = m[1]!.trim();
  } catch {
    // keep os.cpus()
  }
  return { cpu, cores: cpus().length, node: process.version, kernel: release(), load: loadavg()[0] ?? 0 };
}

/** Short commit hash, "+ uncommitted changes" if the tree is dirty, or 'uncommitted'. */
export function commit(cwd: string): string {
  try {
    const hash = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return dirty === '' ? hash : `${hash} + uncommitted changes`;
  } catch {
    return 'uncommitted';
  }
}

/** 1234567.8 → "1,234,568"; small values keep one decimal. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(1);
}

function cellText(c: Cell): string {
  return typeof c === 'number' ? fmt(c) : c;
}

/** Columns whose cells are all numbers (or '-') are right-aligned. */
function numericColumns(r: BenchResult): boolean[] {
  return r.columns.map((_, i) => r.rows.every((row) => typeof row[i] === 'number' || row[i] === '-' || /^[\d.,]+ ?%?$/.test(String(row[i]))));
}

export function textTable(r: BenchResult): string {
  const lines = [r.title];
  if (r.skipped !== undefined) return `${r.title}\n  skipped: ${r.skipped}`;
  const cells = [r.columns, ...r.rows.map((row) => row.map(cellText))];
  const widths = r.columns.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const numeric = numericColumns(r);
  const line = (row: string[]): string =>
    row
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  lines.push(`  ${line(r.columns)}`);
  lines.push(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const row of cells.slice(1)) lines.push(`  ${line(row)}`);
  for (const n of r.notes ?? []) lines.push(`  ${n}`);
  return lines.join('\n');
}

export function markdownTable(r: BenchResult): string {
  const lines = [`### ${r.title}`, ''];
  if (r.skipped !== undefined) {
    lines.push(`Skipped: ${r.skipped}`);
    return lines.join('\n');
  }
  lines.push(`| ${r.columns.join(' | ')} |`);
  const numeric = numericColumns(r);
  lines.push(`| ${r.columns.map((_, i) => (numeric[i] ? '---:' : '---')).join(' | ')} |`);
  for (const row of r.rows) lines.push(`| ${row.map(cellText).join(' | ')} |`);
  if (r.notes !== undefined && r.notes.length > 0) {
    lines.push('');
    for (const n of r.notes) lines.push(`- ${n}`);
  }
  return lines.join('\n');
}
