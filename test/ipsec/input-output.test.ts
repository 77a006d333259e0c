/**
 * The whole-packet steps the ip6 hooks will call: `ipsecOutput` builds the
 * protected IPv6 packet for every bundle shape (transport ESP, ESP then AH,
 * tunnel ESP and AH, with a Hop-by-Hop header), and the protocol-switch
 * routines `esp6Input`/`ah6Input` take it apart in a stand-in for ip6's
 * next-header loop — in place for transport mode, through `reinput` for
 * tunnel mode, and asynchronously (PENDING, then resume) with `defer`.
 */
import test from 'ava';
import { getU16 } from '../../src/core/bytes.ts';
import { Pkt, PktFlag } from '../../src/core/pkt.ts';
import { unwrap } from '../../src/core/result.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { IPPROTO_DONE, IPPROTO_PENDING, type Ip6InputCtx } from '../../src/ip6/protosw.ts';
import type { Ifnet } from '../../src/link/ifnet.ts';
import { emitIp6 } from '../../src/ip6/header.ts';
import { espEncapsulate } from '../../src/ipsec/esp.ts';
import { type IpsecInputHooks, ah6Input, esp6Input } from '../../src/ipsec/input.ts';
import type { Ipsec } from '../../src/ipsec/ipsec.ts';
import { ipsecOutput, ipsecOverhead } from '../../src/ipsec/output.ts';
import type { SecAssoc } from '../../src/ipsec/sad.ts';
import { A, AH_SUITES, B, ESP_SUITES, espSpec, ipsec, payload, saPair } from './helpers.ts';

const GW1 = in6('2001:db8:ffff::1');
const GW2 = in6('2001:db8:ffff::2');
const IFP = { index: 2, name: 'vl0' } as unknown as Ifnet;
/** A Hop-by-Hop header with a Router Alert option (next header filled in by output). */
const HBH = Uint8Array.of(0, 0, 5, 2, 0, 0, 1, 0);

interface Seen {
  nxt: number;
  ctx: Ip6InputCtx;
}

/** ip6_input's loop for the headers that matter here: Hop-by-Hop skipped, 50 and 51 by the routines. */
function loop(x: Ipsec, pkt: Pkt, hooks: IpsecInputHooks): Seen {
  const b = pkt.data();
  const ctx: Ip6InputCtx = { pkt, ifp: IFP, b, off: 40, nxtOff: 6, src: b.subarray(8, 24), dst: b.subarray(24, 40), zone: 2, nest: 0, mcast: false };
  let nxt = b[6]!;
  if (nxt === 0) {
    ctx.nxtOff = 40;
    ctx.off = 40 + (b[41]! + 1) * 8;
    nxt = b[40]!;
  }
  while (nxt === 50 || nxt === 51) nxt = nxt === 50 ? esp6Input(x, ctx, hooks) : ah6Input(x, ctx, hooks);
  return { nxt, ctx };
}

function rig(sas: (tx: Ipsec, rx: Ipsec) => SecAssoc[]) {
  const tx = ipsec();
  const rx = ipsec();
  const out = sas(tx, rx);
  const reinputs: { pkt: Pkt; nxt: number }[] = [];
  const hooks: IpsecInputHooks = { reinput: (pkt, _ifp, nxt) => reinputs.push({ pkt, nxt }) };
  return { tx, rx, out, reinputs, hooks };
}

const udp = Uint8Array.from([0x03, 0xe8, 0x07, 0xd0, 0, 58, 0, 0, ...payload(50)]);

test('transport ESP: one buffer with the IPv6 header in front, taken apart in place', (t) => {
  const r = rig((tx, rx) => [saPair(tx, rx, espSpec(ESP_SUITES[0]!)).out]);
  const res = unwrap(ipsecOutput(r.tx, r.out, { src: A, dst: B, nxt: 17, payload: udp, hlim: 64, trafficClass: 0x28, headroom: 30 }));
  const p = res.packet;
  t.is(p.byteOffset, 30, 'headroom kept');
  t.is(res.unfragLen, 40);
  t.is(p[6], 50);
  t.is(getU16(p, 4), p.length - 40);
  t.true(p.length - 40 - udp.length <= ipsecOverhead(r.out));
  const pkt = Pkt.adopt(p);
  const seen = loop(r.rx, pkt, r.hooks);
  t.is(seen.nxt, 17);
  t.is(seen.ctx.off, 40);
  t.deepEqual(seen.ctx.b.subarray(40), udp);
  t.is(seen.ctx.b[6], 17, 'the next header that named ESP now names UDP');
  t.is(getU16(seen.ctx.b, 4), udp.length, 'payload length');
  t.is(pkt.len, 40 + udp.length, 'trimmed');
  t.true((pkt.flags & PktFlag.DECRYPTED) !== 0);
});

test('ESP then AH in transport mode, behind a Hop-by-Hop header', (t) => {
  const r = rig((tx, rx) => [
    saPair(tx, rx, espSpec(ESP_SUITES[6]!, { spi: 0x3000 })).out,
    saPair(tx, rx, { spi: 0x3001, proto: 'ah', src: A, dst: B, auth: 'hmac-sha256-128', authKey: AH_SUITES[1]!.authKey }).out,
  ]);
  const res = unwrap(ipsecOutput(r.tx, r.out, { src: A, dst: B, nxt: 17, payload: udp, hlim: 1, hbh: HBH }));
  const p = res.packet;
  t.is(res.unfragLen, 48);
  t.deepEqual([p[6], p[40], p[48]], [0, 51, 50], 'IPv6 -> Hop-by-Hop -> AH -> ESP');
  const pkt = Pkt.adopt(p);
  const seen = loop(r.rx, pkt, r.hooks);
  t.is(seen.nxt, 17);
  t.deepEqual(seen.ctx.b.subarray(seen.ctx.off), udp);
  t.is(pkt.flags & (PktFlag.AUTHED | PktFlag.DECRYPTED), PktFlag.AUTHED | PktFlag.DECRYPTED);
  t.is(getU16(seen.ctx.b, 4), seen.ctx.b.length - 40);
  t.like(r.rx.stats.c, { inSuccess: 2, inEsp: 1, inAh: 1 });
});

for (const proto of ['esp', 'ah'] as const) {
  test(`tunnel ${proto}: the outer header goes gateway to gateway; the inner packet comes back through reinput`, (t) => {
    const r = rig((tx, rx) => [
      proto === 'esp'
        ? saPair(tx, rx, espSpec(ESP_SUITES[2]!, { mode: 'tunnel', src: GW1, dst: GW2 })).out
        : saPair(tx, rx, { spi: 0x4000, proto: 'ah', mode: 'tunnel', src: GW1, dst: GW2, auth: 'hmac-sha1-96', authKey: AH_SUITES[0]!.authKey }).out,
    ]);
    const res = unwrap(ipsecOutput(r.tx, r.out, { src: A, dst: B, nxt: 17, payload: udp, hlim: 64, trafficClass: 0xb9, hbh: HBH, tunnelHlim: 255 }));
    const p = res.packet;
    t.deepEqual(p.subarray(8, 24), GW1);
    t.deepEqual(p.subarray(24, 40), GW2);
    t.is(p[7], 255, 'outer hop limit');
    t.is(((p[0]! & 0xf) << 4) | (p[1]! >>> 4), 0xb9, 'traffic class copied to the outer header');
    t.is(p[6], proto === 'esp' ? 50 : 51, 'no Hop-by-Hop outside: it went inside');
    t.true(p.length - 48 - udp.length <= ipsecOverhead(r.out));
    const pkt = Pkt.adopt(p);
    const seen = loop(r.rx, pkt, r.hooks);
    t.is(seen.nxt, IPPROTO_DONE);
    t.is(r.reinputs.length, 1);
    const inner = r.reinputs[0]!;
    t.is(inner.nxt, 41);
    const d = inner.pkt.data();
    t.is(d.length, 40 + 8 + udp.length);
    t.deepEqual(d.subarray(8, 24), A);
    t.deepEqual(d.subarray(24, 40), B);
    t.deepEqual([d[6], d[40]], [0, 17]);
    t.deepEqual(d.subarray(48), udp);
    t.true((inner.pkt.flags & (proto === 'esp' ? PktFlag.DECRYPTED : PktFlag.AUTHED)) !== 0);
  });
}

test('tunnel ESP: traffic-flow-confidentiality padding after the inner packet is dropped (RFC 4303 §2.7)', (t) => {
  const r = rig((tx, rx) => [saPair(tx, rx, espSpec(ESP_SUITES[0]!, { mode: 'tunnel', src: GW1, dst: GW2 })).out]);
  const inner = unwrap(ipsecOutput(r.tx, [], { src: A, dst: B, nxt: 17, payload: udp, hlim: 64 })).packet;
  const padded = new Uint8Array(inner.length + 300);
  padded.set(inner);
  padded.fill(0xa5, inner.length);
  const esp = unwrap(espEncapsulate(r.tx, r.out[0]!, padded, 41, 40));
  const p = new Uint8Array(esp.buffer, 0, 40 + esp.length);
  emitIp6({ payloadLen: esp.length, nextHeader: 50, hopLimit: 64, src: GW1, dst: GW2 }, p, 0);
  t.is(loop(r.rx, Pkt.adopt(p), r.hooks).nxt, IPPROTO_DONE);
  t.deepEqual(r.reinputs[0]!.pkt.data(), inner);
});

test('no SA for the SPI, or too short for an SPI: dropped and counted', (t) => {
  const r = rig((tx, rx) => [saPair(tx, rx, espSpec(ESP_SUITES[0]!)).out]);
  const p = unwrap(ipsecOutput(r.tx, r.out, { src: A, dst: B, nxt: 17, payload: udp, hlim: 64 })).packet;
  const other = ipsec();
  t.is(loop(other, Pkt.copyOf(p), r.hooks).nxt, IPPROTO_DONE);
  t.is(other.stats.c.inNoSa, 1);
  const short = Pkt.copyOf(p.subarray(0, 44));
  short.buf[short.off + 5] = 4;
  t.is(loop(r.rx, short, r.hooks).nxt, IPPROTO_DONE);
  t.is(r.rx.stats.c.inBadLength, 1);
  const ahShort = Pkt.copyOf(p.subarray(0, 48));
  ahShort.buf[ahShort.off + 6] = 51;
  t.is(loop(r.rx, ahShort, r.hooks).nxt, IPPROTO_DONE);
  t.is(r.rx.stats.c.inBadLength, 2);
  // An SA to another destination does not match.
  const wrongDst = Pkt.copyOf(p);
  wrongDst.buf[wrongDst.off + 39]! ^= 1;
  t.is(loop(r.rx, wrongDst, r.hooks).nxt, IPPROTO_DONE);
  t.is(r.rx.stats.c.inNoSa, 1);
});

test('asynchronous crypto: PENDING, then resume continues the loop with the inner next header', (t) => {
  const r = rig((tx, rx) => [saPair(tx, rx, espSpec(ESP_SUITES[3]!)).out]);
  const p = unwrap(ipsecOutput(r.tx, r.out, { src: A, dst: B, nxt: 17, payload: udp, hlim: 64 })).packet;
  const queue: (() => void)[] = [];
  const resumed: { ctx: Ip6InputCtx; nxt: number }[] = [];
  const hooks: IpsecInputHooks = { ...r.hooks, defer: (run) => queue.push(run), resume: (ctx, nxt) => resumed.push({ ctx, nxt }) };
  const seen = loop(r.rx, Pkt.adopt(p), hooks);
  t.is(seen.nxt, IPPROTO_PENDING);
  t.is(r.rx.stats.c.inEsp, 0, 'nothing done yet');
  queue.shift()!();
  t.is(resumed.length, 1);
  t.is(resumed[0]!.nxt, 17);
  t.deepEqual(resumed[0]!.ctx.b.subarray(resumed[0]!.ctx.off), udp);
  // A failure while pending ends the packet: no resume.
  const bad = unwrap(ipsecOutput(r.tx, r.out, { src: A, dst: B, nxt: 17, payload: udp, hlim: 64 })).packet;
  bad[bad.length - 1]! ^= 1;
  t.is(loop(r.rx, Pkt.adopt(bad), hooks).nxt, IPPROTO_PENDING);
  queue.shift()!();
  t.is(resumed.length, 1);
  t.is(r.rx.stats.c.inAuthFail, 1);
});

test('output errors are counted: sequence exhausted, oversize', (t) => {
  const r = rig((tx, rx) => [saPair(tx, rx, espSpec(ESP_SUITES[0]!, { seq: 0xffff_ffff })).out]);
  const e = ipsecOutput(r.tx, r.out, { src: A, dst: B, nxt: 17, payload: udp, hlim: 64 });
  t.deepEqual(e.ok ? null : e.error, 'outSeqOverflow');
  const r2 = rig((tx, rx) => [saPair(tx, rx, espSpec(ESP_SUITES[0]!)).out]);
  const big = ipsecOutput(r2.tx, r2.out, { src: A, dst: B, nxt: 17, payload: new Uint8Array(65_510), hlim: 64 });
  t.deepEqual(big.ok ? null : big.error, 'outTooBig');
  t.is(r2.tx.stats.c.outTooBig, 1);
  t.deepEqual(unwrap(ipsecOutput(r2.tx, [], { src: A, dst: B, nxt: 17, payload: udp, hlim: 64 })).packet.subarray(40), udp, 'no SA: plain packet');
});
