/**
 * The ICMPv6 error rate limit (RFC 4443 §2.4(f)): a token bucket of `burst`
 * errors refilled at `ratePerSec` on the injected clock. A burst of packets
 * with an unknown next header from the raw port shows exactly how many
 * errors go out and how many are suppressed (errRateLimited), with virtual
 * time doing the refilling.
 */
import test from 'ava';
import { in6 } from '../../src/ip6/addr.ts';
import { ICMP, RAW_LL, changed, echoBody, icmpFrame, introduce, ip6Frame, makeNet, multicastMac } from '../helpers/stack.ts';

const ALL_NODES = in6('ff02::1');

function setup() {
  const net = makeNet();
  const h = net.hosts[0]!;
  introduce(net, h);
  net.raw.clear();
  const ic = h.s.icmp6;
  /** A packet naming next header 253 (no such protocol): it draws Parameter Problem code 1. */
  const bad = (o: { src?: Uint8Array; dst?: Uint8Array } = {}) => {
    const dst = o.dst ?? h.ll;
    return ip6Frame({ src: o.src ?? RAW_LL, dst, ethDst: dst[0] === 0xff ? multicastMac(dst) : h.mac, nxt: 253, payload: new Uint8Array(8) });
  };
  /** Sends `n` copies of `frame` at one instant; returns the icmp6stat deltas and the Parameter Problems that came back. */
  const burst = (n: number, frame = bad()): Partial<Record<string, number>> & { pp: number } => {
    const before = ic.stats.snapshot();
    const from = net.raw.frames.length;
    for (let i = 0; i < n; i++) net.raw.send(frame);
    net.run(0);
    const d = changed(before, ic.stats.snapshot());
    return { ...d, pp: net.raw.frames.slice(from).filter((f) => f.icmp?.type === ICMP.PARAM_PROB).length };
  };
  return { net, h, ic, bad, burst };
}

test('a burst of 1,000 bad packets: `burst` errors at once, errRateLimited counts exactly the rest', (t) => {
  const { h, ic, burst } = setup();
  t.deepEqual(ic.rateLimit, { ratePerSec: 100, burst: 10 });
  const r = burst(1000);
  t.is(r.errSent, 10);
  t.is(r.errRateLimited, 990);
  t.is(r.pp, 10, 'what the link saw');
  t.is(h.s.ip6.stats.c.noProto, 1000, 'every packet is still counted where it was dropped');
});

test('tokens come back with virtual time at the configured rate, never above the burst', (t) => {
  const { net, burst } = setup();
  burst(1000);
  net.run(50);
  t.like(burst(20), { errSent: 5, errRateLimited: 15, pp: 5 }, '50 ms at 100/s: five tokens');
  net.run(10);
  t.like(burst(20), { errSent: 1, errRateLimited: 19 }, '10 ms: one');
  net.run(3_600_000);
  t.like(burst(20), { errSent: 10, errRateLimited: 10 }, 'an hour: no more than the burst');
  net.run(5);
  t.like(burst(3), { errRateLimited: 3 }, 'half a token is not a token');
  net.run(5);
  t.like(burst(3), { errSent: 1, errRateLimited: 2 }, 'the halves add up');
});

test('setRateLimit: a new rate and burst apply from now on', (t) => {
  const { net, ic, burst } = setup();
  burst(1000);
  ic.setRateLimit({ ratePerSec: 1000, burst: 50 });
  t.deepEqual(ic.rateLimit, { ratePerSec: 1000, burst: 50 });
  t.like(burst(100), { errRateLimited: 100 }, 'the bucket was empty and stays so until time passes');
  net.run(20);
  t.like(burst(100), { errSent: 20, errRateLimited: 80 }, '20 ms at 1000/s');
  net.run(1000);
  t.like(burst(100), { errSent: 50, errRateLimited: 50 }, 'a burst of 50');
  // Shrinking the burst takes tokens away at once.
  net.run(1000);
  ic.setRateLimit({ ratePerSec: 1000, burst: 3 });
  t.like(burst(10), { errSent: 3, errRateLimited: 7 });
  // Off.
  ic.setRateLimit({ ratePerSec: 0, burst: 0 });
  net.run(10_000);
  t.like(burst(10), { errRateLimited: 10 });
  t.is(burst(1).errSent, undefined);
});

test('time spent under one limit is not credited at the next one', (t) => {
  const { net, ic, burst } = setup();
  ic.setRateLimit({ ratePerSec: 0, burst: 0 });
  burst(5);
  net.run(60_000);
  // A minute with errors off, then back on: the bucket starts empty and fills at the new rate.
  ic.setRateLimit({ ratePerSec: 10, burst: 5 });
  t.like(burst(5), { errRateLimited: 5 }, 'no burst earned while errors were off');
  net.run(100);
  t.like(burst(5), { errSent: 1, errRateLimited: 4 });
  net.run(1000);
  t.like(burst(10), { errSent: 5, errRateLimited: 5 });
});

test('only errors that would be sent take tokens; echo replies are not limited; the bucket is shared by all sources', (t) => {
  const { h, net, bad, burst } = setup();
  // Errors not sent for other reasons (§2.4(e)) cost nothing.
  t.like(burst(50, bad({ dst: ALL_NODES })), { errToMulticast: 50 });
  t.like(burst(50, bad({ src: in6('::') })), { errBadSource: 50 });
  t.like(burst(20), { errSent: 10, errRateLimited: 10 });
  // Echo replies are informational, not errors.
  const echo = icmpFrame(ICMP.ECHO_REQUEST, 0, echoBody(1, 1), { src: RAW_LL, dst: h.ll, ethDst: h.mac });
  t.like(burst(100, echo), { echoReplies: 100 });
  // Another source finds the bucket empty too (one limit per node, as KAME's icmp6errppslim).
  const other = in6('fe80::77');
  t.like(burst(5, bad({ src: other })), { errRateLimited: 5 });
  net.run(1000);
  t.like(burst(5, bad({ src: other })), { errSent: 5 });
});
