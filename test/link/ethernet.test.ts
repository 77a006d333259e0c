import test from 'ava';
import fc from 'fast-check';
import { Pkt, PktFlag } from '../../src/core/pkt.ts';
import { EtherType } from '../../src/link/ether.ts';
import { ETHER_MTU_RANGE, EtherIf } from '../../src/link/ethernet.ts';
import { IFF, type IfCounter } from '../../src/link/ifnet.ts';
import { IfnetTable } from '../../src/link/iftable.ts';
import { BCAST, CaptureDriver, frame, holds, ip6Payload, mac, mcastMac, pktOf, recordIp6, rig } from '../helpers/link.ts';

const RX_DROPS: IfCounter[] = ['rxDown', 'rxShort', 'rxOversize', 'rxNotForUs', 'rxOwnSource', 'rxVlan', 'rxLlc', 'rxNoProto'];

/** An EtherIf on a CaptureDriver, attached as index 1, up, recording IPv6. */
function solo(opts: { mtu?: number; maxFrameLen?: number } = {}) {
  const driver = new CaptureDriver(opts.maxFrameLen ?? 1514);
  const ifp = new EtherIf({ name: 'tap0', driver, mac: mac(1), ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}) });
  new IfnetTable().attach(ifp);
  ifp.setUp(true);
  const got = recordIp6(ifp);
  return { driver, ifp, got };
}

test('unicast: delivered to the addressee only, after the clock runs, with metadata', (t) => {
  const { clock, ifs, got } = rig(3);
  const [a, b, c] = ifs as [EtherIf, EtherIf, EtherIf];
  const payload = ip6Payload(60);
  t.true(a.output(pktOf(payload), EtherType.IPV6, b.lladdr));
  t.is(got[1]!.length, 0, 'nothing is delivered from inside output()');
  clock.advance(0);
  t.is(got[1]!.length, 1);
  t.is(got[0]!.length, 0, 'the sender does not hear itself');
  t.is(got[2]!.length, 0);
  const d = got[1]![0]!;
  t.deepEqual([...d.data], [...payload], 'data starts at the network header');
  t.is(d.ifp, b);
  t.is(d.pkt.rcvif, b.index);
  t.is(d.pkt.rcvif, 2);
  t.is(d.pkt.flags, PktFlag.TOUS);
  t.deepEqual([...d.pkt.llSrc!], [...a.lladdr]);
  t.deepEqual([...d.pkt.llDst!], [...b.lladdr]);
  t.is(c.stats.c.rxNotForUs, 1);
  t.like(a.stats.c, { opackets: 1, obytes: 74, omcasts: 0, ipackets: 0 });
  t.like(b.stats.c, { ipackets: 1, ibytes: 74, imcasts: 0 });
  t.is(b.stats.sum((k) => RX_DROPS.includes(k)), 0);
  t.like(c.stats.c, { ipackets: 1, ibytes: 74 });
});

test('promiscuous mode accepts unicast for others (no TOUS flag)', (t) => {
  const { clock, ifs, got } = rig(3);
  const [a, b, c] = ifs as [EtherIf, EtherIf, EtherIf];
  c.setPromisc(true);
  t.true((c.flags & IFF.PROMISC) !== 0);
  a.output(pktOf(ip6Payload(40)), EtherType.IPV6, b.lladdr);
  clock.advance(0);
  t.is(got[2]!.length, 1);
  t.is(got[2]![0]!.pkt.flags, 0);
  t.is(c.stats.c.rxNotForUs, 0);
  c.setPromisc(false);
  t.is(c.flags & IFF.PROMISC, 0);
  a.output(pktOf(ip6Payload(40)), EtherType.IPV6, b.lladdr);
  clock.advance(0);
  t.is(got[2]!.length, 1);
  t.is(c.stats.c.rxNotForUs, 1);
  t.is(got[1]!.length, 2);
});

test('broadcast reaches every other interface, flagged BCAST and counted as multicast', (t) => {
  const { clock, ifs, got } = rig(3);
  const [a, b, c] = ifs as [EtherIf, EtherIf, EtherIf];
  a.output(pktOf(ip6Payload(40)), EtherType.IPV6, BCAST);
  clock.advance(0);
  for (const i of [1, 2]) {
    t.is(got[i]!.length, 1);
    t.is(got[i]![0]!.pkt.flags, PktFlag.BCAST);
    t.deepEqual([...got[i]![0]!.pkt.llDst!], [...BCAST]);
  }
  t.is(got[0]!.length, 0);
  t.is(a.stats.c.omcasts, 1);
  t.is(b.stats.c.imcasts, 1);
  t.is(c.stats.c.imcasts, 1);
});

test('33:33 multicast is accepted only while joined (reference counted)', (t) => {
  const { clock, ifs, got } = rig(2);
  const [a, b] = ifs as [EtherIf, EtherIf];
  const g = mcastMac(0xff, 0, 0, 2);
  const send = () => {
    a.output(pktOf(ip6Payload(40)), EtherType.IPV6, g);
    clock.advance(0);
  };
  send();
  t.is(got[1]!.length, 0);
  t.is(b.stats.c.rxNotForUs, 1);
  b.addMulti(g);
  b.addMulti(g);
  send();
  t.is(got[1]!.length, 1);
  t.is(got[1]![0]!.pkt.flags, PktFlag.MCAST);
  t.is(b.stats.c.imcasts, 1);
  b.delMulti(g);
  send();
  t.is(got[1]!.length, 2, 'one reference left: still joined');
  b.delMulti(g);
  send();
  t.is(got[1]!.length, 2);
  t.is(b.stats.c.rxNotForUs, 2);
  // Another group is not let in by a joined one.
  b.addMulti(mcastMac(0xff, 0, 0, 3));
  send();
  t.is(b.stats.c.rxNotForUs, 3);
  t.is(a.stats.c.omcasts, 5);
});

test('ALLMULTI (and PROMISC) accept every multicast group', (t) => {
  const { clock, ifs, got } = rig(3);
  const [a, b, c] = ifs as [EtherIf, EtherIf, EtherIf];
  b.setAllMulti(true);
  c.setPromisc(true);
  a.output(pktOf(ip6Payload(40)), EtherType.IPV6, mcastMac(1, 2, 3, 4));
  clock.advance(0);
  t.is(got[1]![0]!.pkt.flags, PktFlag.MCAST);
  t.is(got[2]![0]!.pkt.flags, PktFlag.MCAST);
  b.setAllMulti(false);
  t.is(b.flags & IFF.ALLMULTI, 0);
  a.output(pktOf(ip6Payload(40)), EtherType.IPV6, mcastMac(1, 2, 3, 4));
  clock.advance(0);
  t.is(got[1]!.length, 1);
  t.is(b.stats.c.rxNotForUs, 1);
  t.is(got[2]!.length, 2);
});

test('a frame carrying our own source MAC is dropped (rxOwnSource), also unicast to us and in promiscuous mode', (t) => {
  const { driver, ifp, got } = solo();
  driver.inject(frame({ dst: BCAST, src: mac(1) }));
  driver.inject(frame({ dst: mcastMac(0, 0, 0, 1), src: mac(1) }));
  ifp.setAllMulti(true);
  driver.inject(frame({ dst: mcastMac(0, 0, 0, 1), src: mac(1) }));
  driver.inject(frame({ dst: mac(1), src: mac(1) }));
  ifp.setPromisc(true);
  driver.inject(frame({ dst: mac(7), src: mac(1) }));
  t.is(got.length, 0);
  t.is(ifp.stats.c.rxOwnSource, 4);
  t.is(ifp.stats.c.rxNotForUs, 1, 'the unjoined group is filtered first');
  t.is(ifp.stats.c.imcasts, 0);
});

test('runt frames (0..13 bytes) count rxShort and ipackets/ibytes', (t) => {
  const { driver, ifp, got } = solo();
  let bytes = 0;
  for (let n = 0; n < 14; n++) {
    driver.inject(frame({ dst: mac(1), src: mac(2) }).subarray(0, n));
    bytes += n;
  }
  t.is(got.length, 0);
  t.is(ifp.stats.c.rxShort, 14);
  t.is(ifp.stats.c.ipackets, 14);
  t.is(ifp.stats.c.ibytes, bytes);
  // Exactly a header: delivered, empty.
  driver.inject(frame({ dst: mac(1), src: mac(2), payload: new Uint8Array(0) }));
  t.is(got.length, 1);
  t.is(got[0]!.pkt.len, 0);
});

test('802.3 length field (LLC) and VLAN tags are dropped with their own counters', (t) => {
  const { driver, ifp, got } = solo();
  for (const type of [0, 46, 1500, 0x05ff]) driver.inject(frame({ dst: mac(1), src: mac(2), type }));
  t.is(ifp.stats.c.rxLlc, 4);
  driver.inject(frame({ dst: mac(1), src: mac(2), type: EtherType.VLAN }));
  driver.inject(frame({ dst: BCAST, src: mac(2), type: EtherType.QINQ }));
  t.is(ifp.stats.c.rxVlan, 2);
  // 0x0600 is the first EtherType: not LLC, merely no protocol for it.
  driver.inject(frame({ dst: mac(1), src: mac(2), type: 0x0600 }));
  t.is(ifp.stats.c.rxLlc, 4);
  t.is(ifp.stats.c.rxNoProto, 1);
  t.is(got.length, 0);
  t.is(ifp.stats.c.imcasts, 0, 'a dropped broadcast is not counted as received multicast');
});

test('no protocol attached for the EtherType: rxNoProto; attaching one delivers', (t) => {
  const { driver, ifp } = solo();
  driver.inject(frame({ dst: mac(1), src: mac(2), type: EtherType.IPV4, payload: new Uint8Array(20) }));
  t.is(ifp.stats.c.rxNoProto, 1);
  const v4 = recordIp6(ifp, EtherType.IPV4);
  driver.inject(frame({ dst: mac(1), src: mac(2), type: EtherType.IPV4, payload: new Uint8Array(20) }));
  t.is(v4.length, 1);
  t.is(ifp.stats.c.rxNoProto, 1);
});

test('frames longer than the MTU are dropped (rxOversize); exactly MTU passes', (t) => {
  const { clock, link, ifs, got } = rig(2, { mtu: 9000 });
  const [a, b] = ifs as [EtherIf, EtherIf];
  t.is(b.mtu, 1500, 'default MTU is 1500 even on a jumbo link');
  a.mtu = 9000;
  a.output(pktOf(ip6Payload(1501)), EtherType.IPV6, b.lladdr);
  a.output(pktOf(ip6Payload(1500)), EtherType.IPV6, b.lladdr);
  clock.advance(0);
  t.is(b.stats.c.rxOversize, 1);
  t.is(got[1]!.length, 1);
  t.is(got[1]![0]!.pkt.len, 1500);
  t.is(link.stats.c.oversize, 0);
});

test('interface down: rxDown (not counted as received) and txDown', (t) => {
  const { clock, ifs, got } = rig(2);
  const [a, b] = ifs as [EtherIf, EtherIf];
  b.setUp(false);
  a.output(pktOf(ip6Payload(40)), EtherType.IPV6, b.lladdr);
  clock.advance(0);
  t.is(got[1]!.length, 0);
  t.like(b.stats.c, { rxDown: 1, ipackets: 0, ibytes: 0 });
  t.false(b.output(pktOf(ip6Payload(40)), EtherType.IPV6, a.lladdr));
  t.false(b.outputFrame(frame({ dst: a.lladdr, src: b.lladdr })));
  t.like(b.stats.c, { txDown: 2, opackets: 0, obytes: 0 });
  clock.advance(0);
  t.is(got[0]!.length, 0);
  b.setUp(true);
  a.output(pktOf(ip6Payload(40)), EtherType.IPV6, b.lladdr);
  clock.advance(0);
  t.is(got[1]!.length, 1);
});

test('the received Pkt is a private copy: mutating it changes neither other receivers nor the driver buffer', (t) => {
  const { clock, ifs, got } = rig(3);
  const [a, b, c] = ifs as [EtherIf, EtherIf, EtherIf];
  const payload = ip6Payload(80);
  // b scribbles over the packet (and its link header) as soon as it gets it.
  b.detachProto(EtherType.IPV6);
  const bGot: Pkt[] = [];
  b.attachProto(EtherType.IPV6, (_i, p) => {
    p.buf.fill(0x55);
    bGot.push(p);
  });
  a.output(pktOf(payload), EtherType.IPV6, BCAST);
  clock.advance(0);
  t.is(bGot.length, 1);
  t.deepEqual([...got[2]![0]!.pkt.data()], [...payload]);
  t.deepEqual([...got[2]![0]!.pkt.llSrc!], [...a.lladdr]);
  // Two packets may share a pool chunk, never bytes.
  const x = got[2]![0]!.pkt.buf;
  const y = bGot[0]!.buf;
  t.true(x.buffer !== y.buffer || x.byteOffset + x.length <= y.byteOffset || y.byteOffset + y.length <= x.byteOffset);
  t.is(c.stats.c.ipackets, 1);
});

test('input copies out of the borrowed driver buffer (the driver reuses it after the call)', (t) => {
  const { driver, got } = solo();
  const payload = ip6Payload(100, 3);
  driver.inject(frame({ dst: mac(1), src: mac(9), payload }));
  // CaptureDriver.inject overwrote the frame with 0xEE after the upcall.
  t.deepEqual([...got[0]!.pkt.data()], [...payload]);
  t.deepEqual([...got[0]!.pkt.llSrc!], [...mac(9)]);
  t.deepEqual([...got[0]!.pkt.llDst!], [...mac(1)]);
});

test('a delivered Pkt has the default headroom: a reply can be built in place', (t) => {
  const { driver, got } = solo();
  driver.inject(frame({ dst: mac(1), src: mac(2), payload: ip6Payload(40) }));
  const p = got[0]!.pkt;
  t.is(p.headroom, 128);
  const before = Pkt.reallocs;
  const at = p.prepend(54);
  t.is(Pkt.reallocs, before);
  t.is(at, 128 - 54);
});

test('output prepends the header into the headroom without reallocating and emits the exact frame', (t) => {
  const { driver, ifp } = solo();
  const payload = ip6Payload(100);
  const p = pktOf(payload);
  const buf = p.buf;
  const before = Pkt.reallocs;
  t.true(ifp.output(p, EtherType.IPV6, mac(2)));
  t.is(Pkt.reallocs, before);
  t.is(p.buf, buf, 'same backing buffer');
  t.is(driver.sent.length, 1);
  t.deepEqual([...driver.sent[0]!], [...frame({ dst: mac(2), src: mac(1), payload })]);
  t.like(ifp.stats.c, { opackets: 1, obytes: 114, omcasts: 0 });
});

test('output of a Pkt with no headroom reallocates once and still sends the right bytes', (t) => {
  const { driver, ifp } = solo();
  const payload = ip6Payload(64);
  const before = Pkt.reallocs;
  t.true(ifp.output(Pkt.wrap(payload.slice()), EtherType.IPV6, mcastMac(0, 0, 0, 1)));
  t.is(Pkt.reallocs, before + 1);
  t.deepEqual([...driver.sent[0]!], [...frame({ dst: mcastMac(0, 0, 0, 1), src: mac(1), payload })]);
  t.is(ifp.stats.c.omcasts, 1);
});

test('output: txTooBig above the MTU, exactly MTU sent; a bad destination is a programmer error', (t) => {
  const { driver, ifp } = solo();
  t.false(ifp.output(pktOf(ip6Payload(1501)), EtherType.IPV6, mac(2)));
  t.is(ifp.stats.c.txTooBig, 1);
  t.is(driver.sent.length, 0);
  t.true(ifp.output(pktOf(ip6Payload(1500)), EtherType.IPV6, mac(2)));
  t.is(driver.sent[0]!.length, 1514);
  t.throws(() => ifp.output(pktOf(ip6Payload(10)), EtherType.IPV6, null), { instanceOf: RangeError });
  t.throws(() => ifp.output(pktOf(ip6Payload(10)), EtherType.IPV6, new Uint8Array(5)), { instanceOf: RangeError });
  t.like(ifp.stats.c, { opackets: 1, obytes: 1514, txTooBig: 1 });
});

test('a driver refusing a frame is counted as txDriverDrop', (t) => {
  const { driver, ifp } = solo();
  driver.accept = false;
  t.true(ifp.output(pktOf(ip6Payload(40)), EtherType.IPV6, mac(2)), 'the interface sent it; the driver dropped it');
  t.is(ifp.stats.c.txDriverDrop, 1);
  t.is(ifp.stats.c.opackets, 1);
});

test('outputFrame sends a caller-built frame, checks MTU and length', (t) => {
  const { driver, ifp } = solo();
  const f = frame({ dst: BCAST, src: mac(1), payload: ip6Payload(20) });
  t.true(ifp.outputFrame(f));
  t.deepEqual([...driver.sent[0]!], [...f]);
  t.like(ifp.stats.c, { opackets: 1, obytes: 34, omcasts: 1 });
  t.false(ifp.outputFrame(frame({ dst: BCAST, src: mac(1), payload: ip6Payload(1501) })));
  t.is(ifp.stats.c.txTooBig, 1);
  t.throws(() => ifp.outputFrame(new Uint8Array(13)), { instanceOf: RangeError });
});

test('filters on an Ethernet interface see transmitted and received frames', (t) => {
  const { driver, ifp, got } = solo();
  const seen: string[] = [];
  ifp.filters.add({
    name: 'spy',
    filter(dir, f, next) {
      seen.push(`${dir}:${f.length}`);
      next(f);
    },
  });
  ifp.output(pktOf(ip6Payload(40)), EtherType.IPV6, mac(2));
  driver.inject(frame({ dst: mac(1), src: mac(2), payload: ip6Payload(50) }));
  t.deepEqual(seen, ['tx:54', 'rx:64']);
  t.is(got.length, 1);
  t.is(driver.sent.length, 1);
});

test('constructor: unicast MAC only, MTU within range and what the driver carries', (t) => {
  const mk = (o: { mac?: Uint8Array; mtu?: number; max?: number }) =>
    new EtherIf({ name: 'e0', driver: new CaptureDriver(o.max ?? 1514), mac: o.mac ?? mac(1), ...(o.mtu !== undefined ? { mtu: o.mtu } : {}) });
  t.throws(() => mk({ mac: BCAST }), { instanceOf: RangeError, message: /not a unicast MAC/ });
  t.throws(() => mk({ mac: mcastMac(0, 0, 0, 1) }), { instanceOf: RangeError });
  t.throws(() => mk({ mac: new Uint8Array(5) }), { instanceOf: RangeError, message: /a 5-byte value is not a unicast MAC/ });
  t.throws(() => mk({ mtu: 1501 }), { instanceOf: RangeError, message: /exceeds what the capture driver carries/ });
  t.throws(() => mk({ mtu: 1279 }), { instanceOf: RangeError });
  t.throws(() => mk({ max: 1200 }), { instanceOf: RangeError }, 'default MTU below the IPv6 minimum');
  t.is(mk({ max: 1400 }).mtu, 1386);
  t.is(mk({ max: 70000 }).mtu, 1500);
  const big = mk({ max: 65535, mtu: ETHER_MTU_RANGE[1] });
  t.is(big.mtu, 65521);
  const e = mk({});
  t.throws(() => {
    e.mtu = 1501;
  }, { instanceOf: RangeError });
  e.mtu = 1280;
  t.is(e.mtu, 1280);
  t.is(e.flags, IFF.BROADCAST | IFF.MULTICAST);
  t.false(e.up);
});

test('the MAC is copied at construction; lladdr reports it', (t) => {
  const m = mac(5);
  const e = new EtherIf({ name: 'e0', driver: new CaptureDriver(), mac: m });
  m[5] = 0x77;
  t.deepEqual([...e.lladdr], [...mac(5)]);
});

test('close detaches from the driver and closes it', (t) => {
  const { driver, ifp, got } = solo();
  t.true(driver.hasReceiver);
  ifp.close();
  t.false(ifp.up);
  t.false(driver.hasReceiver);
  t.is(driver.closed, 1);
  driver.inject(frame({ dst: mac(1), src: mac(2) }));
  t.is(got.length, 0);
});

// --- Garbage in: every frame has exactly one outcome --------------------------

type Outcome = 'delivered' | IfCounter;

interface Env {
  up: boolean;
  promisc: boolean;
  allmulti: boolean;
}

const OUR = mac(1);
const JOINED = mcastMac(0xff, 0, 0, 1);

/** The reference model of ether_input's decision, written independently of the code. */
function expected(f: Uint8Array, env: Env, mtu: number): Outcome {
  if (!env.up) return 'rxDown';
  if (f.length < 14) return 'rxShort';
  const dst = f.subarray(0, 6);
  const eq = (a: Uint8Array, b: Uint8Array) => a.every((x, i) => x === b[i]);
  if (dst[0]! & 1) {
    const bcast = dst.every((x) => x === 0xff);
    if (!bcast && !env.allmulti && !env.promisc && !eq(dst, JOINED)) return 'rxNotForUs';
  } else if (!eq(dst, OUR) && !env.promisc) return 'rxNotForUs';
  if (eq(f.subarray(6, 12), OUR)) return 'rxOwnSource';
  const type = (f[12]! << 8) | f[13]!;
  if (type < 0x600) return 'rxLlc';
  if (type === 0x8100 || type === 0x88a8) return 'rxVlan';
  if (f.length - 14 > mtu) return 'rxOversize';
  if (type !== 0x86dd) return 'rxNoProto';
  return 'delivered';
}

const macChoice = fc.oneof(
  fc.constant(OUR),
  fc.constant(BCAST),
  fc.constant(JOINED),
  fc.constant(mcastMac(0xff, 0, 0, 2)),
  fc.uint8Array({ minLength: 6, maxLength: 6 }),
);
const typeChoice = fc.oneof(fc.constantFrom(0x86dd, 0x0800, 0x8100, 0x88a8, 0x05dc, 0x0600, 0x05ff), fc.integer({ min: 0, max: 0xffff }));
const frameArb = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 13 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 1600 }) },
  {
    weight: 6,
    arbitrary: fc
      .record({ dst: macChoice, src: fc.oneof(fc.constant(OUR), macChoice), type: typeChoice, len: fc.oneof(fc.nat(80), fc.integer({ min: 1490, max: 1510 })) })
      .map(({ dst, src, type, len }) => frame({ dst, src, type, payload: new Uint8Array(len).fill(0x60) })),
  },
);
const envArb = fc.record({ up: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), promisc: fc.boolean(), allmulti: fc.boolean() });

test('property: random frames never throw and each lands in exactly one outcome, as the model says', (t) => {
  holds(
    t,
    fc.property(fc.array(fc.tuple(frameArb, envArb), { maxLength: 30 }), (cases) => {
      const { driver, ifp, got } = solo();
      ifp.addMulti(JOINED);
      let delivered = 0;
      let bytes = 0;
      let counted = 0;
      for (const [f, env] of cases) {
        ifp.setUp(env.up);
        ifp.setPromisc(env.promisc);
        ifp.setAllMulti(env.allmulti);
        const before = ifp.stats.snapshot();
        const n = got.length;
        const want = expected(f, env, ifp.mtu);
        driver.inject(f.slice());
        const changed = RX_DROPS.filter((k) => ifp.stats.c[k] !== before[k]);
        const outcome: Outcome | undefined = got.length > n ? 'delivered' : changed[0];
        if (changed.length + (got.length - n) !== 1 || outcome !== want) {
          throw new Error(`frame ${Buffer.from(f).toString('hex').slice(0, 40)}… env ${JSON.stringify(env)}: got ${outcome} (${changed}), want ${want}`);
        }
        if (changed.length === 1 && ifp.stats.c[changed[0]!] !== before[changed[0]!] + 1) throw new Error('counter moved by more than one');
        if (outcome === 'delivered') {
          delivered++;
          const d = got[got.length - 1]!;
          if (d.pkt.len !== f.length - 14 || !d.data.every((x, i) => x === f[14 + i])) throw new Error('delivered bytes differ');
        }
        if (env.up) {
          counted++;
          bytes += f.length;
        }
      }
      // The counters add up: every received frame is delivered or dropped for one reason.
      const c = ifp.stats.c;
      const drops = c.rxShort + c.rxOversize + c.rxNotForUs + c.rxOwnSource + c.rxVlan + c.rxLlc + c.rxNoProto;
      return c.ipackets === counted && c.ipackets === delivered + drops && c.ibytes === bytes && c.rxDown === cases.length - counted && driver.sent.length === 0;
    }),
    { numRuns: 300 },
  );
});
