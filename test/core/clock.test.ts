import { execFile } from 'node:child_process';
import test from 'ava';
import fc from 'fast-check';
import { RealClock, VirtualClock, type Clock, type Timer } from '../../src/core/clock.ts';

/** Runs a fast-check property; fast-check throws (with seed and counterexample) on failure. */
function holds(t: { pass(): void }, p: fc.IProperty<any>, params: fc.Parameters<any> = {}): void {
  fc.assert(p, params);
  t.pass();
}

// ===========================================================================
// VirtualClock

test('time stands still until advance()', (t) => {
  const c = new VirtualClock();
  t.is(c.now(), 0);
  t.is(c.advance(0), 0);
  t.is(c.now(), 0);
  t.is(c.advance(12.5), 0);
  t.is(c.now(), 12.5);
  t.is(new VirtualClock(1000).now(), 1000);
});

test('wallMs follows virtual time from a fixed origin', (t) => {
  const c = new VirtualClock(0, 5_000);
  t.is(c.wallMs(), 5_000);
  c.advance(250);
  t.is(c.wallMs(), 5_250);
  const d = new VirtualClock();
  t.is(d.wallMs(), Date.UTC(2026, 0, 1), 'default origin is fixed, not the real time');
});

test('fires timers in order of due time, ties in arming order', (t) => {
  const c = new VirtualClock();
  const log: string[] = [];
  c.timer(30, () => log.push('c30'));
  c.timer(10, () => log.push('a10'));
  c.timer(20, () => log.push('b20'));
  c.timer(10, () => log.push('a10-second'));
  c.timer(0, () => log.push('zero'));
  c.timer(20, () => log.push('b20-second'));
  t.is(c.pendingTimers, 6);
  t.is(c.advance(25), 5);
  t.deepEqual(log, ['zero', 'a10', 'a10-second', 'b20', 'b20-second']);
  t.is(c.now(), 25);
  t.is(c.advance(5), 1, 'a timer due exactly at the end of the window fires');
  t.deepEqual(log.at(-1), 'c30');
  t.is(c.pendingTimers, 0);
});

test('now() equals the due time inside the callback', (t) => {
  const c = new VirtualClock(100);
  const seen: number[] = [];
  for (const d of [7, 3, 3.25, 50]) c.timer(d, () => seen.push(c.now()));
  c.advance(1000);
  t.deepEqual(seen, [103, 103.25, 107, 150]);
  t.is(c.now(), 1100);
});

test('timers armed by a callback fire in the same advance when due inside the window', (t) => {
  const c = new VirtualClock();
  const log: Array<[string, number]> = [];
  c.timer(10, () => {
    log.push(['parent', c.now()]);
    c.timer(5, () => {
      log.push(['child', c.now()]);
      c.timer(0, () => log.push(['grandchild', c.now()]));
    });
    c.timer(100, () => log.push(['late', c.now()]));
  });
  c.timer(12, () => log.push(['sibling', c.now()]));
  t.is(c.advance(20), 4);
  t.deepEqual(log, [
    ['parent', 10],
    ['sibling', 12],
    ['child', 15],
    ['grandchild', 15],
  ]);
  t.is(c.nextDue(), 110, 'the one beyond the window waits, due relative to its arming time');
  c.advance(89);
  t.is(log.length, 4);
  c.advance(1);
  t.deepEqual(log.at(-1), ['late', 110]);
});

test('a zero-delay timer armed in a callback runs after timers already due at that instant', (t) => {
  const c = new VirtualClock();
  const log: string[] = [];
  c.timer(5, () => {
    log.push('a');
    c.timer(0, () => log.push('a0'));
  });
  c.timer(5, () => log.push('b'));
  c.advance(5);
  t.deepEqual(log, ['a', 'b', 'a0']);
});

test('active, cancel and pendingTimers', (t) => {
  const c = new VirtualClock();
  let fired = 0;
  const a = c.timer(10, () => fired++);
  const b = c.timer(10, () => fired++);
  t.true(a.active);
  t.is(c.pendingTimers, 2);
  a.cancel();
  t.false(a.active);
  t.is(c.pendingTimers, 1);
  a.cancel();
  t.is(c.pendingTimers, 1, 'cancelling twice is harmless');
  c.advance(10);
  t.is(fired, 1);
  t.false(b.active, 'inactive after firing');
  b.cancel();
  t.is(c.pendingTimers, 0);
  c.advance(100);
  t.is(fired, 1);
});

test('a timer is inactive inside its own callback', (t) => {
  const c = new VirtualClock();
  let seen: boolean | undefined;
  const tm: Timer = c.timer(1, () => (seen = tm.active));
  c.advance(1);
  t.false(seen);
});

test('reset re-arms from now, replacing the pending expiry', (t) => {
  const c = new VirtualClock();
  const fired: number[] = [];
  const tm = c.timer(10, () => fired.push(c.now()));
  c.advance(8);
  tm.reset(10);
  t.true(tm.active);
  t.is(c.pendingTimers, 1, 'reset does not duplicate the timer');
  c.advance(5);
  t.deepEqual(fired, [], 'the old expiry at 10 is gone');
  c.advance(5);
  t.deepEqual(fired, [18]);
  tm.reset(2);
  t.true(tm.active, 'reset after firing re-arms');
  c.advance(2);
  t.deepEqual(fired, [18, 20]);
  tm.cancel();
  tm.reset(1);
  c.advance(1);
  t.deepEqual(fired, [18, 20, 21], 'reset after cancel re-arms');
});

test('reset sends a timer behind others due at the same instant', (t) => {
  const c = new VirtualClock();
  const log: string[] = [];
  const a = c.timer(5, () => log.push('a'));
  c.timer(5, () => log.push('b'));
  a.reset(5);
  c.advance(5);
  t.deepEqual(log, ['b', 'a']);
});

test('a periodic timer re-arming itself from its callback', (t) => {
  const c = new VirtualClock();
  const at: number[] = [];
  const tm: Timer = c.timer(100, () => {
    at.push(c.now());
    if (at.length < 5) tm.reset(100);
  });
  t.is(c.advance(1000), 5);
  t.deepEqual(at, [100, 200, 300, 400, 500]);
  t.false(tm.active);
});

test('a callback can cancel another timer due at the same instant', (t) => {
  const c = new VirtualClock();
  const log: string[] = [];
  let b: Timer | undefined;
  c.timer(5, () => {
    log.push('a');
    b!.cancel();
  });
  b = c.timer(5, () => log.push('b'));
  t.is(c.advance(10), 1);
  t.deepEqual(log, ['a']);
});

test('a callback can reset a later timer into the current window or out of it', (t) => {
  const c = new VirtualClock();
  const log: Array<[string, number]> = [];
  const later = c.timer(50, () => log.push(['later', c.now()]));
  const out = c.timer(8, () => log.push(['out', c.now()]));
  c.timer(5, () => {
    later.reset(1);
    out.reset(100);
  });
  c.advance(10);
  t.deepEqual(log, [['later', 6]]);
  c.advance(95);
  t.deepEqual(log, [
    ['later', 6],
    ['out', 105],
  ]);
});

test('negative delays are treated as 0', (t) => {
  const c = new VirtualClock(50);
  const seen: number[] = [];
  const tm = c.timer(-10, () => seen.push(c.now()));
  t.is(c.nextDue(), 50);
  t.is(c.advance(0), 1);
  t.deepEqual(seen, [50]);
  tm.reset(-Number.MAX_VALUE);
  c.advance(0);
  t.deepEqual(seen, [50, 50]);
});

test('non-finite delays throw RangeError', (t) => {
  const c = new VirtualClock();
  for (const d of [NaN, Infinity, -Infinity]) {
    t.throws(() => c.timer(d, () => {}), { instanceOf: RangeError }, `timer(${d})`);
    const tm = c.timer(1, () => {});
    t.throws(() => tm.reset(d), { instanceOf: RangeError }, `reset(${d})`);
    tm.cancel();
  }
  t.is(c.pendingTimers, 0, 'a refused timer is not armed');
});

test('advance rejects negative and non-finite amounts', (t) => {
  const c = new VirtualClock();
  for (const d of [-1, -0.001, NaN, Infinity]) t.throws(() => c.advance(d), { instanceOf: RangeError }, `advance(${d})`);
  t.is(c.now(), 0);
});

test('advance from inside a callback throws, and the clock stays usable', (t) => {
  const c = new VirtualClock();
  let inner: unknown;
  c.timer(1, () => {
    try {
      c.advance(1);
    } catch (e) {
      inner = e;
    }
  });
  c.advance(5);
  t.true(inner instanceof Error);
  t.regex((inner as Error).message, /inside a timer callback/);
  t.is(c.now(), 5);
  let fired = false;
  c.timer(1, () => (fired = true));
  c.advance(1);
  t.true(fired);
});

test('runUntilIdle from inside a callback throws too', (t) => {
  const c = new VirtualClock();
  let inner: unknown;
  c.timer(1, () => {
    c.timer(1, () => {});
    try {
      c.runUntilIdle();
    } catch (e) {
      inner = e;
    }
  });
  c.advance(1);
  t.true(inner instanceof Error);
});

test('an exception in a callback propagates; later timers are still armed', (t) => {
  const c = new VirtualClock();
  const log: string[] = [];
  c.timer(1, () => {
    throw new Error('boom');
  });
  c.timer(2, () => log.push('after'));
  t.throws(() => c.advance(10), { message: 'boom' });
  t.is(c.pendingTimers, 1);
  c.advance(10);
  t.deepEqual(log, ['after']);
});

test('nextDue reports the earliest deadline', (t) => {
  const c = new VirtualClock();
  t.is(c.nextDue(), undefined);
  const a = c.timer(30, () => {});
  c.timer(40, () => {});
  t.is(c.nextDue(), 30);
  a.cancel();
  t.is(c.nextDue(), 40);
});

test('runUntilIdle runs a finite chain to the end and stops at the last deadline', (t) => {
  const c = new VirtualClock();
  const at: number[] = [];
  const step = (n: number): void => {
    at.push(c.now());
    if (n > 0) c.timer(250, () => step(n - 1));
  };
  c.timer(250, () => step(3));
  t.is(c.runUntilIdle(), 4);
  t.deepEqual(at, [250, 500, 750, 1000]);
  t.is(c.now(), 1000);
  t.is(c.pendingTimers, 0);
  t.is(c.runUntilIdle(), 0, 'nothing to do');
  t.is(c.now(), 1000, 'an idle run does not move time');
});

test('runUntilIdle is bounded against a timer that re-arms forever', (t) => {
  const c = new VirtualClock();
  let n = 0;
  const tm: Timer = c.timer(1000, () => {
    n++;
    tm.reset(1000);
  });
  t.is(c.runUntilIdle(10_000), 10);
  t.is(n, 10);
  t.is(c.now(), 10_000);
  t.true(tm.active);
  t.is(c.nextDue(), 11_000);
  // Default bound: one hour of virtual time.
  t.is(c.runUntilIdle(), 3600);
  t.is(c.now(), 10_000 + 3_600_000);
});

test('runUntilIdle with fractional deadlines reaches each deadline exactly', (t) => {
  const c = new VirtualClock(0.1);
  const seen: number[] = [];
  for (const d of [0.2, 1 / 3, 1e-9, 7.7]) c.timer(d, () => seen.push(c.now()));
  t.is(c.runUntilIdle(), 4);
  t.deepEqual(seen, [0.1 + 1e-9, 0.1 + 0.2, 0.1 + 1 / 3, 0.1 + 7.7]);
});

test('the Clock interface is all protocol code needs', (t) => {
  const use = (clock: Clock): Timer => clock.timer(1, () => {});
  const c = new VirtualClock();
  const tm = use(c);
  t.true(tm.active);
});

// ---------------------------------------------------------------------------
// Model test: random arm / cancel / reset / advance against a naive reference.

type Cmd =
  | { k: 'arm'; delay: number; child: number | null }
  | { k: 'cancel'; i: number }
  | { k: 'reset'; i: number; delay: number }
  | { k: 'advance'; ms: number };

/** The reference: a flat list scanned for the minimum (due, seq) each time. */
class Model {
  t = 0;
  seq = 0;
  armed: Array<{ id: number; due: number; seq: number }> = [];
  child: Array<number | null> = [];
  log: Array<[number, number]> = [];

  arm(id: number, delay: number): void {
    this.disarm(id);
    this.armed.push({ id, due: this.t + Math.max(0, delay), seq: this.seq++ });
  }
  disarm(id: number): void {
    this.armed = this.armed.filter((e) => e.id !== id);
  }
  active(id: number): boolean {
    return this.armed.some((e) => e.id === id);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.armed.filter((e) => e.due <= end).sort((a, b) => a.due - b.due || a.seq - b.seq);
      const e = due[0];
      if (!e) break;
      this.disarm(e.id);
      this.t = Math.max(this.t, e.due);
      this.log.push([e.id, this.t]);
      const c = this.child[e.id];
      if (c != null) {
        const id = this.child.length;
        this.child.push(null);
        this.arm(id, c);
      }
    }
    this.t = end;
  }
}

const delayArb = fc.integer({ min: -20, max: 200 }).map((x) => x / 2);
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant('arm' as const), delay: delayArb, child: fc.option(delayArb) }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('cancel' as const), i: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('reset' as const), i: fc.nat(), delay: delayArb }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 120 }) }), weight: 3 },
);

test('property: VirtualClock fires like the naive reference model', (t) => {
  holds(
    t,
    fc.property(fc.array(cmdArb, { maxLength: 60 }), (cmds) => {
      const c = new VirtualClock();
      const m = new Model();
      const timers: Timer[] = [];
      const log: Array<[number, number]> = [];
      const make = (delay: number, child: number | null): void => {
        const id = timers.length;
        timers.push(
          c.timer(delay, () => {
            log.push([id, c.now()]);
            if (child != null) make(child, null);
          }),
        );
      };
      for (const cmd of cmds) {
        switch (cmd.k) {
          case 'arm':
            m.child.push(cmd.child);
            m.arm(timers.length, cmd.delay);
            make(cmd.delay, cmd.child);
            break;
          case 'cancel':
            if (!timers.length) break;
            timers[cmd.i % timers.length]!.cancel();
            m.disarm(cmd.i % timers.length);
            break;
          case 'reset':
            if (!timers.length) break;
            timers[cmd.i % timers.length]!.reset(cmd.delay);
            m.arm(cmd.i % timers.length, cmd.delay);
            break;
          case 'advance': {
            const n = c.advance(cmd.ms);
            const before = m.log.length;
            m.advance(cmd.ms);
            if (n !== m.log.length - before) return false;
            break;
          }
        }
        if (timers.length !== m.child.length) return false;
        if (c.now() !== m.t || c.pendingTimers !== m.armed.length) return false;
        for (let i = 0; i < timers.length; i++) if (timers[i]!.active !== m.active(i)) return false;
        const next = m.armed.length ? Math.min(...m.armed.map((e) => e.due)) : undefined;
        if (c.nextDue() !== next) return false;
      }
      return JSON.stringify(log) === JSON.stringify(m.log);
    }),
    { numRuns: 300 },
  );
});

// ===========================================================================
// RealClock: only order and "it fires", never timing precision.

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves once `n` callbacks have run (the test's own timeout is the backstop). */
function counter(n: number): { hit: () => void; done: Promise<void> } {
  let hit!: () => void;
  const done = new Promise<void>((resolve) => {
    let left = n;
    hit = () => {
      if (--left === 0) resolve();
    };
  });
  return { hit, done };
}

test('RealClock: now() is monotonic and wallMs() is near Date.now()', (t) => {
  const c = new RealClock();
  const a = c.now();
  const b = c.now();
  t.true(a >= 0);
  t.true(b >= a);
  t.true(Math.abs(c.wallMs() - Date.now()) < 60_000, 'same epoch, not a precision check');
});

test('RealClock: timers fire, in due order', async (t) => {
  const c = new RealClock(false);
  const log: number[] = [];
  const due = new Map<number, number>();
  const { hit, done } = counter(3);
  // Deadlines are taken when each timer is armed: on a loaded machine the
  // arming itself can take milliseconds, so the expected order is by the
  // deadlines as armed, not by the delays alone.
  for (const d of [300, 50, 150]) {
    due.set(d, c.now() + d);
    c.timer(d, () => (log.push(d), hit()));
  }
  await done;
  t.deepEqual(log, [...due.keys()].sort((a, b) => due.get(a)! - due.get(b)!));
  t.is(log.length, 3);
  t.is(c.pendingTimers, 0);
});

test('RealClock: callback runs no earlier than its deadline', async (t) => {
  const c = new RealClock(false);
  const { hit, done } = counter(2);
  const armedAt = c.now();
  let seen10 = -1;
  let seen0 = -1;
  c.timer(10, () => ((seen10 = c.now()), hit()));
  c.timer(0, () => ((seen0 = c.now()), hit()));
  await done;
  t.true(seen10 >= armedAt + 10, `${seen10} >= ${armedAt} + 10`);
  t.true(seen0 >= armedAt);
});

test('RealClock: cancel and reset', async (t) => {
  const c = new RealClock(false);
  const log: string[] = [];
  const { hit, done } = counter(2);
  const cancelled = c.timer(5, () => log.push('cancelled'));
  const moved = c.timer(5, () => (log.push('moved'), hit()));
  c.timer(15, () => (log.push('fixed'), hit()));
  cancelled.cancel();
  moved.reset(30);
  t.false(cancelled.active);
  t.true(moved.active);
  await done;
  t.deepEqual(log, ['fixed', 'moved']);
});

test('RealClock: cancelling the earliest timer re-arms for the next one', async (t) => {
  const c = new RealClock(false);
  const { hit, done } = counter(1);
  let early = false;
  const first = c.timer(5, () => (early = true));
  c.timer(20, hit);
  first.cancel();
  await done;
  t.false(early);
});

test('RealClock: same-deadline timers fire in arming order; zero-delay timers armed in callbacks fire too', async (t) => {
  const c = new RealClock(false);
  const log: number[] = [];
  const { hit, done } = counter(201);
  for (let i = 0; i < 200; i++) c.timer(10, () => (log.push(i), hit()));
  c.timer(12, () => c.timer(0, hit));
  await done;
  t.deepEqual(
    log,
    Array.from({ length: 200 }, (_, i) => i),
  );
});

test('RealClock: timers already due at a wakeup all run in that wakeup', async (t) => {
  // Zero delays make every deadline pass before the node timer can run,
  // so this asserts batching, not timing.
  const c = new RealClock(false);
  const log: string[] = [];
  const { hit, done } = counter(101);
  c.timer(0, () => {
    log.push('first');
    setImmediate(() => (log.push('immediate'), hit()));
  });
  for (let i = 0; i < 100; i++) c.timer(0, () => (log.push('t'), hit()));
  await done;
  t.is(log.length, 102);
  t.is(log.indexOf('immediate'), 101, 'all 101 timers ran before the next event-loop phase');
});

test('RealClock: many timers with mixed delays all fire in order of their deadlines', async (t) => {
  const c = new RealClock(false);
  const n = 300;
  const { hit, done } = counter(n);
  const order: number[] = [];
  const dues: number[] = [];
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const tm = c.timer(x % 25, () => (order.push(i), hit()));
    // Internal deadline, read only to state the expected order exactly.
    dues.push((tm as unknown as { e: { due: number } }).e.due);
  }
  await done;
  const expected = [...dues.keys()].sort((a, b) => dues[a]! - dues[b]! || a - b);
  t.deepEqual(order, expected);
});

test('RealClock: stop() cancels everything', async (t) => {
  const c = new RealClock(false);
  let fired = 0;
  const ts = [0, 5, 10, 20].map((d) => c.timer(d, () => fired++));
  c.stop();
  t.is(c.pendingTimers, 0);
  for (const tm of ts) t.false(tm.active);
  await sleep(40);
  t.is(fired, 0);
  // The clock still works after stop().
  const { hit, done } = counter(1);
  c.timer(1, hit);
  await done;
  t.is(fired, 0);
});

test('RealClock: a throwing callback does not strand the timers behind it', async (t) => {
  // Runs in a child process: the thrown error must reach 'uncaughtException'
  // (as in a daemon that logs and carries on), which ava would count as a failure.
  const clockUrl = new URL('../../src/core/clock.ts', import.meta.url).href;
  const script = `
    const { RealClock } = await import(${JSON.stringify(clockUrl)});
    const c = new RealClock(false);
    let errors = 0;
    process.on('uncaughtException', () => errors++);
    c.timer(0, () => { throw new Error('boom'); });
    c.timer(0, () => { console.log('same-batch ' + errors); });
    c.timer(20, () => { console.log('later ' + errors); process.exit(0); });
    setTimeout(() => { console.log('stranded ' + c.pendingTimers); process.exit(1); }, 5000);
  `;
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], { timeout: 30_000 }, (_e, stdout, stderr) =>
      resolve({ stdout, stderr }),
    );
  });
  t.is(stdout.trim(), 'same-batch 1\nlater 1', stderr);
});

test.serial('RealClock: one node timer for many stack timers; unref by default', (t) => {
  const timeouts = () => process.getActiveResourcesInfo().filter((s) => s === 'Timeout').length;
  const base = timeouts();
  const c = new RealClock(false);
  const ts: Timer[] = [];
  for (let i = 0; i < 1000; i++) ts.push(c.timer(1000 + i, () => {}));
  t.is(timeouts(), base + 1, 'a thousand stack timers, one node timer');
  ts[0]!.cancel(); // moves the earliest deadline
  ts[500]!.reset(5000);
  t.is(timeouts(), base + 1);
  c.stop();
  t.is(timeouts(), base, 'stop() clears the node timer');

  const only = c.timer(1000, () => {});
  t.is(timeouts(), base + 1);
  only.cancel();
  t.is(timeouts(), base, 'cancelling the only timer clears the node timer');
  const again = c.timer(1000, () => {});
  again.reset(2000);
  t.is(timeouts(), base + 1);
  c.stop();

  const u = new RealClock();
  for (let i = 0; i < 10; i++) u.timer(1000, () => {});
  t.is(timeouts(), base, 'an unref\u2019d timer does not hold the event loop');
  u.stop();
});
