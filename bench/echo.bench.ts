/**
 * ICMPv6 echo round trips through the whole stack, kernel → tap6: the
 * kernel's `ping -f` (one request in flight: latency-bound) and `ping -f -l 64`
 * (64 in flight: throughput-bound) against tap6's link-local address across a
 * TAP whose kernel side lives in a namespace the bench creates and removes.
 * Every request crosses the binding, Ethernet, IPv6 input, ICMPv6 with its
 * checksum, and the reply goes back through ND and output.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tapUnavailableReason } from '../src/link/tap/index.ts';
import type { BenchContext, BenchResult, Cell } from './harness.ts';
import { openKernelRig } from './kernel-rig.ts';

const execFileP = promisify(execFile);
const TITLE = 'ICMPv6 echo through the stack (kernel ping → tap6)';

export default async function echoBench(ctx: BenchContext): Promise<BenchResult[]> {
  const reason = tapUnavailableReason();
  if (reason !== undefined) return [{ title: TITLE, columns: [], rows: [], skipped: reason }];
  const rig = await openKernelRig('echo');
  const { ns } = rig;
  try {
    const dst = rig.ll;
    const rows: Cell[][] = [];
    for (const [label, preload] of [
      ['one in flight (ping -f)', 1],
      ['64 in flight (ping -f -l 64)', 64],
    ] as const) {
      const args = ['netns', 'exec', ns, 'ping', '-6', '-q', '-f', '-w', String(Math.max(1, Math.round(ctx.seconds))), '-s', '56'];
      if (preload > 1) args.push('-l', String(preload));
      args.push(dst);
      const { stdout } = await execFileP('ip', args, { timeout: 60_000 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
      const m = /(\d+) packets transmitted, (\d+) received.*time (\d+)ms/.exec(stdout);
      const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(stdout);
      if (!m) throw new Error(`echo bench: cannot read ping's summary: ${stdout}`);
      const [sent, got, ms] = [Number(m[1]), Number(m[2]), Number(m[3])];
      rows.push([label, got / (ms / 1000), rtt ? `${rtt[2]} ms` : '-', `${(((sent - got) / Math.max(1, sent)) * 100).toFixed(2)} %`]);
    }
    return [
      {
        title: TITLE,
        columns: ['mode', 'round trips/s', 'avg rtt', 'loss'],
        rows,
        notes: ['56-byte echo data (118-byte frames); compare with the raw binding rates above.'],
      },
    ];
  } finally {
    rig.down();
  }
}
