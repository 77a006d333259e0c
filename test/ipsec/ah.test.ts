/**
 * AH (RFC 4302) over IPv6: round trips for both MACs and modes, the ICV
 * stable under every mutable field (traffic class, flow label, hop limit,
 * data of options with the 0x20 bit) and broken by every immutable byte,
 * routing headers, ESN across 2^32, replay, lengths; the caller's buffer is
 * left as it was.
 */
import test from 'ava';
import { getU16, getU32 } from '../../src/core/bytes.ts';
import { unwrap } from '../../src/core/result.ts';
import { emitIp6 } from '../../src/ip6/header.ts';
import { AH_ICV, ahDecapsulate, ahEncapsulate, ahLength, ahOverhead } from '../../src/ipsec/ah.ts';
import { nobleBackend, nodeBackend } from '../../src/ipsec/crypto.ts';
import type { Ipsec } from '../../src/ipsec/ipsec.ts';
import type { SaSpec, SecAssoc } from '../../src/ipsec/sad.ts';
import { A, AH_SUITES, B, ipsec, payload, saPair } from './helpers.ts';

const TWO32 = 2 ** 32;

function ahSpec(i: number, o: Partial<SaSpec> = {}): SaSpec {
  const s = AH_SUITES[i]!;
  return { spi: 0x5151, proto: 'ah', src: A, dst: B, auth: s.auth, authKey: s.authKey, ...o };
}

/** IPv6 header (mutable fields non-zero) with `ext` (complete extension headers) after it. */
function hdr(ext: Uint8Array = new Uint8Array(0), firstNxt = 17): Uint8Array {
  const h = new Uint8Array(40 + ext.length);
  emitIp6({ trafficClass: 0xb8, flowLabel: 0x54321, payloadLen: 0, nextHeader: ext.length ? 0 : firstNxt, hopLimit: 33, src: A, dst: B }, h, 0);
  h.set(ext, 40);
  return h;
}

/** Hop-by-Hop header: a mutable option (0x3e) with 4 data bytes, an immutable one (0x1e) with 2; next header `nxt`. */
function hbh(nxt: number): Uint8Array {
  return Uint8Array.of(nxt, 1, 0x3e, 4, 0x11, 0x22, 0x33, 0x44, 0x1e, 2, 0x55, 0x66, 0x01, 2, 0, 0);
}
const HBH_MUTABLE_DATA = [44, 45, 46, 47];
const HBH_IMMUTABLE_DATA = [50, 51];

function verify(rx: Ipsec, sa: SecAssoc, pkt: Uint8Array, ahOff: number) {
  return ahDecapsulate(rx, sa, pkt, ahOff);
}

for (const be of [nodeBackend, nobleBackend]) {
  for (let i = 0; i < AH_SUITES.length; i++) {
    test(`${be.name}: AH ${AH_SUITES[i]!.name}: round trip, 8-byte alignment, payload length`, (t) => {
      const tx = ipsec(be);
      const rx = ipsec(be);
      const sa = saPair(tx, rx, ahSpec(i));
      const len = ahLength(sa.out.ah!);
      t.is(len % 8, 0);
      t.is(len, i === 0 ? 24 : 32);
      t.is(ahOverhead(sa.out), len);
      const pl = payload(77);
      const pkt = unwrap(ahEncapsulate(tx, sa.out, { hdr: hdr(), payload: pl, nxt: 17 }));
      t.is(pkt.length, 40 + len + 77);
      t.is(pkt[6], 51, 'IPv6 next header names AH');
      t.is(getU16(pkt, 4), len + 77, 'payload length');
      t.is(pkt[40], 17);
      t.is(pkt[41], len / 4 - 2);
      t.is(getU16(pkt, 42), 0, 'reserved');
      t.is(getU32(pkt, 44), 0x5151);
      t.is(getU32(pkt, 48), 1);
      if (i === 1) t.deepEqual([...pkt.subarray(40 + AH_ICV + 16, 40 + len)], [0, 0, 0, 0], 'ICV padding is zero');
      t.is(pkt[1]! >>> 4 | (pkt[0]! & 0xf) << 4, 0xb8, 'traffic class kept on the wire');
      t.is(pkt[7], 33, 'hop limit kept on the wire');
      const r = verify(rx, sa.in, pkt, 40);
      t.true(r.ok);
      if (r.ok) t.deepEqual(r.value, { nxt: 17, len, seq: 1 });
      t.deepEqual(pkt.subarray(40 + len), pl);
      t.like(tx.stats.c, { outAh: 1, outSuccess: 1 });
      t.like(rx.stats.c, { inAh: 1, inSuccess: 1 });
      t.is(sa.in.packets, 1);
      t.is(sa.in.bytes, 77);
    });
  }
}

test('the ICV ignores every mutable field and the data of mutable options, and the buffer is restored', (t) => {
  for (let i = 0; i < AH_SUITES.length; i++) {
    const tx = ipsec();
    const rx = ipsec();
    const sa = saPair(tx, rx, ahSpec(i, { replayWindow: 0 }));
    const pkt = unwrap(ahEncapsulate(tx, sa.out, { hdr: hdr(hbh(51)), payload: payload(30), nxt: 17 }));
    t.is(pkt[6], 0, 'Hop-by-Hop stays first');
    t.is(pkt[40], 51, 'Hop-by-Hop names AH');
    const edits: [string, (p: Uint8Array) => void][] = [
      ['traffic class', (p) => ((p[0] = 0x6f), (p[1]! |= 0xf0))],
      ['flow label', (p) => ((p[1]! |= 0x0f), (p[2] = 0xaa), (p[3] = 0x55))],
      ['hop limit', (p) => (p[7] = 1)],
      ['mutable option data', (p) => HBH_MUTABLE_DATA.forEach((k) => (p[k] = 0xee))],
    ];
    for (const [what, edit] of edits) {
      const p = pkt.slice();
      edit(p);
      const before = p.slice();
      const r = verify(rx, sa.in, p, 56);
      t.true(r.ok, `${AH_SUITES[i]!.name}: ${what}`);
      t.deepEqual(p, before, 'the packet is as received after verification');
    }
  }
});

test('the ICV covers every immutable byte: header, options, AH fields, payload', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const sa = saPair(tx, rx, ahSpec(1, { replayWindow: 0 }));
  const pkt = unwrap(ahEncapsulate(tx, sa.out, { hdr: hdr(hbh(51)), payload: payload(30), nxt: 17 }));
  const ahOff = 56;
  const mutable = new Set([0, 1, 2, 3, 7, ...HBH_MUTABLE_DATA]); // byte 0: version (checked by ip6) and traffic class
  let n = 0;
  for (let k = 0; k < pkt.length; k++) {
    if (mutable.has(k) || (k >= ahOff + 4 && k < ahOff + 8)) continue; // SPI: selects the SA, not the ICV's business here
    if (k === 41 || k === ahOff + 1) continue; // length fields: refused earlier as malformed (tested below)
    if (k >= ahOff + AH_ICV + 16 && k < ahOff + 32) continue; // ICV padding: zero for the computation, so not covered (§3.3.3.1)
    const p = pkt.slice();
    p[k]! ^= 0x80;
    const r = verify(rx, sa.in, p, ahOff);
    if (r.ok) t.fail(`byte ${k} is not covered`);
    n++;
  }
  // Bytes that break the header chain (next header, option lengths) are refused before the ICV.
  t.is(rx.stats.c.inAuthFail + rx.stats.c.inBadHeader, n);
  t.is(rx.stats.c.inBadHeader, 5, "next headers at 6 and 40, option lengths at 43, 49, 53");
  t.true(HBH_IMMUTABLE_DATA.every((k) => !mutable.has(k)));
  t.is(sa.in.counters.authFail, rx.stats.c.inAuthFail);
});

test('a routing header with segments left is refused on output and on input; with 0 it is covered as is', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const sa = saPair(tx, rx, ahSpec(0));
  // Type 2-like routing header: 8 bytes of header + one address.
  const rh = (segleft: number) => {
    const h = new Uint8Array(24);
    h[0] = 51;
    h[1] = 2;
    h[2] = 2;
    h[3] = segleft;
    h.set(A, 8);
    return h;
  };
  const withRh = (segleft: number) => {
    const h = hdr(rh(segleft));
    h[6] = 43;
    return h;
  };
  const r1 = ahEncapsulate(tx, sa.out, { hdr: withRh(1), payload: payload(10), nxt: 17 });
  t.deepEqual(r1.ok ? null : r1.error, 'outBadRthdr');
  const pkt = unwrap(ahEncapsulate(tx, sa.out, { hdr: withRh(0), payload: payload(10), nxt: 17 }));
  t.is(pkt[40], 51);
  const tampered = pkt.slice();
  tampered[40 + 8 + 15]! ^= 1;
  t.false(verify(rx, sa.in, tampered, 64).ok, 'the routing header is covered');
  const pending = pkt.slice();
  pending[43] = 1;
  const r2 = verify(rx, sa.in, pending, 64);
  t.deepEqual(r2.ok ? null : r2.error, 'inAhRthdr');
  t.true(verify(rx, sa.in, pkt, 64).ok);
});

test('headers before AH: a fragment header or a broken chain is refused', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const sa = saPair(tx, rx, ahSpec(0));
  const frag = hdr(Uint8Array.of(51, 0, 0, 0, 0, 0, 0, 1));
  frag[6] = 44;
  const r = ahEncapsulate(tx, sa.out, { hdr: frag, payload: payload(10), nxt: 17 });
  t.deepEqual(r.ok ? null : r.error, 'outBadHeader');
  const badOpt = hdr(Uint8Array.of(51, 0, 0x3e, 9, 0, 0, 0, 0));
  const r2 = ahEncapsulate(tx, sa.out, { hdr: badOpt, payload: payload(10), nxt: 17 });
  t.deepEqual(r2.ok ? null : r2.error, 'outBadHeader', 'option overruns its header');
  const pkt = unwrap(ahEncapsulate(tx, sa.out, { hdr: hdr(hbh(51)), payload: payload(10), nxt: 17 }));
  // AH claimed at 40, where the Hop-by-Hop header is (its length byte patched to look like AH's).
  const wrongOff = pkt.slice();
  wrongOff[41] = 4;
  const r1 = verify(rx, sa.in, wrongOff, 40);
  t.deepEqual(r1.ok ? null : r1.error, 'inBadHeader', 'the chain from the IPv6 header does not lead to AH at 40');
  const lenField = pkt.slice();
  lenField[57] = 3;
  const r3 = verify(rx, sa.in, lenField, 56);
  t.deepEqual(r3.ok ? null : r3.error, 'inBadLength', 'AH length must match the algorithm');
  t.deepEqual(verify(rx, sa.in, pkt.subarray(0, 70), 56).ok, false, 'truncated');
});

test('AH replay and too-old rules as ESP: check, verify, then update', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const sa = saPair(tx, rx, ahSpec(1, { replayWindow: 32 }));
  const pkts = Array.from({ length: 40 }, () => unwrap(ahEncapsulate(tx, sa.out, { hdr: hdr(), payload: payload(12), nxt: 17 })));
  const forged = pkts[39]!.slice();
  forged[60]! ^= 1;
  t.false(verify(rx, sa.in, forged, 40).ok);
  t.is(sa.in.replay.top, 0, 'a forgery does not move the window');
  t.true(verify(rx, sa.in, pkts[0]!).ok);
  t.true(verify(rx, sa.in, pkts[39]!).ok);
  const again = verify(rx, sa.in, pkts[39]!);
  t.deepEqual(again.ok ? null : again.error, 'inReplay');
  const old = verify(rx, sa.in, pkts[5]!);
  t.deepEqual(old.ok ? null : old.error, 'inTooOld');
  t.like(rx.stats.c, { inSuccess: 2, inReplay: 1, inTooOld: 1, inAuthFail: 1 });

  function verify(rx2: Ipsec, s: SecAssoc, p: Uint8Array, off = 40) {
    return ahDecapsulate(rx2, s, p, off);
  }
});

test('AH with ESN across 2^32: the high half is in the ICV, not on the wire', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const sa = saPair(tx, rx, ahSpec(0, { esn: true, seq: TWO32 - 2, replaySeq: TWO32 - 2 }));
  const seqs: number[] = [];
  for (let k = 0; k < 4; k++) {
    const p = unwrap(ahEncapsulate(tx, sa.out, { hdr: hdr(), payload: payload(20, k), nxt: 17 }));
    t.is(getU32(p, 48), (TWO32 - 1 + k) >>> 0);
    const r = verify(rx, sa.in, p, 40);
    if (r.ok) seqs.push(r.value.seq);
  }
  t.deepEqual(seqs, [TWO32 - 1, TWO32, TWO32 + 1, TWO32 + 2]);
  const other = ipsec();
  const noEsn = unwrap(other.sad.add(ahSpec(0)));
  const p = unwrap(ahEncapsulate(tx, sa.out, { hdr: hdr(), payload: payload(20), nxt: 17 }));
  t.false(verify(other, noEsn, p, 40).ok, 'without the high half the ICV differs');
});

test('AH tunnel mode carries an inner IPv6 packet (next header 41) and refuses anything else', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const sa = saPair(tx, rx, ahSpec(1, { mode: 'tunnel' }));
  const inner = new Uint8Array(48);
  emitIp6({ payloadLen: 8, nextHeader: 59, hopLimit: 9, src: B, dst: A }, inner, 0);
  const p = unwrap(ahEncapsulate(tx, sa.out, { hdr: hdr(), payload: inner, nxt: 41, headroom: 14 }));
  t.is(p.byteOffset, 14);
  const r = verify(rx, sa.in, p, 40);
  t.true(r.ok && r.value.nxt === 41);
  const q = unwrap(ahEncapsulate(tx, sa.out, { hdr: hdr(), payload: inner, nxt: 17 }));
  const r2 = verify(rx, sa.in, q, 40);
  t.deepEqual(r2.ok ? null : r2.error, 'inBadMode');
});

test('AH output stops before the sequence number would cycle', (t) => {
  const tx = ipsec();
  const sa = unwrap(tx.sad.add(ahSpec(0, { seq: 0xffff_ffff })));
  const r = ahEncapsulate(tx, sa, { hdr: hdr(), payload: payload(4), nxt: 17 });
  t.deepEqual(r.ok ? null : r.error, 'outSeqOverflow');
  t.is(tx.stats.c.outSeqOverflow, 1);
});
