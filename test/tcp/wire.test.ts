/**
 * The TCP header and options (RFC 9293 §3.1, §3.2; RFC 7323; RFC 2018):
 * emit writes every byte, parse gives back what emit wrote at any offset,
 * garbage never throws, and malformed data offsets and option lengths are
 * refused with a typed error.
 */
import test from 'ava';
import fc from 'fast-check';
import { fromHex, toHex } from '../../src/core/bytes.ts';
import {
  TCP_HDR_LEN,
  TH_ACK,
  TH_CWR,
  TH_ECE,
  TH_FIN,
  TH_PSH,
  TH_RST,
  TH_SYN,
  TH_URG,
  emitTcp,
  flagsText,
  parseTcp,
  tcpHeaderLen,
  tcpOptionsLen,
  type TcpOptions,
  type TcpRepr,
} from '../../src/tcp/wire.ts';

const u16 = fc.nat({ max: 0xffff });
const u32 = fc.nat({ max: 0xffff_ffff });

const optionsArb: fc.Arbitrary<TcpOptions> = fc
  .record(
    {
      mss: u16,
      wscale: fc.nat({ max: 255 }),
      sackPermitted: fc.constant(true),
      sack: fc.array(fc.tuple(u32, u32), { minLength: 1, maxLength: 4 }),
      ts: fc.record({ val: u32, ecr: u32 }),
    },
    { requiredKeys: [] },
  )
  .filter((o) => tcpOptionsLen(o) <= 40);

const reprArb: fc.Arbitrary<TcpRepr> = fc.record({
  sport: u16,
  dport: u16,
  seq: u32,
  ack: u32,
  flags: fc.nat({ max: 255 }),
  window: u16,
  urgent: u16,
  options: optionsArb,
});

const SYN: TcpRepr = {
  sport: 40000,
  dport: 80,
  seq: 0x01020304,
  ack: 0,
  flags: TH_SYN,
  window: 64800,
  urgent: 0,
  options: { mss: 1440, sackPermitted: true, ts: { val: 0x11223344, ecr: 0 }, wscale: 7 },
};

test('a SYN with the usual options: the bytes on the wire', (t) => {
  const out = new Uint8Array(40).fill(0xff);
  t.is(emitTcp(SYN, out, 0), 40);
  t.is(
    toHex(out),
    '9c400050' + '01020304' + '00000000' + 'a002' + 'fd20' + '0000' + '0000' +
      '020405a0' + '0402080a' + '11223344' + '00000000' + '01030307',
  );
  const r = parseTcp(out, 0, 40);
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.value, { repr: SYN, hdrLen: 40, dataOff: 40 });
});

test('parse(emit(x)) = x for every option combination, at an offset with payload after', (t) => {
  fc.assert(
    fc.property(reprArb, fc.nat({ max: 16 }), fc.uint8Array({ maxLength: 32 }), (repr, off, payload) => {
      const hl = tcpHeaderLen(repr);
      const b = new Uint8Array(off + hl + payload.length + 5).fill(0xa5);
      t.is(emitTcp(repr, b, off), hl);
      b.set(payload, off + hl);
      const r = parseTcp(b, off, hl + payload.length);
      t.true(r.ok);
      if (!r.ok) return;
      t.deepEqual(r.value.repr, repr);
      t.is(r.value.hdrLen, hl);
      t.is(r.value.dataOff, off + hl);
      t.is(hl % 4, 0);
    }),
  );
});

test('emit writes every byte of the header and nothing outside it', (t) => {
  fc.assert(
    fc.property(reprArb, (repr) => {
      const hl = tcpHeaderLen(repr);
      const a = new Uint8Array(hl + 8).fill(0xff);
      const z = new Uint8Array(hl + 8).fill(0x00);
      emitTcp(repr, a, 4);
      emitTcp(repr, z, 4);
      t.deepEqual(a.subarray(4, 4 + hl), z.subarray(4, 4 + hl), 'no byte depends on what was there');
      t.deepEqual(Array.from(a.subarray(0, 4)), [0xff, 0xff, 0xff, 0xff]);
      t.deepEqual(Array.from(a.subarray(4 + hl)), [0xff, 0xff, 0xff, 0xff]);
      t.is(a[4 + 16], 0, 'checksum left 0');
      t.is(a[4 + 17], 0);
    }),
  );
});

test('garbage never throws; an accepted header lies within the bytes given', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: -4, max: 90 }), fc.integer({ min: -4, max: 90 }), (b, off, len) => {
      const r = parseTcp(b, off, len);
      if (r.ok) {
        t.true(r.value.hdrLen >= TCP_HDR_LEN && r.value.hdrLen <= len && off + len <= b.length);
        t.is(r.value.dataOff, off + r.value.hdrLen);
      }
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

/** A 20-byte header followed by `opts`, data offset covering them (padded with EOL to a multiple of 4). */
function withOptions(opts: number[], extra = 0): Uint8Array {
  const padded = [...opts];
  while (padded.length % 4) padded.push(0);
  const b = new Uint8Array(20 + padded.length + extra);
  b[12] = ((20 + padded.length) / 4) << 4;
  b.set(padded, 20);
  return b;
}

test('short: fewer than 20 bytes, or the length runs past the buffer', (t) => {
  t.deepEqual(parseTcp(new Uint8Array(19), 0, 19), { ok: false, error: 'short' });
  const b = withOptions([]);
  t.deepEqual(parseTcp(b, 1, 20), { ok: false, error: 'short' });
  t.deepEqual(parseTcp(b, -1, 20), { ok: false, error: 'short' });
});

test('bad data offset: below 5 words, or beyond the segment', (t) => {
  const b = withOptions([]);
  for (const doff of [0, 1, 4]) {
    b[12] = doff << 4;
    t.deepEqual(parseTcp(b, 0, 20), { ok: false, error: 'badDataOffset' }, `doff ${doff}`);
  }
  b[12] = 6 << 4;
  t.deepEqual(parseTcp(b, 0, 20), { ok: false, error: 'badDataOffset' });
  const big = new Uint8Array(64);
  big[12] = 15 << 4;
  t.true(parseTcp(big, 0, 60).ok, '60 bytes of header (all EOL) is fine');
  t.deepEqual(parseTcp(big, 0, 59), { ok: false, error: 'badDataOffset' });
});

test('the reserved bits are ignored on receipt and sent as zero', (t) => {
  const b = withOptions([]);
  b[12] |= 0x0f;
  const r = parseTcp(b, 0, 20);
  t.true(r.ok);
  if (r.ok) {
    const out = new Uint8Array(20).fill(0xff);
    emitTcp(r.value.repr, out, 0);
    t.is(out[12], 0x50);
  }
});

test('malformed options are refused', (t) => {
  const bad: [string, number[]][] = [
    ['length 0', [30, 0]],
    ['length 1', [30, 1]],
    ['length byte missing at the end of the header', [1, 1, 1, 30]],
    ['length past the header', [30, 8, 0, 0]],
    ['MSS of length 3', [2, 3, 5]],
    ['MSS of length 6', [2, 6, 5, 0xb4, 0, 0]],
    ['Window Scale of length 4', [3, 4, 7, 0]],
    ['SACK-Permitted of length 3', [4, 3, 0]],
    ['SACK without blocks', [5, 2]],
    ['SACK of length 14 (not 2 + 8n)', [5, 14, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]],
    ['Timestamps of length 9', [8, 9, 0, 0, 0, 1, 0, 0, 0]],
  ];
  for (const [what, opts] of bad) {
    const b = withOptions(opts);
    t.deepEqual(parseTcp(b, 0, b.length), { ok: false, error: 'badOption' }, what);
  }
});

test('the option walk is bounded by the header: bytes after it are payload', (t) => {
  // An MSS option whose data would lie in the payload.
  const b = withOptions([1, 1, 1, 2], 4);
  b.set([4, 0xb4, 0, 0], 24);
  t.deepEqual(parseTcp(b, 0, b.length), { ok: false, error: 'badOption' });
});

test('unknown options are skipped; EOL ends the list', (t) => {
  const b = withOptions([254, 6, 0xf9, 0x89, 1, 2, 30, 2, 2, 4, 0x05, 0xb4, 0, 8, 10, 1]);
  const r = parseTcp(b, 0, b.length);
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.value.repr.options, { mss: 1460 });
  t.is(r.ok && r.value.hdrLen, 36);
});

test('a later copy of an option wins; window scale keeps its wire value', (t) => {
  const b = withOptions([2, 4, 0x05, 0xb4, 2, 4, 0x04, 0xc4, 1, 3, 3, 20]);
  const r = parseTcp(b, 0, b.length);
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.value.repr.options, { mss: 1220, wscale: 20 });
});

test('SACK blocks with and without timestamps', (t) => {
  const repr: TcpRepr = { ...SYN, flags: TH_ACK, options: { ts: { val: 1, ecr: 2 }, sack: [[1, 2], [3, 4], [5, 6]] } };
  t.is(tcpHeaderLen(repr), 60);
  const out = new Uint8Array(60);
  emitTcp(repr, out, 0);
  t.is(toHex(out.subarray(20, 36)), '0101080a' + '00000001' + '00000002' + '0101051a');
  const four: TcpRepr = { ...repr, options: { sack: [[1, 2], [3, 4], [5, 6], [7, 8]] } };
  t.is(tcpHeaderLen(four), 56);
  t.throws(() => tcpHeaderLen({ ...repr, options: { ts: { val: 1, ecr: 2 }, sack: [[1, 2], [3, 4], [5, 6], [7, 8]] } }), { instanceOf: RangeError });
  t.is(tcpHeaderLen({ ...repr, options: { sack: [] } }), 20, 'no blocks, no option');
});

test('SACK-Permitted alone and Timestamps alone are NOP-aligned', (t) => {
  const a = new Uint8Array(24);
  emitTcp({ ...SYN, options: { sackPermitted: true } }, a, 0);
  t.is(toHex(a.subarray(20)), '01010402');
  const b = new Uint8Array(32);
  emitTcp({ ...SYN, options: { ts: { val: 5, ecr: 6 } } }, b, 0);
  t.is(toHex(b.subarray(20)), '0101080a0000000500000006');
});

test('emit refuses a buffer too small (a caller bug)', (t) => {
  t.throws(() => emitTcp(SYN, new Uint8Array(39), 0), { instanceOf: RangeError });
});

test('a captured header from the kernel parses', (t) => {
  // SYN-ACK: 80 → 40000, seq 0xa0b0c0d0, ack 0x01020305, mss 1440, sackOK, TS, wscale 7.
  const b = fromHex('0050 9c40 a0b0c0d0 01020305 a012 fd20 1234 0000 020405a0 0402080a 55667788 11223344 01030307');
  const r = parseTcp(b, 0, b.length);
  t.true(r.ok);
  if (!r.ok) return;
  t.deepEqual(r.value.repr, {
    sport: 80,
    dport: 40000,
    seq: 0xa0b0c0d0,
    ack: 0x01020305,
    flags: TH_SYN | TH_ACK,
    window: 64800,
    urgent: 0,
    options: { mss: 1440, sackPermitted: true, ts: { val: 0x55667788, ecr: 0x11223344 }, wscale: 7 },
  });
});

test('flagsText spells flags the tcpdump way', (t) => {
  t.is(flagsText(TH_SYN | TH_ACK), 'SA');
  t.is(flagsText(TH_FIN | TH_PSH | TH_ACK), 'FPA');
  t.is(flagsText(TH_RST), 'R');
  t.is(flagsText(0), 'none');
  t.is(flagsText(TH_FIN | TH_SYN | TH_RST | TH_PSH | TH_ACK | TH_URG | TH_ECE | TH_CWR), 'FSRPAUEW');
});
