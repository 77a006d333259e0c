import test from 'ava';
import fc from 'fast-check';
import { VirtualClock } from '../../src/core/clock.ts';
import { SeededRng } from '../../src/core/rng.ts';
import type { Dir } from '../../src/link/driver.ts';
import { EtherType } from '../../src/link/ether.ts';
import type { EtherIf } from '../../src/link/ethernet.ts';
import { FaultInjector, MAX_FAULT_MS, formatFaultSpec, parseFaultSpec, type FaultInjectorOptions, type FaultSpec } from '../../src/link/fault.ts';
import { Stack } from '../../src/stack.ts';
import { CaptureDriver, frame, holds, ip6Payload, mac, pktOf, rig } from '../helpers/link.ts';

interface Out {
  at: number;
  f: Uint8Array;
}

/** An injector on a VirtualClock with a sink per direction. */
function harness(opts: Partial<FaultInjectorOptions> = {}, seed = 1) {
  const clock = new VirtualClock();
  const fi = new FaultInjector({ clock, rng: new SeededRng(seed), ...opts });
  const out: Record<Dir, Out[]> = { tx: [], rx: [] };
  const send = (dir: Dir, f: Uint8Array) => fi.filter(dir, f, (g) => out[dir].push({ at: clock.now(), f: g }));
  return { clock, fi, out, send };
}

function numbered(n: number, len = 64): Uint8Array {
  const f = frame({ dst: mac(2), src: mac(1), payload: ip6Payload(len - 14) });
  f[15] = n & 0xff;
  f[16] = n >>> 8;
  return f;
}
const idOf = (f: Uint8Array) => f[15]! | (f[16]! << 8);

function bitDiff(a: Uint8Array, b: Uint8Array): number[] {
  const bits: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! ^ b[i]!;
    for (let k = 0; k < 8; k++) if (x & (1 << k)) bits.push(i * 8 + k);
  }
  return bits;
}

test('with no impairment every frame passes through at once, untouched and uncopied', (t) => {
  const { fi, out, send } = harness();
  const f = numbered(1);
  send('tx', f);
  send('rx', f);
  t.is(out.tx[0]!.f, f);
  t.is(out.rx[0]!.f, f);
  t.is(fi.stats.c.passed, 2);
  t.is(fi.stats.sum() - fi.stats.c.passed, 0);
  t.is(fi.name, 'faults');
  t.deepEqual(fi.spec('tx'), { loss: 0, dup: 0, reorder: 0, reorderHoldMs: 10, corrupt: 0, corruptHeader: false, delayMs: 0, jitterMs: 0 });
});

test('loss: the rate is close to the probability, and a seed reproduces the same run', (t) => {
  const N = 20000;
  const run = (seed: number, p: number) => {
    const { fi, out, send } = harness({ both: { loss: p } }, seed);
    for (let i = 0; i < N; i++) send('tx', numbered(i));
    return { lost: fi.stats.c.lost, passed: fi.stats.c.passed, ids: out.tx.map((o) => idOf(o.f)) };
  };
  for (const p of [0.01, 0.1, 0.5]) {
    const r = run(42, p);
    t.true(Math.abs(r.lost / N - p) < Math.max(0.01, p * 0.1), `loss ${p}: lost ${r.lost} of ${N}`);
    t.is(r.lost + r.passed, N);
  }
  t.deepEqual(run(7, 0.1), run(7, 0.1));
  t.notDeepEqual(run(7, 0.1).ids, run(8, 0.1).ids);
  t.is(run(1, 0).lost, 0);
  t.is(run(1, 1).passed, 0);
});

test('dup: two independent copies with the same bytes', (t) => {
  const { fi, out, send } = harness({ tx: { dup: 1 } });
  const f = numbered(3);
  const orig = f.slice();
  send('tx', f);
  t.is(out.tx.length, 2);
  const [a, b] = [out.tx[0]!.f, out.tx[1]!.f];
  t.not(a.buffer, b.buffer);
  t.deepEqual([...a], [...orig]);
  t.deepEqual([...b], [...orig]);
  a.fill(0);
  t.deepEqual([...b], [...orig], 'mutating one copy leaves the other');
  b.fill(1);
  t.deepEqual([...f], [...orig].map(() => 0), 'the first copy is the frame passed on');
  t.like(fi.stats.c, { duplicated: 1, passed: 2 });
});

test('dup rate is close to the probability', (t) => {
  const N = 10000;
  const { fi, out, send } = harness({ both: { dup: 0.2 } }, 3);
  for (let i = 0; i < N; i++) send('rx', numbered(i));
  t.true(Math.abs(fi.stats.c.duplicated / N - 0.2) < 0.02);
  t.is(out.rx.length, N + fi.stats.c.duplicated);
});

test('corrupt: exactly one bit of a copy flips, past the 14-byte header by default; the input is untouched', (t) => {
  const { fi, out, send } = harness({ both: { corrupt: 1 } }, 9);
  const hit = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const f = numbered(i, 20);
    const orig = f.slice();
    send('rx', f);
    t.deepEqual([...f], [...orig]);
    const g = out.rx[i]!.f;
    t.not(g, f);
    const bits = bitDiff(orig, g);
    t.is(bits.length, 1);
    t.true(bits[0]! >= 14 * 8, `bit ${bits[0]} is in the header`);
    hit.add(bits[0]!);
  }
  t.is(hit.size, 6 * 8, 'every payload bit can be hit');
  t.is(fi.stats.c.corrupted, 2000);
});

test('corruptHeader lets the flip land anywhere; linkHeaderLen 0 (lo0) protects nothing', (t) => {
  for (const opts of [{ both: { corrupt: 1, corruptHeader: true } }, { both: { corrupt: 1 }, linkHeaderLen: 0 }]) {
    const { out, send } = harness(opts, 5);
    let inHeader = 0;
    for (let i = 0; i < 1000; i++) {
      const f = numbered(i, 28);
      send('tx', f);
      const bits = bitDiff(f, out.tx[i]!.f);
      if (bits.length !== 1) return t.fail(`flipped ${bits.length} bits`);
      if (bits[0]! < 14 * 8) inHeader++;
    }
    t.true(inHeader > 400 && inHeader < 600, `${inHeader} of 1000 in the first 14 of 28 bytes`);
  }
});

test('a frame with nothing past the header is not corrupted (and not counted)', (t) => {
  const { fi, out, send } = harness({ both: { corrupt: 1 } });
  const f = numbered(0, 64).subarray(0, 14);
  const orig = f.slice();
  send('tx', f);
  t.is(out.tx[0]!.f, f);
  t.deepEqual([...f], [...orig]);
  t.is(fi.stats.c.corrupted, 0);
});

test('corruption comes before duplication: both copies carry the same flipped bit', (t) => {
  const { out, send } = harness({ both: { corrupt: 1, dup: 1 } });
  const f = numbered(1);
  send('tx', f);
  const [a, b] = [out.tx[0]!.f, out.tx[1]!.f];
  t.deepEqual([...a], [...b]);
  t.is(bitDiff(f, a).length, 1);
});

test('reorder: a held frame goes out right after the next one', (t) => {
  const { fi, out, send } = harness({ tx: { reorder: 1 } });
  send('tx', numbered(1));
  t.is(out.tx.length, 0);
  fi.setSpec('tx', {});
  send('tx', numbered(2));
  send('tx', numbered(3));
  t.deepEqual(
    out.tx.map((o) => idOf(o.f)),
    [2, 1, 3],
  );
  t.like(fi.stats.c, { reordered: 1, passed: 3 });
});

test('reorder: with nothing following, the held frame is released after reorderHoldMs', (t) => {
  const { clock, out, send } = harness({ tx: { reorder: 1, reorderHoldMs: 7 } });
  send('tx', numbered(1));
  send('tx', numbered(2));
  clock.advance(6.9);
  t.is(out.tx.length, 0);
  clock.advance(0.1);
  t.deepEqual(
    out.tx.map((o) => [o.at, idOf(o.f)]),
    [
      [7, 1],
      [7, 2],
    ],
  );
  clock.advance(100);
  t.is(out.tx.length, 2, 'released once only');
});

test('reorder only waits for frames in the same direction', (t) => {
  const { clock, out, send } = harness({ tx: { reorder: 1 } });
  send('tx', numbered(1));
  send('rx', numbered(2));
  t.is(out.tx.length, 0);
  t.is(out.rx.length, 1);
  clock.advance(10);
  t.is(out.tx.length, 1);
});

test('reordered and delayed frames are copies: a borrowed rx buffer may be reused', (t) => {
  const { clock, out, send } = harness({ rx: { reorder: 1 } });
  const f = numbered(5);
  const orig = f.slice();
  send('rx', f);
  f.fill(0xee);
  clock.advance(10);
  t.deepEqual([...out.rx[0]!.f], [...orig]);
  const d = harness({ rx: { delayMs: 1 } });
  const g = numbered(6);
  const gorig = g.slice();
  d.send('rx', g);
  g.fill(0xee);
  d.clock.advance(1);
  t.deepEqual([...d.out.rx[0]!.f], [...gorig]);
});

test('delay: every frame waits delayMs on the clock, in order', (t) => {
  const { fi, clock, out, send } = harness({ both: { delayMs: 20 } });
  send('tx', numbered(1));
  clock.advance(5);
  send('tx', numbered(2));
  clock.advance(14.999);
  t.is(out.tx.length, 0);
  clock.advance(0.001);
  t.deepEqual(
    out.tx.map((o) => [o.at, idOf(o.f)]),
    [[20, 1]],
  );
  clock.advance(5);
  t.deepEqual(
    out.tx.map((o) => [o.at, idOf(o.f)]),
    [
      [20, 1],
      [25, 2],
    ],
  );
  t.like(fi.stats.c, { delayed: 2, passed: 2 });
});

test('jitter: delays spread over delay ± jitter and can reorder; nothing is lost', (t) => {
  const N = 2000;
  const { clock, out, send } = harness({ both: { delayMs: 20, jitterMs: 5 } }, 11);
  for (let i = 0; i < N; i++) {
    send('tx', numbered(i));
    clock.advance(0.01);
  }
  clock.advance(100);
  t.is(out.tx.length, N);
  const lat = out.tx.map((o) => o.at - idOf(o.f) * 0.01);
  t.true(lat.every((d) => d >= 15 - 1e-6 && d <= 25 + 1e-6));
  t.true(Math.min(...lat) < 15.5 && Math.max(...lat) > 24.5, 'the whole range is used');
  const ids = out.tx.map((o) => idOf(o.f));
  t.notDeepEqual(ids, [...ids].sort((a, b) => a - b), 'jitter reorders');
  t.deepEqual([...ids].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i));
});

test('jitter without delay: frames that draw a delay <= 0 go at once', (t) => {
  const { fi, out, send } = harness({ both: { jitterMs: 5 } }, 2);
  for (let i = 0; i < 1000; i++) send('tx', numbered(i));
  t.true(out.tx.length > 400 && out.tx.length < 600);
  t.is(fi.stats.c.delayed, 1000 - out.tx.length);
});

test('maxQueued bounds held and delayed frames per direction; overflow is counted', (t) => {
  const { fi, clock, out, send } = harness({ both: { delayMs: 10 }, maxQueued: 3 });
  for (let i = 0; i < 5; i++) send('tx', numbered(i));
  for (let i = 0; i < 2; i++) send('rx', numbered(i));
  t.like(fi.stats.c, { delayed: 5, overflow: 2 });
  clock.advance(10);
  t.deepEqual(
    out.tx.map((o) => idOf(o.f)),
    [0, 1, 2],
  );
  t.is(out.rx.length, 2);
  for (let i = 0; i < 3; i++) send('tx', numbered(i));
  t.is(fi.stats.c.overflow, 2, 'room again once released');
  const r = harness({ both: { reorder: 1 }, maxQueued: 2 });
  for (let i = 0; i < 4; i++) r.send('tx', numbered(i));
  t.like(r.fi.stats.c, { reordered: 2, overflow: 2 });
});

test('per-direction specs: tx and rx override both, field by field', (t) => {
  const { fi, out, send } = harness({ both: { loss: 1, dup: 1 }, tx: { loss: 0 } });
  t.like(fi.spec('tx'), { loss: 0, dup: 1 });
  t.like(fi.spec('rx'), { loss: 1, dup: 1 });
  send('tx', numbered(1));
  send('rx', numbered(2));
  t.is(out.tx.length, 2);
  t.is(out.rx.length, 0);
  const only = harness({ rx: { loss: 1 } });
  only.send('tx', numbered(1));
  only.send('rx', numbered(1));
  t.is(only.out.tx.length, 1);
  t.is(only.out.rx.length, 0);
});

test('setSpec heals or breaks one direction at run time and validates', (t) => {
  const { fi, out, send } = harness({ both: { loss: 1 } });
  send('tx', numbered(1));
  fi.setSpec('tx', {});
  send('tx', numbered(2));
  send('rx', numbered(3));
  t.deepEqual(
    out.tx.map((o) => idOf(o.f)),
    [2],
  );
  t.is(out.rx.length, 0);
  t.throws(() => fi.setSpec('rx', { dup: 2 }), { instanceOf: RangeError, message: /dup must be a probability in \[0, 1\], got 2/ });
  t.is(fi.spec('rx').loss, 1, 'a refused spec changes nothing');
});

test('bad specs are refused at construction', (t) => {
  const clock = new VirtualClock();
  const rng = new SeededRng(1);
  const bad: FaultSpec[] = [{ loss: -0.1 }, { loss: 1.5 }, { corrupt: NaN }, { reorder: 2 }, { delayMs: -1 }, { jitterMs: Infinity }, { reorderHoldMs: NaN }];
  for (const s of bad) t.throws(() => new FaultInjector({ clock, rng, tx: s }), { instanceOf: RangeError }, JSON.stringify(s));
  t.throws(() => new FaultInjector({ clock, rng, both: { delayMs: -5 } }), { message: /delayMs must be >= 0 ms, got -5/ });
});

test('close drops held and delayed frames, and counts them', (t) => {
  const { fi, clock, out, send } = harness({ tx: { reorder: 1 }, rx: { delayMs: 5 } });
  send('tx', numbered(1));
  send('rx', numbered(2));
  send('rx', numbered(3));
  fi.close();
  clock.advance(100);
  t.is(out.tx.length, 0);
  t.is(out.rx.length, 0);
  t.like(fi.stats.c, { reordered: 1, delayed: 2, discarded: 3, passed: 0 });
  fi.close();
  t.is(fi.stats.c.discarded, 3, 'closing twice counts once');
});

test('configure replaces both directions at once; a bad spec changes neither', (t) => {
  const { fi } = harness({ both: { loss: 0.5, delayMs: 3 } });
  fi.configure({ both: { dup: 0.1 }, rx: { loss: 0.2 } });
  t.like(fi.spec('tx'), { loss: 0, dup: 0.1, delayMs: 0 });
  t.like(fi.spec('rx'), { loss: 0.2, dup: 0.1, delayMs: 0 });
  t.throws(() => fi.configure({ tx: { loss: 0.3 }, rx: { loss: 3 } }), { instanceOf: RangeError });
  t.is(fi.spec('tx').loss, 0, 'tx untouched when rx is refused');
  t.is(fi.stats.name, 'faults');
  t.is(new FaultInjector({ clock: new VirtualClock(), rng: new SeededRng(1), statsName: 'faults tap0' }).stats.name, 'faults tap0');
});

test('removing the injector from an interface closes it', (t) => {
  const { clock, ifs, got } = rig(2);
  const [a, b] = ifs as [EtherIf, EtherIf];
  const fi = new FaultInjector({ clock, rng: new SeededRng(1), tx: { delayMs: 5 } });
  a.filters.add(fi);
  a.output(pktOf(ip6Payload(40)), EtherType.IPV6, b.lladdr);
  a.filters.remove('faults');
  clock.advance(10);
  t.is(got[1]!.length, 0);
});

test('on an interface: tx loss and rx corruption as seen by the peer', (t) => {
  const { clock, ifs, got } = rig(2);
  const [a, b] = ifs as [EtherIf, EtherIf];
  const rng = new SeededRng(4);
  a.filters.add(new FaultInjector({ clock, rng, tx: { loss: 1 } }));
  a.output(pktOf(ip6Payload(40)), EtherType.IPV6, b.lladdr);
  clock.advance(0);
  t.is(got[1]!.length, 0);
  t.is(a.stats.c.opackets, 1);
  b.filters.add(new FaultInjector({ clock, rng, rx: { corrupt: 1 } }));
  const payload = ip6Payload(40);
  b.output(pktOf(payload), EtherType.IPV6, a.lladdr);
  a.filters.remove('faults');
  a.output(pktOf(payload), EtherType.IPV6, b.lladdr);
  clock.advance(0);
  t.is(got[1]!.length, 1, 'the corrupted frame still reaches the stack');
  t.is(bitDiff(payload, got[1]![0]!.data).length, 1);
  t.is(got[0]!.length, 1);
  t.deepEqual([...got[0]![0]!.data], [...payload]);
});

test('property: any spec, any frames: input buffers are never modified, counters add up, nothing throws', (t) => {
  const prob = fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true }));
  const spec = fc.record({
    loss: prob,
    dup: prob,
    reorder: prob,
    corrupt: prob,
    corruptHeader: fc.boolean(),
    delayMs: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 50, noNaN: true })),
    jitterMs: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 20, noNaN: true })),
    reorderHoldMs: fc.double({ min: 0, max: 20, noNaN: true }),
  });
  holds(
    t,
    fc.property(
      spec,
      spec,
      fc.integer(),
      fc.array(fc.tuple(fc.constantFrom<Dir>('tx', 'rx'), fc.uint8Array({ maxLength: 80 })), { maxLength: 40 }),
      (tx, rx, seed, frames) => {
        const { fi, clock, out, send } = harness({ tx, rx, maxQueued: 8 }, seed);
        const copies = frames.map(([, f]) => f.slice());
        for (const [dir, f] of frames) send(dir, f);
        clock.advance(200);
        if (!frames.every(([, f], i) => f.every((x, j) => x === copies[i]![j]))) return false;
        const c = fi.stats.c;
        const emitted = out.tx.length + out.rx.length;
        // Every frame (and every duplicate) is passed, lost or overflowed, once.
        return emitted === c.passed && frames.length + c.duplicated === c.lost + c.passed + c.overflow;
      },
    ),
    { numRuns: 300 },
  );
});

// --- parseFaultSpec -------------------------------------------------------------

test('parseFaultSpec: percentages, ms, bare numbers and per-direction keys', (t) => {
  const r = parseFaultSpec('loss=1%,delay=20ms,tx.dup=0.5');
  t.deepEqual(r, { ok: true, value: { both: { loss: 0.01, delayMs: 20 }, tx: { dup: 0.5 }, rx: {} } });
  const r2 = parseFaultSpec(' rx.corrupt=.5 , jitter=3, hold=7ms,reorder=100%,,');
  t.deepEqual(r2, { ok: true, value: { both: { jitterMs: 3, reorderHoldMs: 7, reorder: 1 }, tx: {}, rx: { corrupt: 0.5 } } });
  t.deepEqual(parseFaultSpec(''), { ok: true, value: { both: {}, tx: {}, rx: {} } });
  t.deepEqual(parseFaultSpec('loss=0.1,loss=0.2'), { ok: true, value: { both: { loss: 0.2 }, tx: {}, rx: {} } });
});

test('parseFaultSpec output is accepted by the injector', (t) => {
  const r = parseFaultSpec('loss=1%,dup=0.1%,reorder=5%,corrupt=0.001,delay=20ms,jitter=5ms,hold=3ms,tx.loss=50%,rx.delay=1');
  t.true(r.ok);
  if (!r.ok) return;
  const fi = new FaultInjector({ clock: new VirtualClock(), rng: new SeededRng(1), ...r.value });
  t.like(fi.spec('tx'), { loss: 0.5, dup: 0.001, delayMs: 20, jitterMs: 5, reorderHoldMs: 3 });
  t.like(fi.spec('rx'), { loss: 0.01, delayMs: 1 });
});

test('parseFaultSpec rejects bad keys and values with clear messages', (t) => {
  const cases: [string, RegExp][] = [
    ['loss', /bad impairment 'loss': expected key=value/],
    ['loss=', /bad impairment 'loss='/],
    ['loss=abc', /bad impairment/],
    ['loss=-1', /bad impairment/],
    ['loss=1e-3', /bad impairment/],
    ['Loss=1', /bad impairment/],
    ['up.loss=1', /bad impairment/],
    ['tx.=1', /bad impairment/],
    ['drop=1%', /unknown impairment 'drop': one of loss, dup, reorder, corrupt, delay, jitter, hold/],
    ['constructor=1', /unknown impairment 'constructor'/],
    ['tx.valueof=1', /unknown impairment/],
    ['loss=2', /'loss' must be at most 1 \(or 100%\), got 2/],
    ['dup=101%', /'dup' must be at most 1 \(or 100%\), got 101%/],
    ['delay=5%', /'delay' is a time: use ms/],
    ['loss=5ms', /'loss' is a probability/],
    ['delay=5s', /bad impairment/],
    ['delay=60001ms', /'delay' must be at most 60000ms, got 60001ms/],
    [`jitter=${'9'.repeat(400)}`, /'jitter' must be at most 60000ms/],
    [`hold=1${'0'.repeat(400)}`, /'hold' must be at most 60000ms/],
  ];
  for (const [text, re] of cases) {
    const r = parseFaultSpec(text);
    t.false(r.ok, text);
    if (!r.ok) t.regex(r.error, re, text);
  }
  t.false(parseFaultSpec('loss=1%,bogus').ok, 'one bad part spoils the spec');
});

test('property: parseFaultSpec never throws', (t) => {
  holds(
    t,
    fc.property(fc.string({ maxLength: 60 }), (s) => {
      const r = parseFaultSpec(s);
      return typeof r.ok === 'boolean';
    }),
    { numRuns: 1000 },
  );
});

test('parseFaultSpec: times up to MAX_FAULT_MS', (t) => {
  t.deepEqual(parseFaultSpec(`delay=${MAX_FAULT_MS}ms,jitter=0,hold=0.5`), { ok: true, value: { both: { delayMs: MAX_FAULT_MS, jitterMs: 0, reorderHoldMs: 0.5 }, tx: {}, rx: {} } });
});

// --- formatFaultSpec --------------------------------------------------------------

function specsOf(text: string): { tx: Required<FaultSpec>; rx: Required<FaultSpec> } {
  const r = parseFaultSpec(text);
  if (!r.ok) throw new Error(r.error);
  const fi = new FaultInjector({ clock: new VirtualClock(), rng: new SeededRng(1), ...r.value });
  return { tx: { ...fi.spec('tx') }, rx: { ...fi.spec('rx') } };
}

test('formatFaultSpec: shared keys once, the rest per direction, zeros and the default hold left out', (t) => {
  const f = (text: string) => {
    const s = specsOf(text);
    return formatFaultSpec(s.tx, s.rx);
  };
  t.is(f('loss=2%,reorder=5%,dup=1%,delay=5ms'), 'loss=2%,dup=1%,reorder=5%,delay=5ms');
  t.is(f('loss=0.07,tx.delay=3,rx.loss=0.5%,hold=10ms'), 'tx.loss=7%,rx.loss=0.5%,tx.delay=3ms');
  t.is(f('corrupt=0.001,jitter=2ms,hold=4ms,rx.hold=10ms'), 'corrupt=0.1%,jitter=2ms,tx.hold=4ms');
  t.is(f('loss=0.000001%'), 'loss=0.000001%');
  t.is(f(''), '');
  t.is(f('loss=0,delay=0ms'), '');
});

test('property: formatFaultSpec reads back as the same specs', (t) => {
  const prob = fc.oneof(fc.constant(0), fc.constant(1), fc.integer({ min: 0, max: 100_000 }).map((n) => n / 100_000));
  const ms = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: MAX_FAULT_MS * 100 }).map((n) => n / 100));
  const dirSpec = fc.record({ loss: prob, dup: prob, reorder: prob, corrupt: prob, delayMs: ms, jitterMs: ms, reorderHoldMs: ms }, { requiredKeys: [] });
  holds(
    t,
    fc.property(dirSpec, dirSpec, dirSpec, (both, tx, rx) => {
      const fi = new FaultInjector({ clock: new VirtualClock(), rng: new SeededRng(1), both, tx, rx });
      const text = formatFaultSpec(fi.spec('tx'), fi.spec('rx'));
      const again = specsOf(text);
      return JSON.stringify(again.tx) === JSON.stringify(fi.spec('tx')) && JSON.stringify(again.rx) === JSON.stringify(fi.spec('rx'));
    }),
    { numRuns: 500 },
  );
});

// --- Stack.setImpairment ------------------------------------------------------------

function stackOn(seed = 1) {
  const clock = new VirtualClock();
  const stack = new Stack({ clock, rng: new SeededRng(seed) });
  const drv = new CaptureDriver();
  const ifp = stack.addEthernet({ name: 'tap0', driver: drv, mac: mac(1) });
  ifp.setUp(true);
  const send = (n: number) => {
    for (let i = 0; i < n; i++) ifp.output(pktOf(ip6Payload(40, i)), EtherType.IPV6, mac(2));
  };
  return { clock, stack, drv, ifp, send };
}

test('setImpairment: a typed spec on an interface, counters as "faults IF", nearest the stack in the filter chain', (t) => {
  const { stack, drv, ifp, send } = stackOn();
  const seen: number[] = [];
  ifp.filters.add({ name: 'tap', filter: (_dir, f, next) => (seen.push(f.length), next(f)) });
  const r = stack.setImpairment('tap0', 'tx.loss=100%', { seed: 42 });
  t.true(r.ok);
  if (!r.ok || !r.value) return;
  t.is(r.value.seed, 42);
  t.deepEqual(
    ifp.filters.list.map((f) => f.name),
    ['faults', 'tap'],
  );
  t.is(stack.counters.get('faults tap0'), r.value.injector.stats);
  send(5);
  t.is(drv.sent.length, 0);
  t.is(seen.length, 0, 'a filter added earlier sits nearer the wire: it sees what crossed it');
  t.is(r.value.injector.stats.c.lost, 5);
  t.is(stack.impairment('2')?.injector, r.value.injector, 'by index too');
});

test('setImpairment again replaces the spec (keys left out go back to 0) and keeps the injector and its counters', (t) => {
  const { stack, drv, send } = stackOn();
  const a = stack.setImpairment('tap0', 'loss=100%,delay=5ms');
  send(3);
  const b = stack.setImpairment('tap0', { tx: { dup: 1 } });
  t.true(a.ok && b.ok);
  if (!a.ok || !b.ok) return;
  t.is(b.value!.injector, a.value!.injector);
  t.like(b.value!.injector.spec('tx'), { loss: 0, dup: 1, delayMs: 0 });
  t.like(b.value!.injector.spec('rx'), { loss: 0, dup: 0 });
  send(2);
  t.is(drv.sent.length, 4);
  t.like(b.value!.injector.stats.c, { lost: 3, duplicated: 2, passed: 4 });
});

test('setImpairment null removes the injector, drops what it holds (counted) and its counters; refusals are errors', (t) => {
  const { stack, clock, drv, ifp, send } = stackOn();
  const r = stack.setImpairment('tap0', 'delay=10ms');
  t.true(r.ok);
  send(2);
  const fi = stack.impairment('tap0')!.injector;
  t.deepEqual(stack.setImpairment('tap0', null), { ok: true, value: null });
  t.is(fi.stats.c.discarded, 2);
  clock.advance(20);
  t.is(drv.sent.length, 0);
  t.is(stack.impairment('tap0'), undefined);
  t.is(stack.counters.get('faults tap0'), undefined);
  t.deepEqual(ifp.filters.list, []);
  t.deepEqual(stack.setImpairment('tap0', null), { ok: true, value: null }, 'removing twice is harmless');
  send(1);
  t.is(drv.sent.length, 1);

  t.deepEqual(stack.setImpairment('tap9', 'loss=1%'), { ok: false, error: 'tap9: no such interface' });
  const bad = stack.setImpairment('tap0', 'loss=2');
  t.false(bad.ok);
  if (!bad.ok) t.regex(bad.error, /'loss' must be at most 1/);
  const badObj = stack.setImpairment('tap0', { rx: { dup: -1 } });
  t.false(badObj.ok);
  if (!badObj.ok) t.regex(badObj.error, /dup must be a probability/);
  t.false(stack.setImpairment('tap0', 'loss=1%', { seed: 1.5 }).ok);
  t.is(stack.impairment('tap0'), undefined, 'refusals attach nothing');
  t.deepEqual(ifp.filters.list, []);
});

test('setImpairment: the same seed gives the same losses; without one the seed comes from the stack Rng', (t) => {
  const run = (seed?: number, stackSeed = 1) => {
    const { stack, drv, send } = stackOn(stackSeed);
    const r = stack.setImpairment('tap0', 'loss=30%', seed === undefined ? {} : { seed });
    send(200);
    return { seed: r.ok ? r.value!.seed : -1, ids: drv.sent.map((f) => f[14 + 40 - 1]! + 0).join(','), n: drv.sent.length };
  };
  const a = run(9);
  const b = run(9, 2);
  t.deepEqual(a, b);
  t.true(a.n > 100 && a.n < 180, String(a.n));
  const c = run(undefined, 5);
  const d = run(undefined, 5);
  t.is(c.seed, d.seed, 'a seeded stack gives a reproducible injector');
  t.not(run(undefined, 6).seed, c.seed);
});
