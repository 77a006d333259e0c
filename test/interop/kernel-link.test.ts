/**
 * Link-layer interop with the Linux kernel across a real TAP.
 *
 * The stack's side (TapDriver + EtherIf) runs in this process; the TAP's
 * kernel side is moved into a namespace the test creates, where the kernel is
 * the peer. What is proven:
 *  - frames the stack writes reach the kernel and are accepted: the kernel
 *    answers ICMPv6 echo requests crafted by the stack (checksums included) to
 *    its own link-local address, and counts a bad checksum as an error;
 *  - frames the kernel sends reach the stack through the destination filter:
 *    its router solicitation (ff02::2) and MLDv2 reports (ff02::16) once the
 *    link is up, while frames for groups we did not join are counted dropped;
 *  - the pcap of that exchange is read back by tshark.
 * Everything (namespace, TAP, capture files) is removed even when a test fails.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getU16 } from '../../src/core/bytes.ts';
import { VirtualClock } from '../../src/core/clock.ts';
import { Pkt } from '../../src/core/pkt.ts';
import { CryptoRng } from '../../src/core/rng.ts';
import { Icmp6Type, IPPROTO_ICMPV6, checkIcmp6, emitEcho, parseEchoBody } from '../../src/icmp6/wire.ts';
import { formatIn6, in6, in6Equal, linkLocalFromMac } from '../../src/ip6/addr.ts';
import { IP6_HDR_LEN, Ip6Header, emitIp6 } from '../../src/ip6/header.ts';
import { EtherType } from '../../src/link/ether.ts';
import { EtherIf } from '../../src/link/ethernet.ts';
import { formatMac, ip6MulticastMac, parseMac, randomLocalMac } from '../../src/link/mac.ts';
import { PcapWriter } from '../../src/link/pcap.ts';
import { TapDriver } from '../../src/link/tapdriver.ts';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { canUseNetns, createNetns, uniqueIfName, waitFor, type Netns } from '../helpers/netns.ts';

const execFileP = promisify(execFile);
const env = canUseNetns();
const tapOk = env.ok && isTapAvailable();
const maybe = tapOk ? test.serial : test.skip;
if (!tapOk) console.warn(`kernel interop tests skipped: ${env.why || '/dev/net/tun cannot be opened'}`);

interface Rx {
  hdr: Ip6Header;
  bytes: Uint8Array;
}

interface Rig {
  ns: Netns;
  ifp: EtherIf;
  tapName: string;
  mac: Uint8Array;
  kernelMac: Uint8Array;
  ll: Uint8Array;
  rx: Rx[];
}

/** TAP created here, its kernel side moved into a fresh namespace and brought up there. */
async function rig(t: ExecutionContext, opts: { dad: boolean; beforeUp?: (r: Rig) => void }): Promise<Rig> {
  const ns = await createNetns(t);
  const tapName = uniqueIfName('t6i');
  const drv = TapDriver.open({ name: tapName });
  const mac = randomLocalMac((b) => new CryptoRng().fill(b));
  const ifp = new EtherIf({ name: 'tap0', driver: drv, mac });
  t.teardown(() => ifp.close());
  const r: Rig = { ns, ifp, tapName, mac, kernelMac: drv.tap.kernelMac, ll: linkLocalFromMac(mac), rx: [] };
  ifp.attachProto(EtherType.IPV6, (_i, pkt) => {
    const bytes = pkt.data();
    const h = Ip6Header.check(bytes);
    if (h.ok) r.rx.push({ hdr: h.value, bytes });
  });
  ifp.setUp(true);
  opts.beforeUp?.(r);
  await execFileP('ip', ['link', 'set', tapName, 'netns', ns.name]);
  if (!opts.dad) await ns.exec(['sysctl', '-qw', `net.ipv6.conf.${tapName}.accept_dad=0`]);
  await ns.exec(['ip', 'link', 'set', tapName, 'up']);
  return r;
}

async function kernelLinkLocal(r: Rig): Promise<Uint8Array> {
  return waitFor('the kernel link-local address', async () => {
    const { stdout } = await r.ns.exec(['ip', '-6', '-j', 'addr', 'show', 'dev', r.tapName]);
    const info = JSON.parse(stdout) as { addr_info?: { local: string; scope: string; tentative?: boolean }[] }[];
    const a = info[0]?.addr_info?.find((x) => x.scope === 'link' && !x.tentative);
    return a ? in6(a.local) : undefined;
  });
}

async function snmp6(ns: Netns, key: string): Promise<number> {
  const { stdout } = await ns.exec(['cat', '/proc/net/snmp6']);
  const m = new RegExp(`^${key}\\s+(\\d+)`, 'm').exec(stdout);
  return m ? Number(m[1]) : NaN;
}

function echoRequest(r: Rig, dst: Uint8Array, id: number, seq: number, data: Uint8Array): Pkt {
  const icmpLen = 8 + data.length;
  const pkt = Pkt.alloc(IP6_HDR_LEN + icmpLen);
  const off = pkt.off;
  emitIp6({ payloadLen: icmpLen, nextHeader: IPPROTO_ICMPV6, hopLimit: 64, src: r.ll, dst }, pkt.buf, off);
  emitEcho({ type: Icmp6Type.ECHO_REQUEST, id, seq, data }, pkt.buf, off + IP6_HDR_LEN, r.ll, dst);
  return pkt;
}

function echoReplies(r: Rig, id: number): { seq: number; data: Uint8Array; from: Uint8Array }[] {
  const out = [];
  for (const p of r.rx) {
    if (p.hdr.nextHeader !== IPPROTO_ICMPV6) continue;
    const m = checkIcmp6(p.bytes, IP6_HDR_LEN, p.hdr.payloadLen, p.hdr.src, p.hdr.dst);
    if (!m.ok || m.value.type !== Icmp6Type.ECHO_REPLY) continue;
    const e = parseEchoBody(m.value.body);
    if (e.ok && e.value.id === id) out.push({ seq: e.value.seq, data: e.value.data, from: p.hdr.src });
  }
  return out;
}

maybe('the kernel answers ICMPv6 echo requests the stack writes, and rejects a bad checksum', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tap6-pcap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pcapPath = join(dir, 'echo.pcap');
  const r = await rig(t, {
    dad: false,
    beforeUp: (rr) => rr.ifp.filters.add(new PcapWriter({ path: pcapPath, clock: new VirtualClock(), flushMs: 0 })),
  });
  const kll = await kernelLinkLocal(r);
  // Our side has no Neighbor Discovery yet (issue 3): tell the kernel our link address.
  await r.ns.exec(['ip', '-6', 'neigh', 'replace', formatIn6(r.ll), 'lladdr', formatMac(r.mac), 'dev', r.tapName, 'nud', 'permanent']);
  const { stdout: mac } = await r.ns.exec(['cat', `/sys/class/net/${r.tapName}/address`]);
  const km = parseMac(mac.trim());
  t.true(km.ok && formatMac(km.value) === formatMac(r.kernelMac), 'the binding reports the kernel-side MAC');

  const id = 0x7a6b;
  const payload = (seq: number) => Uint8Array.from({ length: 56 + seq }, (_, i) => (i * 7 + seq) & 0xff);
  const rxBefore = Number((await r.ns.exec(['cat', `/sys/class/net/${r.tapName}/statistics/rx_packets`])).stdout);
  for (let seq = 1; seq <= 3; seq++) t.true(r.ifp.output(echoRequest(r, kll, id, seq, payload(seq)), EtherType.IPV6, r.kernelMac));
  const replies = await waitFor('three echo replies', () => {
    const got = echoReplies(r, id);
    return got.length >= 3 ? got : undefined;
  });
  t.deepEqual(
    replies.map((x) => x.seq).sort(),
    [1, 2, 3],
  );
  for (const x of replies) {
    t.true(in6Equal(x.from, 0, kll), 'reply comes from the kernel link-local address');
    t.deepEqual(x.data, payload(x.seq), 'echo data returned byte for byte');
  }
  const rxAfter = Number((await r.ns.exec(['cat', `/sys/class/net/${r.tapName}/statistics/rx_packets`])).stdout);
  t.true(rxAfter - rxBefore >= 3, 'the kernel counted our frames');
  t.true(r.ifp.stats.c.opackets >= 3);

  // A corrupted checksum: the kernel drops it and counts it; no reply comes back.
  const errsBefore = await snmp6(r.ns, 'Icmp6InCsumErrors');
  const bad = echoRequest(r, kll, id, 99, payload(0));
  bad.buf[bad.off + IP6_HDR_LEN + 2]! ^= 0x5a;
  r.ifp.output(bad, EtherType.IPV6, r.kernelMac);
  const errsAfter = await waitFor('the kernel to count a checksum error', async () => {
    const n = await snmp6(r.ns, 'Icmp6InCsumErrors');
    return n > errsBefore ? n : undefined;
  });
  t.is(errsAfter, errsBefore + 1);
  await new Promise((res) => setTimeout(res, 200));
  t.false(echoReplies(r, id).some((x) => x.seq === 99), 'no reply to a bad checksum');

  // The capture holds the exchange and tshark decodes it.
  r.ifp.filters.remove('pcap');
  if (!existsSync('/usr/bin/tshark')) {
    t.log('tshark not installed: pcap decode check skipped');
    return;
  }
  const { stdout } = await execFileP('tshark', ['-r', pcapPath, '-T', 'fields', '-e', 'icmpv6.type', '-e', 'icmpv6.echo.sequence_number', '-Y', 'icmpv6.echo.identifier == 0x7a6b']);
  const rows = stdout.trim().split('\n').map((l) => l.split('\t').map(Number));
  for (let seq = 1; seq <= 3; seq++) {
    t.true(rows.some(([ty, s]) => ty === 128 && s === seq), `tshark sees request ${seq}`);
    t.true(rows.some(([ty, s]) => ty === 129 && s === seq), `tshark sees reply ${seq}`);
  }
});

maybe('frames the kernel sends arrive: its router solicitation and MLDv2 reports, filtered by group', async (t) => {
  const r = await rig(t, {
    dad: true,
    beforeUp: (rr) => {
      rr.ifp.addMulti(ip6MulticastMac(in6('ff02::2')));
      rr.ifp.addMulti(ip6MulticastMac(in6('ff02::16')));
    },
  });
  const icmpTypes = (dst: string): number[] => {
    const d = in6(dst);
    const out: number[] = [];
    for (const p of r.rx) {
      if (!in6Equal(p.hdr.dst, 0, d)) continue;
      // Walk a Hop-by-Hop header (MLD carries Router Alert) to reach ICMPv6.
      let nxt = p.hdr.nextHeader;
      let off = IP6_HDR_LEN;
      if (nxt === 0 && p.bytes.length >= off + 8) {
        nxt = p.bytes[off]!;
        off += (p.bytes[off + 1]! + 1) * 8;
      }
      if (nxt !== IPPROTO_ICMPV6) continue;
      const m = checkIcmp6(p.bytes, off, IP6_HDR_LEN + p.hdr.payloadLen - off, p.hdr.src, p.hdr.dst);
      if (m.ok) out.push(m.value.type);
    }
    return out;
  };
  await waitFor('an MLDv2 report to ff02::16', () => (icmpTypes('ff02::16').includes(Icmp6Type.MLDV2_REPORT) ? true : undefined), 15_000);
  await waitFor('a router solicitation to ff02::2', () => (icmpTypes('ff02::2').includes(Icmp6Type.ROUTER_SOLICIT) ? true : undefined), 15_000);
  const rs = r.rx.find((p) => p.hdr.nextHeader === IPPROTO_ICMPV6 && p.bytes[IP6_HDR_LEN] === Icmp6Type.ROUTER_SOLICIT)!;
  t.is(rs.hdr.hopLimit, 255, 'ND messages carry hop limit 255');
  t.is(getU16(rs.bytes, 4), rs.hdr.payloadLen);
  // The kernel's DAD probe goes to its solicited-node group, which we never joined.
  t.true(r.ifp.stats.c.rxNotForUs >= 1, 'frames for unjoined groups are counted, not delivered');
  t.is(r.ifp.stats.c.rxShort + r.ifp.stats.c.rxNoProto, 0);
  t.true(r.ifp.stats.c.imcasts >= 2);
});
