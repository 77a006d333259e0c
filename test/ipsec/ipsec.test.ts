/**
 * The Ipsec object: the SA bundle chosen for a policy (levels, tunnel
 * endpoints, order), the inbound policy check with its counters, and the
 * integration contract of index.ts walked through by hand — what ip6 output
 * and input will do once the lead wires the hooks.
 */
import test from 'ava';
import { getU16, getU32, putU16 } from '../../src/core/bytes.ts';
import { PktFlag } from '../../src/core/pkt.ts';
import { unwrap } from '../../src/core/result.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { emitIp6 } from '../../src/ip6/header.ts';
import { ahDecapsulate, ahEncapsulate, espDecapsulate, espEncapsulate, espSpi, fillFlow } from '../../src/ipsec/index.ts';
import type { FlowKey } from '../../src/ipsec/spd.ts';
import { A, AH_SUITES, B, ESP_SUITES, espSpec, ipsec, payload, saPair } from './helpers.ts';

const GW1 = in6('2001:db8:ffff::1');
const GW2 = in6('2001:db8:ffff::2');
const flow = (proto = 17, sport = 1000, dport = 2000): FlowKey => ({ src: A, dst: B, proto, sport, dport });

test('outputSas: none, discard, use and require without an SA', (t) => {
  const x = ipsec();
  const none = unwrap(x.spd.add({ selector: { dir: 'out', proto: 17, dport: 1 }, action: 'none' }));
  const discard = unwrap(x.spd.add({ selector: { dir: 'out', proto: 17, dport: 2 }, action: 'discard' }));
  const use = unwrap(x.spd.add({ selector: { dir: 'out', proto: 17, dport: 3 }, action: 'ipsec', requests: [{ proto: 'esp', level: 'use' }] }));
  const req = unwrap(x.spd.add({ selector: { dir: 'out', proto: 17, dport: 4 }, action: 'ipsec', requests: [{ proto: 'esp', level: 'require' }] }));
  t.deepEqual(unwrap(x.outputSas(none, A, B)), []);
  t.deepEqual(x.outputSas(discard, A, B), { ok: false, error: 'outDiscard' });
  t.deepEqual(unwrap(x.outputSas(use, A, B)), [], 'use without an SA: in the clear');
  t.deepEqual(x.outputSas(req, A, B), { ok: false, error: 'outNoSa' });
  t.like(x.stats.c, { outBypass: 2, outDiscard: 1, outNoSa: 1 });
  const sa = unwrap(x.sad.add(espSpec(ESP_SUITES[0]!)));
  t.deepEqual(unwrap(x.outputSas(req, A, B)), [sa]);
  t.deepEqual(unwrap(x.outputSas(use, A, B)), [sa]);
  t.is(x.policy('out', flow(17, 9, 4)), req);
});

test('outputSas: bundles in request order; tunnel endpoints for the tunnel and for what follows it; reqid', (t) => {
  const x = ipsec();
  const espT = unwrap(x.sad.add(espSpec(ESP_SUITES[0]!, { spi: 0x1000 })));
  const ahT = unwrap(x.sad.add({ spi: 0x1001, proto: 'ah', src: A, dst: B, auth: 'hmac-sha1-96', authKey: AH_SUITES[0]!.authKey }));
  const espTun = unwrap(x.sad.add(espSpec(ESP_SUITES[0]!, { spi: 0x1002, mode: 'tunnel', src: GW1, dst: GW2 })));
  const ahOuter = unwrap(x.sad.add({ spi: 0x1003, proto: 'ah', src: GW1, dst: GW2, auth: 'hmac-sha1-96', authKey: AH_SUITES[0]!.authKey }));
  const bound = unwrap(x.sad.add(espSpec(ESP_SUITES[0]!, { spi: 0x1004, reqid: 9 })));
  const p1 = x.policy('out', flow(), { kind: 'ipsec', requests: ['esp/transport//require', 'ah/transport//require'] });
  t.deepEqual(unwrap(x.outputSas(p1, A, B)), [bound, ahT].map((s) => s), 'newest ESP SA (no reqid asked), then AH');
  const p2 = x.policy('out', flow(), { kind: 'ipsec', requests: ['esp/tunnel/2001:db8:ffff::1-2001:db8:ffff::2/require', 'ah/transport//require'] });
  t.deepEqual(unwrap(x.outputSas(p2, A, B)), [espTun, ahOuter]);
  const p3 = x.policy('out', flow(), { kind: 'ipsec', requests: ['esp/transport//unique:9'] });
  t.deepEqual(unwrap(x.outputSas(p3, A, B)), [bound]);
  bound.state = 'dead';
  t.deepEqual(unwrap(x.outputSas(p1, A, B)), [espT, ahT]);
  t.deepEqual(x.outputSas(p3, A, B), { ok: false, error: 'outNoSa' });
  const p4 = x.policy('out', flow(), { kind: 'ipsec', requests: ['ipcomp/transport//use', 'esp/transport//require'] });
  t.deepEqual(unwrap(x.outputSas(p4, A, B)), [espT], 'IPComp (use) without an SA: skipped');
  const p5 = x.policy('out', flow(), { kind: 'ipsec', requests: ['ipcomp/transport//require', 'esp/transport//require'] });
  t.deepEqual(x.outputSas(p5, A, B), { ok: false, error: 'outNoSa' }, 'IPComp required without an SA');
  const ipc = unwrap(x.sad.add({ spi: 0x2000, proto: 'ipcomp', src: A, dst: B, calg: 'deflate' }));
  t.deepEqual(unwrap(x.outputSas(p4, A, B)), [ipc, espT], 'IPComp first (innermost), then ESP');
  t.deepEqual(unwrap(x.outputSas(p5, A, B)), [ipc, espT]);
});

test('inputAllowed counts policy violations and discards', (t) => {
  const x = ipsec();
  x.spd.add({ selector: { dir: 'in', proto: 17, dport: 2000 }, action: 'ipsec', requests: [{ proto: 'esp', level: 'require' }] });
  x.spd.add({ selector: { dir: 'in', proto: 17, dport: 3000 }, action: 'discard' });
  t.false(x.inputAllowed(flow(), 0));
  t.true(x.inputAllowed(flow(), PktFlag.DECRYPTED));
  t.true(x.inputAllowed(flow(), 0, { kind: 'bypass' }), 'a bypass socket accepts cleartext');
  t.false(x.inputAllowed(flow(17, 1, 3000), PktFlag.DECRYPTED));
  t.true(x.inputAllowed(flow(17, 1, 4000), 0), 'no entry: def_policy none');
  t.like(x.stats.c, { inPolvio: 1, inDiscard: 1 });
});

/**
 * The contract of index.ts, by hand: output asks the SPD (only when not
 * empty), encapsulates with each SA, prepends the IPv6 header; input finds
 * the SA by SPI, decapsulates, splices (previous next header, payload
 * length, trim), continues with the next header, and the upper layer checks
 * the inbound policy with the packet's flags.
 */
test('contract walk-through: UDP over ESP transport then AH, out and back in', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const esp = saPair(tx, rx, espSpec(ESP_SUITES[5]!, { spi: 0x2000 }));
  const ah = saPair(tx, rx, { spi: 0x2001, proto: 'ah', src: A, dst: B, auth: 'hmac-sha256-128', authKey: AH_SUITES[1]!.authKey });
  const requests = [{ proto: 'esp' as const, level: 'require' as const }, { proto: 'ah' as const, level: 'require' as const }];
  for (const x of [tx, rx]) {
    x.spd.add({ selector: { dir: 'out', dst: B, proto: 17 }, action: 'ipsec', requests });
    x.spd.add({ selector: { dir: 'in', dst: B, proto: 17 }, action: 'ipsec', requests });
  }
  // ---- output (ip6Output with nxt 17) -------------------------------------------
  const udp = Uint8Array.from([0x03, 0xe8, 0x07, 0xd0, 0, 28, 0, 0, ...payload(20)]);
  t.false(tx.spd.isEmpty(), 'the one branch: IPsec has work');
  const f: FlowKey = { src: A, dst: B, proto: 0, sport: 0, dport: 0 };
  const pol = tx.policy('out', fillFlow(f, A, B, 17, udp, 0));
  const sas = unwrap(tx.outputSas(pol, A, B));
  t.deepEqual(sas, [esp.out, ah.out]);
  let body: Uint8Array = udp;
  let nxt = 17;
  // ESP: the payload becomes the ESP part; AH then needs the IPv6 header to cover it.
  body = unwrap(espEncapsulate(tx, sas[0]!, body, nxt));
  nxt = 50;
  const hdr = new Uint8Array(40);
  emitIp6({ payloadLen: 0, nextHeader: nxt, hopLimit: 64, src: A, dst: B }, hdr, 0);
  const wire = unwrap(ahEncapsulate(tx, sas[1]!, { hdr, payload: body, nxt }));
  t.is(wire[6], 51);
  t.is(getU16(wire, 4), wire.length - 40);
  // ---- input (ip6Input: next-header loop) ---------------------------------------
  let b: Uint8Array = wire;
  let off = 40;
  let nxtOff = 6;
  let cur = b[6]!;
  let flags = 0;
  while (cur === 51 || cur === 50) {
    if (cur === 51) {
      const sa = rx.sad.lookupIn(getU32(b, off + 4), b, 'ah', 0, 24);
      if (!sa) return t.fail('no AH SA');
      const r = unwrap(ahDecapsulate(rx, sa, b, off));
      flags |= PktFlag.AUTHED;
      nxtOff = off;
      off += r.len;
      cur = r.nxt;
    } else {
      const sa = rx.sad.lookupIn(espSpi(b, off, b.length - off), b, 'esp', 0, 24);
      if (!sa) return t.fail('no ESP SA');
      const r = unwrap(espDecapsulate(rx, sa, b, off, b.length - off));
      flags |= PktFlag.DECRYPTED;
      // Splice: the plaintext already sits at `off`; fix the previous next header and the length, trim.
      b[nxtOff] = r.nxt;
      b = b.subarray(0, off + r.payload.length);
      putU16(b, 4, b.length - 40);
      cur = r.nxt;
    }
  }
  t.is(cur, 17);
  t.deepEqual(b.subarray(off), udp, 'the UDP datagram, where UDP input expects it');
  t.is(b[nxtOff], 17);
  // ---- the upper layer's inbound check (udp6_input, with the socket's policy) -----
  t.true(rx.inputAllowed(fillFlow(f, A, B, 17, b, off), flags));
  t.false(rx.inputAllowed(fillFlow(f, A, B, 17, b, off), PktFlag.AUTHED), 'without ESP: violation');
  t.like(rx.stats.c, { inSuccess: 2, inPolvio: 1 });
});
