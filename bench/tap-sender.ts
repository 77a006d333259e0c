/**
 * Child process of tap.bench.ts: owns the sending TAP and writes frames as
 * fast as it can when told to, so the parent's receive loop runs on another
 * core. Talks to the parent over the fork() IPC channel:
 *   child → parent  { type: 'ready', name }
 *   parent → child  { type: 'run', mode, size, ms, frames?, runId }
 *   child → parent  { type: 'done', attempted, accepted, elapsedMs, txErrors }
 *   parent → child  { type: 'exit' }          (or the channel closes)
 */
import { performance } from 'node:perf_hooks';

import { TapDevice } from '../src/link/tap/index.ts';

export interface RunMessage {
  type: 'run';
  mode: 'write' | 'writeBatch';
  size: number;
  /** Run this long, or until `frames` frames were attempted if that is set. */
  ms: number;
  frames?: number;
  runId: number;
}

export interface DoneMessage {
  type: 'done';
  attempted: number;
  accepted: number;
  elapsedMs: number;
  txErrors: number;
}

/** Unknown unicast (never learned by the bridge, so flooded), from a fixed source. */
export const BENCH_DST = [0x02, 0x74, 0x61, 0x70, 0x36, 0xbb];
export const BENCH_SRC = [0x02, 0x74, 0x61, 0x70, 0x36, 0xaa];
export const BENCH_ETHERTYPE = 0x88b5; // IEEE local experimental

export function benchFrame(size: number, runId: number): Uint8Array {
  const f = new Uint8Array(size);
  f.set(BENCH_DST, 0);
  f.set(BENCH_SRC, 6);
  f[12] = BENCH_ETHERTYPE >> 8;
  f[13] = BENCH_ETHERTYPE & 0xff;
  new DataView(f.buffer).setUint32(14, runId);
  return f;
}

const BATCH = 64;

function run(tap: TapDevice, msg: RunMessage): DoneMessage {
  const frame = benchFrame(msg.size, msg.runId);
  const batch: Uint8Array[] = new Array<Uint8Array>(BATCH).fill(frame);
  const errorsBefore = tap.stats().txErrors;
  let attempted = 0;
  let accepted = 0;
  const limit = msg.frames ?? Infinity;
  const start = performance.now();
  const end = start + msg.ms;
  let now = start;
  if (msg.mode === 'write') {
    while (now < end && attempted < limit) {
      for (let i = 0; i < 256; i++) if (tap.write(frame)) accepted++;
      attempted += 256;
      now = performance.now();
    }
  } else {
    while (now < end && attempted < limit) {
      for (let i = 0; i < 4; i++) accepted += tap.writeBatch(batch);
      attempted += 4 * BATCH;
      now = performance.now();
    }
  }
  return { type: 'done', attempted, accepted, elapsedMs: now - start, txErrors: tap.stats().txErrors - errorsBefore };
}

function main(): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('tap-sender: run me with child_process.fork()');
  const tap = TapDevice.open({ name: process.argv[2] ?? '' });
  const exit = (): void => {
    tap.close();
    process.exit(0);
  };
  process.on('disconnect', exit);
  process.on('message', (msg: RunMessage | { type: 'exit' }) => {
    if (msg.type === 'exit') exit();
    else send(run(tap, msg));
  });
  send({ type: 'ready', name: tap.name });
}

if (process.send !== undefined) main();
