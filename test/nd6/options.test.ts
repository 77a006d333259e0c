/**
 * ND options (RFC 4861 §4.6): parse what emit wrote, refuse zero lengths,
 * truncation and overlong chains with a typed error, never throw.
 */
import test from 'ava';
import fc from 'fast-check';
import { LLA_OPT_LEN, MAX_ND_OPTIONS, NdOpt, emitLlaOption, emitNonceOption, parseNdOptions } from '../../src/nd6/options.ts';

const MAC = Uint8Array.of(0x02, 0x11, 0x22, 0x33, 0x44, 0x55);
const NONCE = Uint8Array.of(9, 8, 7, 6, 5, 4);

test('emit writes every byte of an LLA and a nonce option', (t) => {
  const out = new Uint8Array(20).fill(0xff);
  emitLlaOption(NdOpt.SOURCE_LL, MAC, out, 2);
  t.deepEqual(Array.from(out.subarray(0, 12)), [0xff, 0xff, 1, 1, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0xff, 0xff]);
  const n = new Uint8Array(8).fill(0xff);
  emitNonceOption(NONCE, n, 0);
  t.deepEqual(Array.from(n), [14, 1, 9, 8, 7, 6, 5, 4]);
  t.is(LLA_OPT_LEN, 8);
});

test('parse finds what emit wrote, at an offset inside a larger message', (t) => {
  const b = new Uint8Array(4 + 8 + 8 + 8 + 16 + 3).fill(0xee);
  emitLlaOption(NdOpt.SOURCE_LL, MAC, b, 4);
  emitLlaOption(NdOpt.TARGET_LL, Uint8Array.of(2, 0, 0, 0, 0, 9), b, 12);
  emitNonceOption(NONCE, b, 20);
  // An option this parser does not interpret (Prefix Information is 4 units), skipped.
  b[28] = NdOpt.MTU;
  b[29] = 2;
  const end = 28 + 16;
  const r = parseNdOptions(b, 4, end);
  t.true(r.ok);
  if (!r.ok) return;
  t.deepEqual(Array.from(r.value.srcLl!), Array.from(MAC));
  t.deepEqual(Array.from(r.value.tgtLl!), [2, 0, 0, 0, 0, 9]);
  t.deepEqual(Array.from(r.value.nonce!), Array.from(NONCE));
  t.is(r.value.other, 1);
  t.is(r.value.srcLl!.buffer, b.buffer, 'views, not copies');
});

test('no options at all is fine', (t) => {
  const r = parseNdOptions(new Uint8Array(24), 24, 24);
  t.deepEqual(r, { ok: true, value: { srcLl: null, tgtLl: null, nonce: null, other: 0 } });
});

test('a zero length invalidates the whole message (§4.6)', (t) => {
  const b = new Uint8Array(16);
  emitLlaOption(NdOpt.SOURCE_LL, MAC, b, 0);
  b[8] = NdOpt.TARGET_LL;
  b[9] = 0;
  t.deepEqual(parseNdOptions(b, 0, 16), { ok: false, error: 'optZeroLength' });
});

test('truncated: a header without room, or a length beyond the end', (t) => {
  t.deepEqual(parseNdOptions(Uint8Array.of(1), 0, 1), { ok: false, error: 'optTruncated' });
  const b = new Uint8Array(8);
  b[0] = NdOpt.SOURCE_LL;
  b[1] = 2; // 16 bytes claimed, 8 present
  t.deepEqual(parseNdOptions(b, 0, 8), { ok: false, error: 'optTruncated' });
  // The end given by the caller rules, not the buffer's length.
  const c = new Uint8Array(32);
  emitLlaOption(NdOpt.SOURCE_LL, MAC, c, 0);
  c[8] = 1;
  c[9] = 1;
  t.deepEqual(parseNdOptions(c, 0, 12), { ok: false, error: 'optTruncated' });
  t.true(parseNdOptions(c, 0, 16).ok);
});

test('more than MAX_ND_OPTIONS options: optTooMany', (t) => {
  const n = MAX_ND_OPTIONS;
  const ok = new Uint8Array(n * 8);
  for (let i = 0; i < n; i++) ok[i * 8 + 1] = 1;
  t.true(parseNdOptions(ok, 0, ok.length).ok, `${n} options`);
  const over = new Uint8Array((n + 1) * 8);
  for (let i = 0; i <= n; i++) over[i * 8 + 1] = 1;
  t.deepEqual(parseNdOptions(over, 0, over.length), { ok: false, error: 'optTooMany' });
});

test('an LLA option longer than a MAC yields the first six bytes', (t) => {
  const b = new Uint8Array(16);
  b[0] = NdOpt.SOURCE_LL;
  b[1] = 2;
  b.set(MAC, 2);
  const r = parseNdOptions(b, 0, 16);
  t.true(r.ok && r.value.srcLl!.length === 6);
});

test('random bytes never throw; a success never reads past the end (property)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat({ max: 40 }), fc.nat({ max: 40 }), (bytes, a, b) => {
      const off = Math.min(a, bytes.length);
      const end = Math.max(off, bytes.length - b);
      const r = parseNdOptions(bytes, off, end);
      if (!r.ok) return ['optZeroLength', 'optTruncated', 'optTooMany'].includes(r.error);
      for (const v of [r.value.srcLl, r.value.tgtLl, r.value.nonce]) {
        if (v && v.byteOffset + v.length > bytes.byteOffset + end) return false;
      }
      return true;
    }),
    { numRuns: 3000 },
  );
  // Chains of well-formed options with random lengths: the parser agrees with a simple walk.
  const opt = fc.record({ type: fc.integer({ min: 0, max: 255 }), units: fc.integer({ min: 1, max: 4 }) });
  fc.assert(
    fc.property(fc.array(opt, { maxLength: 80 }), (opts) => {
      const len = opts.reduce((n, o) => n + o.units * 8, 0);
      const b = new Uint8Array(len);
      let off = 0;
      for (const o of opts) {
        b[off] = o.type;
        b[off + 1] = o.units;
        off += o.units * 8;
      }
      const r = parseNdOptions(b, 0, len);
      if (opts.length > MAX_ND_OPTIONS) return !r.ok && r.error === 'optTooMany';
      if (!r.ok) return false;
      const known = new Set<number>([NdOpt.SOURCE_LL, NdOpt.TARGET_LL, NdOpt.NONCE]);
      return r.value.other === opts.filter((o) => !known.has(o.type)).length;
    }),
    { numRuns: 1000 },
  );
  t.pass();
});
