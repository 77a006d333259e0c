/**
 * Two stacks on the virtual link, driven by the virtual clock: DAD, address
 * resolution and echo, deterministic and in milliseconds of real time.
 */
import test from 'ava';
import { VirtualClock } from '../../src/core/clock.ts';
import { MemoryLogger } from '../../src/core/log.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import { VirtualLink } from '../../src/link/vlink.ts';
import { Stack } from '../../src/stack.ts';

function pair(seed = 1) {
  const clock = new VirtualClock();
  const rng = new SeededRng(seed);
  const link = new VirtualLink({ clock });
  const mk = (name: string, mac: number[]) => {
    const log = new MemoryLogger();
    const s = new Stack({ clock, rng: rng.fork(), log });
    const ifp = s.addEthernet({ name, driver: link.port(), mac: Uint8Array.from(mac) });
    s.up(ifp);
    return { s, ifp, log };
  };
  const a = mk('vl0', [2, 0, 0, 0, 0, 0xa]);
  const b = mk('vl0', [2, 0, 0, 0, 0, 0xb]);
  return { clock, link, a, b };
}

/** Runs the clock until a promise settles (bounded). */
async function settle<T>(clock: VirtualClock, p: Promise<T>, stepMs = 10, maxMs = 60_000): Promise<T> {
  let done = false;
  let v!: T;
  let e: unknown;
  p.then(
    (x) => {
      done = true;
      v = x;
    },
    (x) => {
      done = true;
      e = x;
    },
  );
  for (let t = 0; t <= maxMs && !done; t += stepMs) {
    clock.advance(stepMs);
    await Promise.resolve();
    await Promise.resolve();
  }
  if (e) throw e;
  if (!done) throw new Error('did not settle');
  return v;
}

test('link-local addresses pass DAD and two stacks ping each other', async (t) => {
  const { clock, a, b } = pair();
  const llA = a.s.ip6.if6Of(a.ifp)!.addrs.find((x) => x.addr[0] === 0xfe)!;
  t.truthy(llA.flags & IN6_IFF.TENTATIVE, 'tentative at first');
  clock.advance(3000);
  t.is(llA.flags & IN6_IFF.TENTATIVE, 0, 'preferred after DAD');
  t.is(formatIn6(llA.addr), 'fe80::ff:fe00:a');
  t.is(a.s.nd6.stats.c.dadDuplicate + b.s.nd6.stats.c.dadDuplicate, 0);

  for (let seq = 1; seq <= 3; seq++) {
    const r = await settle(clock, a.s.ping({ dst: in6('fe80::ff:fe00:b'), zone: a.ifp.index, seq }));
    t.truthy(r, `reply ${seq}`);
    t.is(r!.seq, seq);
    t.true(r!.dataOk);
  }
  const n = a.s.nd6.neighbors().find((x) => formatIn6(x.addr) === 'fe80::ff:fe00:b')!;
  t.is(n.state, 'REACHABLE');
  t.is(a.s.icmp6.stats.c.echoMatched, 3);
  t.is(b.s.icmp6.stats.c.echoReplies, 3);
  t.is(a.s.nd6.stats.c.nsOut - 1 /* DAD */ >= 1, true);
});

test('a duplicate global address is detected by DAD and never used as a source', async (t) => {
  const { clock, a, b } = pair(2);
  clock.advance(3000);
  const g = in6('2001:db8::1');
  t.true(b.s.ip6.addAddress(b.ifp, g, 64).ok);
  clock.advance(3000);
  const r = a.s.ip6.addAddress(a.ifp, g, 64);
  t.true(r.ok);
  clock.advance(3000);
  t.truthy(r.ok && r.value.flags & IN6_IFF.DUPLICATED, 'marked duplicated');
  t.true(a.log.lines.some((l) => l.includes('duplicate')), 'logged');
  t.is(a.s.nd6.stats.c.dadDuplicate, 1);
  // The duplicated address is not chosen as a source.
  const src = a.s.ip6.selectSource(in6('2001:db8::2'), a.ifp);
  t.not(src && formatIn6(src.addr), '2001:db8::1');
});

test('ping to ourselves goes through lo0, ::1 included', async (t) => {
  const { clock, a } = pair(3);
  clock.advance(3000);
  const r1 = await settle(clock, a.s.ping({ dst: in6('::1'), seq: 1 }));
  t.truthy(r1);
  const r2 = await settle(clock, a.s.ping({ dst: in6('fe80::ff:fe00:a'), zone: a.ifp.index, seq: 2 }));
  t.truthy(r2);
  t.is(r2!.zone, a.ifp.index, 'the reply belongs to the zone of the address');
  t.true(a.s.ip6.stats.c.looped >= 4);
});

test('no reply from an address nobody has: resolution fails, is counted, and ping learns Address unreachable', async (t) => {
  const { clock, a } = pair(4);
  clock.advance(3000);
  const err = await settle(clock, a.s.ping({ dst: in6('fe80::dead'), zone: a.ifp.index, seq: 1, timeoutMs: 10_000 })).then(
    () => null,
    (e: Error & { code?: string; icmp?: { type: number; code: number } }) => e,
  );
  t.is(err?.code, 'EHOSTUNREACH');
  t.deepEqual(err?.icmp && { type: err.icmp.type, code: err.icmp.code }, { type: 1, code: 3 });
  t.regex(err!.message, /Destination unreachable: Address unreachable/);
  t.is(a.s.nd6.stats.c.resolveFailed, 1);
  t.is(a.s.nd6.stats.c.unresolvedDropped, 1);
  t.is(a.s.icmp6.stats.c.errSent, 1, 'RFC 4861 §7.2.2: Destination Unreachable to the sender (ourselves)');
});
