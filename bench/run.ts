/**
 * `npm run bench [-- NAME...] [--no-record] [--seconds=S]`
 *
 * Runs every bench/*.bench.ts (or those whose file name contains one of the
 * NAMEs), prints a table per result, and appends a dated section with the
 * machine and commit to BENCHMARKS.md (unless --no-record).
 */
import { appendFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { type BenchFn, type BenchResult, commit, machine, markdownTable, textTable } from './harness.ts';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = dirname(benchDir);
const recordPath = join(root, 'BENCHMARKS.md');

const args = process.argv.slice(2);
const record = !args.includes('--no-record');
const secondsArg = args.find((a) => a.startsWith('--seconds='));
const seconds = secondsArg === undefined ? 1.5 : Number(secondsArg.slice('--seconds='.length));
const filters = args.filter((a) => !a.startsWith('--'));

if (!(seconds > 0 && seconds <= 10)) {
  console.error('bench: --seconds must be in (0, 10]');
  process.exit(2);
}

const files = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((n) => f.includes(n)))
  .sort();

if (files.length === 0) {
  console.error(`bench: no bench/*.bench.ts matches ${filters.join(', ')}`);
  process.exit(2);
}

const m = machine();
const when = new Date();
const rev = commit(root);
console.log(`machine: ${m.cpu}, ${m.cores} cores, node ${m.node}, kernel ${m.kernel}, load ${m.load.toFixed(2)}; commit ${rev}\n`);

const results: BenchResult[] = [];
let failed = false;
for (const file of files) {
  const mod = (await import(pathToFileURL(join(benchDir, file)).href)) as { default: BenchFn };
  try {
    for (const r of await mod.default({ seconds })) {
      console.log(`${textTable(r)}\n`);
      results.push(r);
    }
  } catch (err) {
    failed = true;
    console.error(`bench: ${file} failed:`, err);
  }
}

if (record && results.some((r) => r.skipped === undefined)) {
  if (!existsSync(recordPath)) {
    writeFileSync(recordPath, '# Benchmarks\n\nAppended by `npm run bench`.\n');
  }
  const section = [
    '',
    `## ${when.toISOString().slice(0, 16).replace('T', ' ')} UTC — commit ${rev}`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, node ${m.node}, Linux ${m.kernel}; load average ${m.load.toFixed(2)} at start. Each measurement ran ${seconds} s.`,
    '',
    results.map(markdownTable).join('\n\n'),
    '',
  ].join('\n');
  appendFileSync(recordPath, section);
  console.log(`recorded in ${recordPath}`);
}

process.exitCode = failed ? 1 : 0;
