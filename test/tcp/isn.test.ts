/**
 * RFC 6528 ISNs (M + F(4-tuple, secret)) and SYN cookies.
 */
import test from 'ava';
import { SeededRng } from '../../src/core/rng.ts';
import { COOKIE_MSS_TABLE, COOKIE_PERIOD_MS, IsnGenerator, SynCookies, type TcpTuple } from '../../src/tcp/isn.ts';

function addr(last: number): Uint8Array {
  const a = new Uint8Array(16);
  a[0] = 0x20;
  a[1] = 0x01;
  a[15] = last;
  return a;
}

const T: TcpTuple = { localAddr: addr(1), localPort: 80, remoteAddr: addr(2), remotePort: 40000 };

function gen(seed: number, clock: { t: number }): IsnGenerator {
  return new IsnGenerator({ rng: new SeededRng(seed), now: () => clock.t });
}

test('same tuple, same time: same ISN', (t) => {
  const clock = { t: 1234.5 };
  const g = gen(1, clock);
  t.is(g.isn(T), g.isn({ ...T, localAddr: addr(1) }));
});

test('M advances 250 ticks per millisecond (4 µs), wrapping at 2^32', (t) => {
  const clock = { t: 1000 };
  const g = gen(1, clock);
  const a = g.isn(T);
  clock.t += 1;
  t.is(g.isn(T), (a + 250) >>> 0);
  clock.t += 0.004;
  t.is(g.isn(T), (a + 251) >>> 0);
  const period = 0x1_0000_0000 / 250;
  clock.t = 1000 + period;
  t.is(g.isn(T), a, 'after 2^32 ticks (about 4.77 h) M is back where it was');
  t.is(IsnGenerator.ticks(period + 2), 500);
});

test('each element of the 4-tuple changes F', (t) => {
  const g = gen(7, { t: 0 });
  const variants: TcpTuple[] = [
    T,
    { ...T, localPort: 81 },
    { ...T, remotePort: 40001 },
    { ...T, localAddr: addr(3) },
    { ...T, remoteAddr: addr(3) },
    { localAddr: T.remoteAddr, localPort: T.remotePort, remoteAddr: T.localAddr, remotePort: T.localPort },
  ];
  const isns = variants.map((v) => g.isn(v));
  t.is(new Set(isns).size, variants.length);
});

test('another secret gives unrelated offsets', (t) => {
  const offsets = new Set<number>();
  for (let seed = 0; seed < 50; seed++) offsets.add(gen(seed, { t: 0 }).isn(T));
  t.is(offsets.size, 50);
  // The difference between two tuples' ISNs is not the same under two secrets either.
  const g1 = gen(1, { t: 0 });
  const g2 = gen(2, { t: 0 });
  const u = { ...T, remotePort: 40001 };
  t.not((g1.isn(T) - g1.isn(u)) >>> 0, (g2.isn(T) - g2.isn(u)) >>> 0);
});

test('cookies: roundtrip for each MSS class, the largest entry not above the peer MSS', (t) => {
  const c = new SynCookies({ rng: new SeededRng(3) });
  const cases: [number, number][] = [
    [1460, 1440],
    [1440, 1440],
    [1439, 1220],
    [1220, 1220],
    [9000, 8940],
    [8940, 8940],
    [1000, 536],
    [300, 536],
  ];
  for (const [peer, want] of cases) {
    const now = 5 * COOKIE_PERIOD_MS + 17;
    const cookie = c.encode(T, peer, now);
    t.is(c.check(T, cookie, now), want, `peer MSS ${peer}`);
  }
  t.deepEqual([...COOKIE_MSS_TABLE], [536, 1220, 1440, 8940]);
});

test('cookie layout: time counter in the top 6 bits, MSS index in the next 2', (t) => {
  const c = new SynCookies({ rng: new SeededRng(3) });
  const now = 70 * COOKIE_PERIOD_MS;
  const cookie = c.encode(T, 1440, now);
  t.is(cookie >>> 26, 70 % 64);
  t.is((cookie >>> 24) & 3, 2);
});

test('cookies are good in their time unit and the next, not after', (t) => {
  const c = new SynCookies({ rng: new SeededRng(4) });
  const made = 10 * COOKIE_PERIOD_MS + 63_999;
  const cookie = c.encode(T, 1460, made);
  t.is(c.check(T, cookie, made + 1), 1440, 'next unit');
  t.is(c.check(T, cookie, 11 * COOKIE_PERIOD_MS + 63_999), 1440, 'end of next unit');
  t.is(c.check(T, cookie, 12 * COOKIE_PERIOD_MS), null, 'two units later');
  t.is(c.check(T, cookie, (10 + 64) * COOKIE_PERIOD_MS), null, 'the 6-bit field wrapping does not revive it');
  t.is(c.check(T, cookie, 9 * COOKIE_PERIOD_MS), null, 'not before it was made');
});

test('a cookie for another tuple, from another secret, or altered, fails', (t) => {
  const c = new SynCookies({ rng: new SeededRng(5) });
  const now = 1_000_000;
  const cookie = c.encode(T, 1460, now);
  t.is(c.check({ ...T, remotePort: 40001 }, cookie, now), null);
  t.is(c.check({ ...T, remoteAddr: addr(9) }, cookie, now), null);
  t.is(new SynCookies({ rng: new SeededRng(6) }).check(T, cookie, now), null);
  for (let bit = 0; bit < 32; bit++) t.is(c.check(T, (cookie ^ (1 << bit)) >>> 0, now), null, `bit ${bit} flipped`);
});

test('forged cookies almost never pass', (t) => {
  const c = new SynCookies({ rng: new SeededRng(8) });
  const rng = new SeededRng(9);
  let passed = 0;
  for (let i = 0; i < 20_000; i++) if (c.check(T, rng.u32(), 1_000_000) !== null) passed++;
  t.is(passed, 0);
});
