/**
 * The SAD: validation on add, the inbound lookup by (SPI, destination,
 * protocol), the outbound choice (usable, mature before dying, newest),
 * reqid binding, deletion and the bound on entries.
 */
import test from 'ava';
import { VirtualClock } from '../../src/core/clock.ts';
import { unwrap } from '../../src/core/result.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { Sad, type SaSpec } from '../../src/ipsec/sad.ts';
import { A, B, ESP_SUITES, espSpec, key } from './helpers.ts';

const C = in6('2001:db8::c');
const gcm = ESP_SUITES[0]!;

function sad(maxEntries?: number): Sad {
  return new Sad({ clock: new VirtualClock(), maxEntries });
}

test('add validates SPI, endpoints, keys, window, ESN and sequence numbers', (t) => {
  const s = sad();
  const bad: [Partial<SaSpec>, RegExp][] = [
    [{ spi: 0 }, /reserved/],
    [{ spi: 255 }, /reserved/],
    [{ spi: 2 ** 32 }, /bad SPI/],
    [{ dst: new Uint8Array(16) }, /::/],
    [{ src: new Uint8Array(4) }, /16 bytes/],
    [{ mode: 'tunnel', src: new Uint8Array(16) }, /both endpoints/],
    [{ encKey: key(16) }, /salt/],
    [{ auth: 'hmac-sha1-96', authKey: key(20) }, /combined mode/],
    [{ replayWindow: 70000 }, /replay window/],
    [{ esn: true, replayWindow: 0 }, /ESN needs/],
    [{ seq: 2 ** 32 }, /seq/],
    [{ replaySeq: -1 }, /replaySeq/],
  ];
  for (const [o, re] of bad) {
    const r = s.add(espSpec(gcm, o));
    t.false(r.ok, JSON.stringify(o));
    if (!r.ok) t.regex(r.error, re);
  }
  t.false(s.add({ spi: 0x300, proto: 'ah', src: A, dst: B, enc: 'aes-cbc', encKey: key(16), auth: 'hmac-sha1-96', authKey: key(20) }).ok, 'AH does not encrypt');
  t.true(s.add(espSpec(gcm, { esn: true, seq: 2 ** 40 })).ok, 'with ESN the counters are 64-bit');
  t.is(s.size, 1);
  const dup = s.add(espSpec(gcm, { esn: true }));
  t.false(dup.ok);
  if (!dup.ok) t.regex(dup.error, /exists/);
  t.true(s.add(espSpec(gcm, { dst: C })).ok, 'same SPI to another destination');
  t.true(s.add({ spi: 0x1234, proto: 'ah', src: A, dst: B, auth: 'hmac-sha1-96', authKey: key(20) }).ok, 'same SPI and destination, other protocol');
});

test('inbound lookup by (SPI, destination, protocol), any state', (t) => {
  const s = sad();
  const e1 = unwrap(s.add(espSpec(gcm, { spi: 0x1000 })));
  const e2 = unwrap(s.add(espSpec(gcm, { spi: 0x1000, dst: C })));
  const a1 = unwrap(s.add({ spi: 0x1000, proto: 'ah', src: A, dst: B, auth: 'hmac-sha256-128', authKey: key(32) }));
  t.is(s.lookupIn(0x1000, B, 'esp'), e1);
  t.is(s.lookupIn(0x1000, C, 'esp'), e2);
  t.is(s.lookupIn(0x1000, B, 'ah'), a1);
  t.is(s.lookupIn(0x1001, B, 'esp'), undefined);
  const pkt = new Uint8Array(40);
  pkt.set(C, 24);
  t.is(s.lookupIn(0x1000, pkt, 'esp', 0, 24), e2, 'destination read in place from the packet');
  e1.state = 'larval';
  t.is(s.lookupIn(0x1000, B, 'esp'), e1, 'the caller checks the state (and counts it)');
});

test('outbound choice: the newest mature SA takes over at once; dying only as a fallback', (t) => {
  const s = sad();
  const old = unwrap(s.add(espSpec(gcm, { spi: 0x1000 })));
  t.is(s.lookupOut('esp', 'transport', A, B), old);
  const repl = unwrap(s.add(espSpec(gcm, { spi: 0x1001 })));
  t.is(s.lookupOut('esp', 'transport', A, B), repl, 'the replacement is used as soon as it is installed');
  t.is(s.lookupIn(0x1000, B, 'esp'), old, 'the old SA still accepts packets in flight');
  repl.state = 'dying';
  t.is(s.lookupOut('esp', 'transport', A, B), old, 'mature before dying');
  old.state = 'dying';
  t.is(s.lookupOut('esp', 'transport', A, B), repl, 'among dying SAs, the newest');
  repl.state = 'larval';
  old.state = 'dead';
  t.is(s.lookupOut('esp', 'transport', A, B), undefined, 'larval and dead SAs are never used');
  t.is(s.lookupOut('esp', 'tunnel', A, B), undefined, 'mode must match');
  t.is(s.lookupOut('ah', 'transport', A, B), undefined, 'protocol must match');
  t.is(s.lookupOut('esp', 'transport', C, B), undefined, 'source must match');
});

test('outbound: an SA with source :: serves any source; reqid binds unique policies', (t) => {
  const s = sad();
  const any = unwrap(s.add(espSpec(gcm, { spi: 0x1000, src: new Uint8Array(16) })));
  t.is(s.lookupOut('esp', 'transport', C, B), any);
  const bound = unwrap(s.add(espSpec(gcm, { spi: 0x1001, reqid: 7 })));
  const newer = unwrap(s.add(espSpec(gcm, { spi: 0x1002 })));
  t.is(s.lookupOut('esp', 'transport', A, B), newer);
  t.is(s.lookupOut('esp', 'transport', A, B, 7), bound);
  t.is(s.lookupOut('esp', 'transport', A, B, 8), undefined);
});

test('delete, remove, flush and list; the table is bounded', (t) => {
  const s = sad(3);
  const e = unwrap(s.add(espSpec(gcm, { spi: 0x1000 })));
  unwrap(s.add(espSpec(gcm, { spi: 0x1001 })));
  const ah = unwrap(s.add({ spi: 0x1002, proto: 'ah', src: A, dst: B, auth: 'hmac-sha1-96', authKey: key(20) }));
  const full = s.add(espSpec(gcm, { spi: 0x1003 }));
  t.false(full.ok);
  if (!full.ok) t.regex(full.error, /full/);
  t.deepEqual(
    s.list().map((x) => x.spi),
    [0x1000, 0x1001, 0x1002],
  );
  t.true(s.delete(0x1000, B, 'esp'));
  t.is(e.state, 'dead');
  t.false(s.delete(0x1000, B, 'esp'));
  t.is(s.flush('esp'), 1);
  t.is(s.size, 1);
  t.is(s.list()[0], ah);
  t.is(s.flush(), 1);
  t.is(s.size, 0);
});

test('SA fields: lifetimes as given, counters start at zero, use time set on first use', (t) => {
  const clock = new VirtualClock(5000);
  const s = new Sad({ clock });
  const sa = unwrap(s.add(espSpec(gcm, { soft: { bytes: 1000, addtime: 30 }, hard: { packets: 10 } })));
  t.deepEqual(sa.soft, { bytes: 1000, packets: 0, addtime: 30, usetime: 0 });
  t.deepEqual(sa.hard, { bytes: 0, packets: 10, addtime: 0, usetime: 0 });
  t.is(sa.addedAt, 5000);
  t.is(sa.usedAt, -1);
  clock.advance(250);
  sa.account(100, clock.now());
  sa.account(50, clock.now() + 1);
  t.is(sa.usedAt, 5250);
  t.is(sa.bytes, 150);
  t.is(sa.packets, 2);
  t.is(sa.mode, 'transport');
  t.is(sa.state, 'mature');
  t.regex(String(sa), /esp spi 0x00001234 2001:db8::a -> 2001:db8::b transport mature/);
});
