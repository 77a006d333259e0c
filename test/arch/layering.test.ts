/**
 * Architecture rules that a reviewer should not have to check by eye:
 *  1. Imports point downward only (DESIGN rule 7). Each folder of src/ has a
 *     rank; a module may import only from its own folder or a lower rank.
 *     Upward delivery goes through registration (protocol switch, hooks).
 *  2. Time and randomness are injected (DESIGN rule 6): Date.now,
 *     performance.now, setTimeout/setInterval/setImmediate and Math.random
 *     appear only in the real clock and rng adapters.
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(root, 'src');

/** Lower imports nothing above it. Same rank: siblings that must not import each other. */
const RANK: Record<string, number> = {
  core: 0,
  link: 1,
  ip6: 2,
  icmp6: 3,
  ipsec: 3,
  gif: 3,
  nd6: 4,
  udp: 5,
  tcp: 5,
  '.': 9, // src/stack.ts, src/index.ts: the wiring on top
};

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function layerOf(file: string): string {
  const rel = relative(src, file);
  return rel.includes('/') ? rel.split('/')[0]! : '.';
}

const files = walk(src);

test('every folder of src/ has a rank', (t) => {
  for (const f of files) t.true(layerOf(f) in RANK, `${relative(root, f)}: folder has no rank in test/arch/layering.test.ts`);
});

test('imports point downward only', (t) => {
  const bad: string[] = [];
  for (const f of files) {
    const from = layerOf(f);
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)[^'"]*from\s+['"](\.[^'"]+)['"]/gm)) {
      const target = resolve(dirname(f), m[1]!);
      if (!target.startsWith(src)) {
        bad.push(`${relative(root, f)} imports outside src/: ${m[1]}`);
        continue;
      }
      const to = layerOf(target);
      if (to !== from && !(RANK[to]! < RANK[from]!)) bad.push(`${relative(root, f)} (${from}) imports ${m[1]} (${to})`);
    }
  }
  t.deepEqual(bad, []);
});

test('protocol code takes time and randomness from the injected Clock and Rng', (t) => {
  const allowed = new Set(['core/clock.ts', 'core/rng.ts']);
  // Global calls only: `socket.setTimeout(…)` (node:net's method name) is not the timer.
  const forbidden = /(?<![.\w])(Date\.now|performance\.now|setTimeout|setInterval|setImmediate|Math\.random)\s*\(/;
  const methodDef = /^\s*(?:override\s+)?(?:setTimeout|setInterval)\s*\(\w+\??\s*:/;
  const bad: string[] = [];
  for (const f of files) {
    const rel = relative(src, f);
    if (allowed.has(rel)) continue;
    readFileSync(f, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '');
        if (!/^\s*\*/.test(code) && !methodDef.test(code) && forbidden.test(code)) bad.push(`src/${rel}:${i + 1}: ${line.trim()}`);
      });
  }
  t.deepEqual(bad, []);
});
