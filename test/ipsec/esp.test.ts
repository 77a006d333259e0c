/**
 * ESP (RFC 4303): round trips for every transform, both modes and both
 * backends (and across backends), then each input rule with its counter:
 * tampering, replay and too-old packets, the window moving only after the
 * ICV verified, ESN across 2^32, the sender refusing to cycle, padding,
 * dummy packets, lengths, SA state, mode.
 */
import test from 'ava';
import fc from 'fast-check';
import { getU32 } from '../../src/core/bytes.ts';
import { Pkt } from '../../src/core/pkt.ts';
import { unwrap } from '../../src/core/result.ts';
import { emitIp6 } from '../../src/ip6/header.ts';
import { nobleBackend, nodeBackend } from '../../src/ipsec/crypto.ts';
import { ESP_HDR_LEN, espDecapsulate, espEncapsulate, espLength, espOverhead, espSpi } from '../../src/ipsec/esp.ts';
import type { Ipsec } from '../../src/ipsec/ipsec.ts';
import type { SecAssoc } from '../../src/ipsec/sad.ts';
import { A, B, ESP_SUITES, espSpec, ipsec, payload, rawEsp, saPair } from './helpers.ts';

const TWO32 = 2 ** 32;

/** An inner IPv6 packet (tunnel mode payload). */
function innerPacket(n: number): Uint8Array {
  const p = new Uint8Array(40 + n);
  emitIp6({ payloadLen: n, nextHeader: 17, hopLimit: 63, src: B, dst: A }, p, 0);
  p.set(payload(n, 3), 40);
  return p;
}

function decap(rx: Ipsec, sa: SecAssoc, wire: Uint8Array) {
  // Inside a larger buffer at an offset, as the ip6 layer hands it over.
  const b = new Uint8Array(40 + wire.length);
  b.set(wire, 40);
  return { b, r: espDecapsulate(rx, sa, b, 40, wire.length) };
}

for (const be of [nodeBackend, nobleBackend]) {
  for (const s of ESP_SUITES) {
    for (const mode of ['transport', 'tunnel'] as const) {
      test(`${be.name}: ${s.name} ${mode}: round trip, layout and counters`, (t) => {
        const tx = ipsec(be);
        const rx = ipsec(be, 2);
        const sa = saPair(tx, rx, espSpec(s, { mode }));
        const xf = sa.out.esp!;
        for (const n of [0, 1, 13, 14, 15, 16, 17, 100, 1400]) {
          const pt = mode === 'tunnel' ? innerPacket(n) : payload(n, n);
          const nxt = mode === 'tunnel' ? 41 : 17;
          const wire = unwrap(espEncapsulate(tx, sa.out, pt, nxt));
          t.is(wire.length, espLength(xf, pt.length));
          t.true(wire.length - pt.length <= espOverhead(sa.out));
          t.is(getU32(wire, 0), 0x1234, 'SPI');
          t.is(getU32(wire, 4), sa.out.seq, 'sequence number');
          t.is(espSpi(wire, 0, wire.length), 0x1234);
          t.is((wire.length - ESP_HDR_LEN - xf.ivLen - xf.icvLen) % xf.align, 0, 'aligned');
          const { b, r } = decap(rx, sa.in, wire);
          t.true(r.ok);
          if (!r.ok) return;
          t.deepEqual(r.value.payload, pt);
          t.is(r.value.nxt, nxt);
          t.is(r.value.seq, sa.out.seq);
          t.is(r.value.payload.buffer, b.buffer, 'plaintext in the caller buffer');
          t.is(r.value.payload.byteOffset, 40, 'at the ESP header offset');
        }
        t.is(tx.stats.c.outSuccess, 9);
        t.is(tx.stats.c.outEsp, 9);
        t.is(rx.stats.c.inSuccess, 9);
        t.is(rx.stats.c.inEsp, 9);
        t.is(rx.stats.sum((k) => k.startsWith('in') && !['inSuccess', 'inEsp'].includes(k)), 0, 'no drop');
        t.is(sa.out.packets, 9);
        t.is(sa.in.packets, 9);
        t.is(sa.in.bytes, sa.out.bytes);
      });
    }
  }
}

test('node and noble interoperate on every transform (either direction)', (t) => {
  for (const s of ESP_SUITES) {
    for (const [b1, b2] of [
      [nodeBackend, nobleBackend],
      [nobleBackend, nodeBackend],
    ]) {
      const tx = ipsec(b1!);
      const rx = ipsec(b2!);
      const sa = saPair(tx, rx, espSpec(s));
      const pt = payload(333);
      const r = decap(rx, sa.in, unwrap(espEncapsulate(tx, sa.out, pt, 6))).r;
      t.true(r.ok && r.value.nxt === 6 && r.value.payload.length === 333, `${s.name} ${b1!.name} -> ${b2!.name}`);
    }
  }
});

test('node and noble produce the same bytes given the same SA state and IV source', (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...ESP_SUITES), fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.boolean(), (s, pt, seq, esn) => {
      const outs = [nodeBackend, nobleBackend].map((be) => {
        const x = ipsec(be, 7);
        const sa = unwrap(x.sad.add(espSpec(s, { esn, seq: esn ? seq : seq % 2 ** 32 === 0xffff_ffff ? 5 : seq % 2 ** 32 })));
        return unwrap(espEncapsulate(x, sa, pt, 17));
      });
      t.deepEqual(outs[0], outs[1]);
    }),
    { numRuns: 100 },
  );
});

test('the output has headroom for the IPv6 header in the same buffer', (t) => {
  const tx = ipsec();
  const sa = unwrap(tx.sad.add(espSpec(ESP_SUITES[0]!)));
  const wire = unwrap(espEncapsulate(tx, sa, payload(50), 17, 56));
  t.is(wire.byteOffset, 56);
  const pkt = Pkt.adopt(wire);
  t.is(pkt.headroom, 56);
  const reallocs = Pkt.reallocs;
  pkt.prepend(40);
  t.is(Pkt.reallocs, reallocs, 'no copy to prepend the IPv6 header');
});

test('AEAD explicit IVs are the sequence numbers: never repeated; CBC IVs come from the Rng', (t) => {
  const tx = ipsec();
  const gcm = unwrap(tx.sad.add(espSpec(ESP_SUITES[0]!)));
  const ivs = new Set<string>();
  for (let i = 1; i <= 50; i++) {
    const w = unwrap(espEncapsulate(tx, gcm, payload(10), 17));
    t.is(getU32(w, 8), 0);
    t.is(getU32(w, 12), i);
    ivs.add(Buffer.from(w.subarray(8, 16)).toString('hex'));
  }
  t.is(ivs.size, 50);
  const cbc = unwrap(tx.sad.add(espSpec(ESP_SUITES[3]!, { spi: 0x999 })));
  const a = unwrap(espEncapsulate(tx, cbc, payload(10), 17)).slice(8, 24);
  const b = unwrap(espEncapsulate(tx, cbc, payload(10), 17)).slice(8, 24);
  t.notDeepEqual(a, b);
});

for (const s of ESP_SUITES) {
  test(`${s.name}: a flipped bit anywhere is an authentication failure, counted, and the window does not move`, (t) => {
    const tx = ipsec();
    const rx = ipsec();
    const sa = saPair(tx, rx, espSpec(s));
    const wire = unwrap(espEncapsulate(tx, sa.out, payload(64), 17));
    // Every byte after the sequence number (IV, ciphertext, ICV); SPI and seq are covered too but change the lookup/window.
    let fails = 0;
    for (let i = 8; i < wire.length; i++) {
      const bad = wire.slice();
      bad[i]! ^= 0x04;
      const { b, r } = decap(rx, sa.in, bad);
      t.false(r.ok);
      if (!r.ok) t.is(r.error, 'inAuthFail');
      t.deepEqual(b.subarray(40), bad, 'the packet is left as received');
      fails++;
    }
    t.is(rx.stats.c.inAuthFail, fails);
    t.is(sa.in.counters.authFail, fails);
    t.is(sa.in.replay.top, 0, 'forgeries never move the window');
    // A forged sequence number fails as well.
    const seqForged = wire.slice();
    seqForged[7] = 9;
    t.is(decap(rx, sa.in, seqForged).r.ok, false);
    // The genuine packet is still accepted afterwards.
    t.true(decap(rx, sa.in, wire).r.ok);
    t.is(sa.in.replay.top, 1);
  });
}

test('a forged packet far ahead does not push genuine packets out of the window', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const sa = saPair(tx, rx, espSpec(ESP_SUITES[5]!, { replayWindow: 32 }));
  const first = unwrap(espEncapsulate(tx, sa.out, payload(20), 17));
  const forged = rawEsp(sa.out, 1000, body(payload(14), [], 17));
  forged[forged.length - 1]! ^= 1; // the ICV no longer matches
  t.is(decap(rx, sa.in, forged).r.ok, false);
  t.is(rx.stats.c.inAuthFail, 1);
  t.true(decap(rx, sa.in, first).r.ok, 'seq 1 is still inside the window');
});

test('replayed packets are dropped and counted; packets left of the window are too old', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const sa = saPair(tx, rx, espSpec(ESP_SUITES[0]!, { replayWindow: 32 }));
  const wires = Array.from({ length: 40 }, () => unwrap(espEncapsulate(tx, sa.out, payload(30), 17)));
  t.true(decap(rx, sa.in, wires[4]!).r.ok);
  const again = decap(rx, sa.in, wires[4]!).r;
  t.deepEqual(again.ok ? null : again.error, 'inReplay');
  t.is(rx.stats.c.inReplay, 1);
  t.is(sa.in.counters.replay, 1);
  t.true(decap(rx, sa.in, wires[39]!).r.ok, 'seq 40');
  const old = decap(rx, sa.in, wires[7]!).r; // seq 8: 40 - 8 = 32 >= window
  t.deepEqual(old.ok ? null : old.error, 'inTooOld');
  t.is(rx.stats.c.inTooOld, 1);
  t.true(decap(rx, sa.in, wires[8]!).r.ok, 'seq 9 is the oldest still inside');
  t.is(rx.stats.c.inSuccess, 3);
});

test('replay window of 4,096 packets: reordering deep inside is accepted once', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const sa = saPair(tx, rx, espSpec(ESP_SUITES[0]!, { replayWindow: 4096 }));
  const wires = Array.from({ length: 4200 }, () => unwrap(espEncapsulate(tx, sa.out, payload(4), 17)));
  t.true(decap(rx, sa.in, wires[4199]!).r.ok);
  t.true(decap(rx, sa.in, wires[4200 - 4096]!).r.ok, 'seq 105: the oldest inside');
  t.false(decap(rx, sa.in, wires[4200 - 4097]!).r.ok, 'seq 104: too old');
  t.false(decap(rx, sa.in, wires[4200 - 4096]!).r.ok, 'seq 105 again: replay');
  t.like(rx.stats.c, { inSuccess: 2, inTooOld: 1, inReplay: 1 });
});

for (const s of [ESP_SUITES[0]!, ESP_SUITES[2]!, ESP_SUITES[5]!, ESP_SUITES[7]!]) {
  test(`${s.name}: ESN across 2^32: the low half wraps on the wire, the high half is authenticated`, (t) => {
    const tx = ipsec();
    const rx = ipsec();
    const start = TWO32 - 3;
    const sa = saPair(tx, rx, espSpec(s, { esn: true, seq: start, replaySeq: start }));
    const seen: number[] = [];
    for (let i = 1; i <= 6; i++) {
      const wire = unwrap(espEncapsulate(tx, sa.out, payload(40, i), 17));
      t.is(getU32(wire, 4), (start + i) >>> 0);
      const r = decap(rx, sa.in, wire).r;
      t.true(r.ok);
      if (r.ok) seen.push(r.value.seq);
    }
    t.deepEqual(seen, [TWO32 - 2, TWO32 - 1, TWO32, TWO32 + 1, TWO32 + 2, TWO32 + 3]);
    t.is(sa.in.replay.top, TWO32 + 3);
    // The same keys without ESN (high half not authenticated) do not verify a packet past 2^32.
    const plain = ipsec();
    const noEsn = unwrap(plain.sad.add(espSpec(s, { spi: 0x4321, replaySeq: 0 })));
    const w = unwrap(espEncapsulate(tx, sa.out, payload(40), 17));
    w.set([0, 0, 0x43, 0x21], 0);
    const r = decap(plain, noEsn, w).r;
    t.deepEqual(r.ok ? null : r.error, 'inAuthFail');
  });
}

test('ESN: packets from before the boundary arriving after it are placed in the previous subspace', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const sa = saPair(tx, rx, espSpec(ESP_SUITES[0]!, { esn: true, seq: TWO32 - 5, replaySeq: TWO32 - 5, replayWindow: 64 }));
  const w = Array.from({ length: 10 }, () => unwrap(espEncapsulate(tx, sa.out, payload(8), 17)));
  // Deliver 2^32 + 5 first, then the ones before the boundary.
  const order = [9, 0, 1, 2, 3, 4, 5, 6, 7, 8];
  const seqs = order.map((i) => {
    const r = decap(rx, sa.in, w[i]!).r;
    return r.ok ? r.value.seq : -1;
  });
  t.deepEqual(seqs, [TWO32 + 5, TWO32 - 4, TWO32 - 3, TWO32 - 2, TWO32 - 1, TWO32, TWO32 + 1, TWO32 + 2, TWO32 + 3, TWO32 + 4]);
});

test('without ESN the sender stops at 2^32 - 1 rather than cycle (RFC 4303 §3.3.3)', (t) => {
  const tx = ipsec();
  const sa = unwrap(tx.sad.add(espSpec(ESP_SUITES[0]!, { seq: 0xffff_fffe })));
  const last = espEncapsulate(tx, sa, payload(8), 17);
  t.true(last.ok);
  if (last.ok) t.is(getU32(last.value, 4), 0xffff_ffff);
  const next = espEncapsulate(tx, sa, payload(8), 17);
  t.deepEqual(next.ok ? null : next.error, 'outSeqOverflow');
  t.is(tx.stats.c.outSeqOverflow, 1);
  t.is(tx.sad.lookupOut('esp', 'transport', A, B), undefined, 'an exhausted SA is not chosen for output');
});

/** A body with a correct trailer: payload, pad 1..n, pad length, next header. */
function body(pt: Uint8Array, pad: number[], nxt: number): Uint8Array {
  return Uint8Array.from([...pt, ...pad, pad.length, nxt]);
}

for (const s of [ESP_SUITES[0]!, ESP_SUITES[3]!, ESP_SUITES[7]!]) {
  test(`${s.name}: padding must be 1, 2, 3, ... (RFC 4303 §2.4); authentic bad padding still uses up its number`, (t) => {
    const tx = ipsec();
    const rx = ipsec();
    const sa = saPair(tx, rx, espSpec(s));
    const blk = sa.out.esp!.align;
    const padN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    // (payload, padding) that fill whole blocks: 9 + 5 + 2 = 16 and 14 + 16 + 2 = 32 for CBC; 5 + 1 + 2 and 2 + 4 + 2 otherwise.
    const [ptLen, padLen, ptLen2, padLen2] = blk === 16 ? [9, 5, 14, 16] : [5, 1, 2, 4];
    const pt = payload(ptLen);
    const good = body(pt, padN(padLen), 17);
    t.is(good.length % blk, 0);
    const ok1 = decap(rx, sa.in, rawEsp(sa.out, 1, good)).r;
    t.true(ok1.ok);
    if (ok1.ok) t.deepEqual(ok1.value.payload, pt);
    // Wrong pad byte values.
    const wrong = good.slice();
    wrong[pt.length] = 7;
    const r2 = decap(rx, sa.in, rawEsp(sa.out, 2, wrong)).r;
    t.deepEqual(r2.ok ? null : r2.error, 'inBadPad');
    t.is(sa.in.replay.check(2), -1, 'seq 2 was authentic: now a replay');
    // Pad length larger than the plaintext.
    const huge = good.slice();
    huge[huge.length - 2] = 200;
    const r3 = decap(rx, sa.in, rawEsp(sa.out, 3, huge)).r;
    t.deepEqual(r3.ok ? null : r3.error, 'inBadPad');
    // More padding than alignment needs is fine when it follows the pattern.
    const extra = body(payload(ptLen2), padN(padLen2), 17);
    const ok4 = decap(rx, sa.in, rawEsp(sa.out, 4, extra)).r;
    t.true(ok4.ok, 'longer padding following the pattern is accepted');
    if (ok4.ok) t.is(ok4.value.payload.length, ptLen2);
    t.is(rx.stats.c.inBadPad, 2);
    t.is(sa.in.counters.badPad, 2);
  });
}

test('next header 59 dummy packets are authenticated, then discarded and counted (RFC 4303 §2.6)', (t) => {
  for (const s of [ESP_SUITES[0]!, ESP_SUITES[6]!]) {
    for (const mode of ['transport', 'tunnel'] as const) {
      const tx = ipsec();
      const rx = ipsec();
      const sa = saPair(tx, rx, espSpec(s, { mode }));
      const wire = unwrap(espEncapsulate(tx, sa.out, payload(37), 59));
      const r = decap(rx, sa.in, wire).r;
      t.deepEqual(r.ok ? null : r.error, 'inDummy');
      t.is(rx.stats.c.inDummy, 1);
      t.is(rx.stats.c.inSuccess, 0);
      t.is(sa.in.replay.top, 1, 'a dummy packet is authentic: its number is used');
    }
  }
});

test('lengths: too short for header, IV and ICV; CBC ciphertext not whole blocks', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const gcm = saPair(tx, rx, espSpec(ESP_SUITES[0]!));
  const cbc = saPair(tx, rx, espSpec(ESP_SUITES[5]!, { spi: 0x5555 }));
  const w = unwrap(espEncapsulate(tx, gcm.out, payload(10), 17));
  for (const n of [0, 7, 8, 16, 8 + 8 + 16 + 1]) {
    const r = espDecapsulate(rx, gcm.in, w, 0, n);
    t.deepEqual(r.ok ? null : r.error, 'inBadLength', `length ${n}`);
  }
  t.deepEqual(espDecapsulate(rx, gcm.in, w, 10, w.length).ok, false, 'past the end of the buffer');
  const c = unwrap(espEncapsulate(tx, cbc.out, payload(10), 17));
  const cut = new Uint8Array(c.length - 4);
  cut.set(c.subarray(0, cut.length));
  const r = espDecapsulate(rx, cbc.in, cut, 0, cut.length);
  t.deepEqual(r.ok ? null : r.error, 'inBadLength');
  t.is(rx.stats.c.inBadLength, 7);
  t.is(espSpi(w, 0, 4), -1);
});

test('SA state: larval and dead SAs neither protect nor accept', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const sa = saPair(tx, rx, espSpec(ESP_SUITES[0]!));
  const wire = unwrap(espEncapsulate(tx, sa.out, payload(10), 17));
  sa.in.state = 'larval';
  t.deepEqual(decap(rx, sa.in, wire).r.ok, false);
  t.is(rx.stats.c.inSaUnusable, 1);
  sa.in.state = 'dying';
  t.true(decap(rx, sa.in, wire).r.ok, 'a dying SA still accepts');
  tx.sad.remove(sa.out);
  t.is(sa.out.state, 'dead');
  const r = espEncapsulate(tx, sa.out, payload(10), 17);
  t.deepEqual(r.ok ? null : r.error, 'outSaUnusable');
});

test('a tunnel-mode SA accepts only an inner IP packet', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const sa = saPair(tx, rx, espSpec(ESP_SUITES[0]!, { mode: 'tunnel' }));
  const r = decap(rx, sa.in, unwrap(espEncapsulate(tx, sa.out, payload(20), 17))).r;
  t.deepEqual(r.ok ? null : r.error, 'inBadMode');
  t.is(rx.stats.c.inBadMode, 1);
});

test('round trip property: any payload, any transform, sequence anywhere', (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...ESP_SUITES), fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 ** 40 }), (s, pt, nxt, seq) => {
      if (nxt === 59) nxt = 58;
      const tx = ipsec();
      const rx = ipsec();
      const sa = saPair(tx, rx, espSpec(s, { esn: true, seq, replaySeq: seq }));
      const r = decap(rx, sa.in, unwrap(espEncapsulate(tx, sa.out, pt, nxt))).r;
      return r.ok && r.value.nxt === nxt && r.value.seq === seq + 1 && Buffer.from(r.value.payload).equals(Buffer.from(pt));
    }),
    { numRuns: 150 },
  );
  t.pass();
});
