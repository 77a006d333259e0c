/**
 * The extension header wire module (src/ip6/exthdr.ts): round trips of every
 * header (also at an offset into a larger buffer), emit writes every byte,
 * fixed vectors from the RFC layouts, alignment of known options, and
 * parsers that never throw on arbitrary bytes.
 */
import test from 'ava';
import fc from 'fast-check';
import { buildOptionsHeader, routerAlertOption } from '../../src/ip6/dest6.ts';
import {
  EXT_MAX_LEN,
  type FragmentRepr,
  OPT_JUMBO,
  OPT_ROUTER_ALERT,
  type OptionsRepr,
  type RoutingRepr,
  emitFragment,
  emitOptions,
  emitRouting,
  fragmentBufferLen,
  optionAlignment,
  optionsBufferLen,
  parseFragment,
  parseOptions,
  parseRouting,
  routingBufferLen,
} from '../../src/ip6/exthdr.ts';
import { holds } from '../helpers/link.ts';

const byte = fc.integer({ min: 0, max: 255 });
const optType = fc.oneof(fc.integer({ min: 2, max: 255 }), fc.constantFrom(OPT_JUMBO, OPT_ROUTER_ALERT));
const optionsRepr: fc.Arbitrary<OptionsRepr> = fc.record({
  nextHeader: byte,
  // At most 7 options of at most 255 data bytes: always within 2,048 bytes.
  options: fc.array(fc.record({ type: optType, data: fc.uint8Array({ maxLength: 255 }) }), { maxLength: 7 }),
});
const routingRepr: fc.Arbitrary<RoutingRepr> = fc.record({
  nextHeader: byte,
  type: byte,
  segmentsLeft: byte,
  data: fc.integer({ min: 0, max: 255 }).chain((n) => fc.uint8Array({ minLength: n * 8 + 4, maxLength: n * 8 + 4 })),
});
const fragmentRepr: fc.Arbitrary<FragmentRepr> = fc.record({
  nextHeader: byte,
  offset: fc.integer({ min: 0, max: 8191 }).map((n) => n * 8),
  more: fc.boolean(),
  id: fc.integer({ min: 0, max: 0xffffffff }),
});

/** Reprs with their byte arrays as plain arrays, so that views and copies compare equal. */
const plainOpts = (r: OptionsRepr) => ({ nextHeader: r.nextHeader, options: r.options.map((o) => ({ type: o.type, data: Array.from(o.data) })) });
const plainRt = (r: RoutingRepr) => ({ ...r, data: Array.from(r.data) });

interface Codec<R> {
  name: string;
  arb: fc.Arbitrary<R>;
  len: (r: R) => number;
  emit: (r: R, out: Uint8Array, off: number) => number;
  parse: (b: Uint8Array, off: number) => ReturnType<typeof parseOptions> | ReturnType<typeof parseRouting> | ReturnType<typeof parseFragment>;
  plain: (r: R) => unknown;
}

const codecs: Codec<any>[] = [
  { name: 'options', arb: optionsRepr, len: optionsBufferLen, emit: emitOptions, parse: parseOptions, plain: plainOpts } satisfies Codec<OptionsRepr>,
  { name: 'routing', arb: routingRepr, len: routingBufferLen, emit: emitRouting, parse: parseRouting, plain: plainRt } satisfies Codec<RoutingRepr>,
  { name: 'fragment', arb: fragmentRepr, len: fragmentBufferLen, emit: emitFragment, parse: parseFragment, plain: (r) => r } satisfies Codec<FragmentRepr>,
];

for (const c of codecs) {
  test(`${c.name}: parse(emit(x)) = x, at an offset into a larger buffer, and nothing outside the header is touched`, (t) => {
    holds(
      t,
      fc.property(c.arb, fc.nat(64), fc.nat(16), (r, off, tail) => {
        const len = c.len(r);
        const out = new Uint8Array(off + len + tail).fill(0xff);
        if (c.emit(r, out, off) !== len) return false;
        const p = c.parse(out, off);
        if (!p.ok || p.value.len !== len) return false;
        if (JSON.stringify(c.plain(p.value.repr)) !== JSON.stringify(c.plain(r))) return false;
        return out.subarray(0, off).every((x) => x === 0xff) && out.subarray(off + len).every((x) => x === 0xff);
      }),
    );
  });

  test(`${c.name}: emit writes every byte (0xFF-filled and zero-filled buffers come out the same)`, (t) => {
    holds(
      t,
      fc.property(c.arb, (r) => {
        const len = c.len(r);
        const a = new Uint8Array(len).fill(0xff);
        const b = new Uint8Array(len);
        c.emit(r, a, 0);
        c.emit(r, b, 0);
        return a.every((x, i) => x === b[i]) && len % 8 === 0 && len >= 8 && len <= EXT_MAX_LEN;
      }),
    );
  });

  test(`${c.name}: random bytes at any offset never make the parser throw`, (t) => {
    holds(
      t,
      fc.property(fc.uint8Array({ maxLength: 2100 }), fc.integer({ min: -4, max: 2200 }), (b, off) => {
        const r = c.parse(b, off);
        if (r.ok) return r.value.len >= 8 && off + r.value.len <= b.length;
        return r.error === 'extTooShort' || r.error === 'badOptLen';
      }),
      { numRuns: 500 },
    );
  });
}

test('options: whatever parses re-emits to something that parses the same (padding normalised)', (t) => {
  holds(
    t,
    fc.property(fc.uint8Array({ minLength: 8, maxLength: 300 }), (b) => {
      b[1] = Math.floor((b.length - 8) / 8);
      const r = parseOptions(b, 0);
      if (!r.ok) return true;
      let len: number;
      try {
        len = optionsBufferLen(r.value.repr);
      } catch {
        return true; // alignment padding pushed it past 2,048 bytes
      }
      const out = new Uint8Array(len);
      emitOptions(r.value.repr, out, 0);
      const again = parseOptions(out, 0);
      return again.ok && JSON.stringify(plainOpts(again.value.repr)) === JSON.stringify(plainOpts(r.value.repr));
    }),
  );
});

test('options: Jumbo Payload lands at 4n+2 and Router Alert at 2n (RFC 2675 §2, RFC 2711 §2.1), whatever precedes them', (t) => {
  holds(
    t,
    fc.property(optionsRepr, fc.nat(32), (r, off) => {
      const out = new Uint8Array(off + optionsBufferLen(r));
      emitOptions(r, out, off);
      const p = parseOptions(out, off);
      if (!p.ok) return false;
      return p.value.repr.options.every((o) => {
        const [x, y] = optionAlignment(o.type);
        const at = o.data.byteOffset - out.byteOffset - off - 2;
        return at % x === y;
      });
    }),
  );
});

test('options: fixed vectors', (t) => {
  const emit = (r: OptionsRepr) => {
    const out = new Uint8Array(optionsBufferLen(r)).fill(0xff);
    emitOptions(r, out, 0);
    return Array.from(out);
  };
  // Nothing but padding: PadN of 4 bytes.
  t.deepEqual(emit({ nextHeader: 59, options: [] }), [59, 0, 1, 4, 0, 0, 0, 0]);
  // Router Alert (MLD) at offset 2, then PadN of 2 bytes: what MLD sends.
  t.deepEqual(emit({ nextHeader: 58, options: [{ type: 5, data: Uint8Array.of(0, 0) }] }), [58, 0, 5, 2, 0, 0, 1, 0]);
  // Jumbo Payload right at offset 2 (4n+2), no padding needed.
  t.deepEqual(emit({ nextHeader: 58, options: [{ type: 0xc2, data: Uint8Array.of(0, 1, 0, 0) }] }), [58, 0, 0xc2, 4, 0, 1, 0, 0]);
  // A 3-byte option first: Pad1 brings the Jumbo option to offset 6, PadN fills to 16.
  t.deepEqual(emit({ nextHeader: 6, options: [{ type: 0x1e, data: Uint8Array.of(7) }, { type: 0xc2, data: Uint8Array.of(0, 1, 0, 0) }] }), [6, 1, 0x1e, 1, 7, 0, 0xc2, 4, 0, 1, 0, 0, 1, 2, 0, 0]);
  // An option that needs one byte of padding at the end: Pad1.
  t.deepEqual(emit({ nextHeader: 17, options: [{ type: 0x3e, data: Uint8Array.of(1, 2, 3) }] }), [17, 0, 0x3e, 3, 1, 2, 3, 0]);
  // The same bytes as dest6's builder of the MLD header.
  t.deepEqual(emit({ nextHeader: 58, options: [{ type: 5, data: Uint8Array.of(0, 0) }] }), Array.from(buildOptionsHeader(58, routerAlertOption())));
});

test('options: parse drops Pad1 and PadN, keeps unknown options as views, and checks lengths', (t) => {
  const b = Uint8Array.of(60, 1, 0, 1, 1, 0, 0x9e, 2, 0xaa, 0xbb, 0, 0, 1, 1, 0, 0);
  const r = parseOptions(b, 0);
  t.true(r.ok);
  if (!r.ok) return;
  t.is(r.value.len, 16);
  t.is(r.value.repr.nextHeader, 60);
  t.deepEqual(plainOpts(r.value.repr).options, [{ type: 0x9e, data: [0xaa, 0xbb] }]);
  t.is(r.value.repr.options[0]!.data.buffer, b.buffer, 'a view, not a copy');
  // Hdr Ext Len 1 says 16 bytes; 8 present.
  t.deepEqual(parseOptions(b.subarray(0, 8), 0), { ok: false, error: 'extTooShort' });
  t.deepEqual(parseOptions(Uint8Array.of(59), 0), { ok: false, error: 'extTooShort' });
  // An option whose data runs past the header.
  t.deepEqual(parseOptions(Uint8Array.of(59, 0, 0x1e, 5, 0, 0, 0, 0), 0), { ok: false, error: 'badOptLen' });
  // An option type in the last byte: no room for its length.
  t.deepEqual(parseOptions(Uint8Array.of(59, 0, 0, 0, 0, 0, 0, 0x1e), 0), { ok: false, error: 'badOptLen' });
  // Pad1 to the end is fine.
  t.like(parseOptions(new Uint8Array(8), 0), { ok: true, value: { len: 8, repr: { nextHeader: 0, options: [] } } });
});

test('options: emit refuses what no header can carry', (t) => {
  const out = new Uint8Array(4096);
  t.throws(() => emitOptions({ nextHeader: 59, options: [{ type: 0, data: new Uint8Array(0) }] }, out), { instanceOf: RangeError });
  t.throws(() => emitOptions({ nextHeader: 59, options: [{ type: 1, data: new Uint8Array(2) }] }, out), { instanceOf: RangeError });
  t.throws(() => emitOptions({ nextHeader: 59, options: [{ type: 0x1e, data: new Uint8Array(256) }] }, out), { instanceOf: RangeError });
  t.throws(() => emitOptions({ nextHeader: 256, options: [] }, out), { instanceOf: RangeError });
  t.throws(() => emitOptions({ nextHeader: 59, options: Array.from({ length: 9 }, () => ({ type: 0x1e, data: new Uint8Array(255) })) }, out), { instanceOf: RangeError });
  t.throws(() => emitOptions({ nextHeader: 59, options: [] }, new Uint8Array(7)), { instanceOf: RangeError });
  t.throws(() => emitOptions({ nextHeader: 59, options: [] }, new Uint8Array(16), 9), { instanceOf: RangeError });
});

test('routing: fixed vector (type 0, one address) and errors', (t) => {
  const addr = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  const data = new Uint8Array(20);
  data.set(addr, 4);
  const r: RoutingRepr = { nextHeader: 58, type: 0, segmentsLeft: 1, data };
  t.is(routingBufferLen(r), 24);
  const out = new Uint8Array(24).fill(0xff);
  emitRouting(r, out, 0);
  t.deepEqual(Array.from(out.subarray(0, 8)), [58, 2, 0, 1, 0, 0, 0, 0]);
  t.deepEqual(Array.from(out.subarray(8)), Array.from(addr));
  t.deepEqual(parseRouting(out.subarray(0, 23), 0), { ok: false, error: 'extTooShort' });
  t.deepEqual(parseRouting(out, 20), { ok: false, error: 'extTooShort' });
  t.throws(() => routingBufferLen({ ...r, data: new Uint8Array(8) }), { instanceOf: RangeError });
  t.throws(() => emitRouting({ ...r, segmentsLeft: 256 }, new Uint8Array(24)), { instanceOf: RangeError });
  t.throws(() => emitRouting({ ...r, data: new Uint8Array(EXT_MAX_LEN) }, new Uint8Array(4096)), { instanceOf: RangeError });
});

test('fragment: fixed vector; reserved bits are ignored on input and written as zero', (t) => {
  const out = new Uint8Array(8).fill(0xff);
  emitFragment({ nextHeader: 58, offset: 1448, more: true, id: 0x01020304 }, out, 0);
  t.deepEqual(Array.from(out), [58, 0, 0x05, 0xa9, 1, 2, 3, 4]);
  const dirty = Uint8Array.of(17, 0xff, 0x05, 0xae, 0xde, 0xad, 0xbe, 0xef);
  t.deepEqual(parseFragment(dirty, 0), { ok: true, value: { repr: { nextHeader: 17, offset: 1448, more: false, id: 0xdeadbeef }, len: 8 } });
  t.deepEqual(parseFragment(dirty, 1), { ok: false, error: 'extTooShort' });
  t.throws(() => emitFragment({ nextHeader: 58, offset: 12, more: false, id: 1 }, out), { instanceOf: RangeError });
  t.throws(() => emitFragment({ nextHeader: 58, offset: 65536, more: false, id: 1 }, out), { instanceOf: RangeError });
  t.throws(() => emitFragment({ nextHeader: 58, offset: 0, more: false, id: 2 ** 32 }, out), { instanceOf: RangeError });
  t.throws(() => emitFragment({ nextHeader: 58, offset: 0, more: false, id: 1 }, out, 1), { instanceOf: RangeError });
});
