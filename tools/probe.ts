/**
 * `tap6 probe`: shows the TAP binding and the link layer working against the
 * Linux kernel. It creates a namespace and a TAP whose kernel side lives
 * there, sends ICMPv6 echo requests to the kernel's link-local address,
 * listens to what the kernel sends by itself (router solicitation, MLD
 * reports, DAD probes), prints it, and removes the namespace and TAP.
 * All traffic stays on that TAP.
 */
import { execFileSync } from 'node:child_process';
import { RealClock } from '../src/core/clock.ts';
import { Pkt } from '../src/core/pkt.ts';
import { CryptoRng } from '../src/core/rng.ts';
import { Icmp6Type, IPPROTO_ICMPV6, checkIcmp6, emitEcho, parseEchoBody } from '../src/icmp6/wire.ts';
import { formatIn6, in6, linkLocalFromMac } from '../src/ip6/addr.ts';
import { IP6_HDR_LEN, Ip6Header, emitIp6 } from '../src/ip6/header.ts';
import { EtherType } from '../src/link/ether.ts';
import { EtherIf } from '../src/link/ethernet.ts';
import { formatMac, ip6MulticastMac, randomLocalMac } from '../src/link/mac.ts';
import { PcapWriter } from '../src/link/pcap.ts';
import { TapDriver } from '../src/link/tapdriver.ts';

const TYPE_NAMES: Record<number, string> = {
  [Icmp6Type.ECHO_REPLY]: 'echo reply',
  [Icmp6Type.ROUTER_SOLICIT]: 'router solicitation',
  [Icmp6Type.NEIGHBOR_SOLICIT]: 'neighbor solicitation',
  [Icmp6Type.NEIGHBOR_ADVERT]: 'neighbor advertisement',
  [Icmp6Type.MLDV2_REPORT]: 'MLDv2 report',
};

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function probe(opts: { count: number; pcap?: string | undefined }): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('probe needs root (or CAP_NET_ADMIN) to create a namespace and a TAP');
  const ns = `tap6probe-${process.pid}`;
  const tapName = `t6p${process.pid.toString(36)}`.slice(0, 15);
  const clock = new RealClock();
  let ifp: EtherIf | null = null;
  const cleanup = () => {
    ifp?.close();
    ifp = null;
    try {
      ip('netns', 'del', ns);
    } catch {
      /* not created */
    }
  };
  const onSignal = () => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    ip('netns', 'add', ns);
    const drv = TapDriver.open({ name: tapName });
    const mac = randomLocalMac((b) => new CryptoRng().fill(b));
    ifp = new EtherIf({ name: 'tap0', driver: drv, mac });
    const ll = linkLocalFromMac(mac);
    const seen = new Map<string, number>();
    const rtts = new Map<number, number>();
    const sentAt = new Map<number, number>();
    const id = process.pid & 0xffff;
    ifp.attachProto(EtherType.IPV6, (_i, pkt) => {
      const b = pkt.data();
      const h = Ip6Header.check(b);
      if (!h.ok) return;
      let nxt = h.value.nextHeader;
      let off = IP6_HDR_LEN;
      if (nxt === 0 && b.length >= off + 8) {
        nxt = b[off]!;
        off += (b[off + 1]! + 1) * 8;
      }
      if (nxt !== IPPROTO_ICMPV6) return;
      const m = checkIcmp6(b, off, IP6_HDR_LEN + h.value.payloadLen - off, h.value.src, h.value.dst);
      if (!m.ok) return;
      const name = `${TYPE_NAMES[m.value.type] ?? `ICMPv6 type ${m.value.type}`} to ${formatIn6(h.value.dst)}`;
      seen.set(name, (seen.get(name) ?? 0) + 1);
      if (m.value.type === Icmp6Type.ECHO_REPLY) {
        const e = parseEchoBody(m.value.body);
        if (e.ok && e.value.id === id && sentAt.has(e.value.seq)) rtts.set(e.value.seq, clock.now() - sentAt.get(e.value.seq)!);
      }
    });
    for (const g of ['ff02::2', 'ff02::16']) ifp.addMulti(ip6MulticastMac(in6(g)));
    if (opts.pcap) ifp.filters.add(new PcapWriter({ path: opts.pcap, clock }));
    ifp.setUp(true);
    ip('link', 'set', tapName, 'netns', ns);
    ip('netns', 'exec', ns, 'ip', 'link', 'set', tapName, 'up');
    console.log(`tap6 probe: TAP ${tapName}, kernel side in namespace ${ns}`);
    console.log(`  kernel MAC ${formatMac(drv.tap.kernelMac)}, ours ${formatMac(mac)} (${formatIn6(ll)})`);

    let kll: string | undefined;
    for (let i = 0; i < 100 && !kll; i++) {
      const info = JSON.parse(ip('netns', 'exec', ns, 'ip', '-6', '-j', 'addr', 'show', 'dev', tapName)) as {
        addr_info?: { local: string; scope: string; tentative?: boolean }[];
      }[];
      kll = info[0]?.addr_info?.find((a) => a.scope === 'link' && !a.tentative)?.local;
      if (!kll) await sleep(50);
    }
    if (!kll) throw new Error('the kernel did not configure a link-local address on the TAP');
    console.log(`  kernel link-local ${kll} (DAD done)`);
    // No Neighbor Discovery in the stack yet: give the kernel our link address.
    ip('netns', 'exec', ns, 'ip', '-6', 'neigh', 'replace', formatIn6(ll), 'lladdr', formatMac(mac), 'dev', tapName, 'nud', 'permanent');

    const dst = in6(kll);
    const data = new Uint8Array(56).map((_, i) => i);
    for (let seq = 1; seq <= opts.count; seq++) {
      const pkt = Pkt.alloc(IP6_HDR_LEN + 8 + data.length);
      emitIp6({ payloadLen: 8 + data.length, nextHeader: IPPROTO_ICMPV6, hopLimit: 64, src: ll, dst }, pkt.buf, pkt.off);
      emitEcho({ type: Icmp6Type.ECHO_REQUEST, id, seq, data }, pkt.buf, pkt.off + IP6_HDR_LEN, ll, dst);
      sentAt.set(seq, clock.now());
      ifp.output(pkt, EtherType.IPV6, drv.tap.kernelMac);
      await sleep(100);
    }
    await sleep(500);
    for (let seq = 1; seq <= opts.count; seq++) {
      const rtt = rtts.get(seq);
      console.log(rtt === undefined ? `  echo seq=${seq}: no reply` : `  echo seq=${seq}: reply from ${kll} time=${rtt.toFixed(3)} ms`);
    }
    // The kernel solicits routers after DAD; give it a moment.
    for (let i = 0; i < 40 && ![...seen.keys()].some((k) => k.startsWith('router solicitation')); i++) await sleep(100);
    console.log('  ICMPv6 received from the kernel:');
    for (const [k, n] of seen) console.log(`    ${n} × ${k}`);
    const c = ifp.stats.c;
    console.log(`  ${ifp.name}: ${c.ipackets} frames in (${c.rxNotForUs} not for us), ${c.opackets} out, ${c.txDriverDrop} dropped by the driver`);
    const s = drv.tap.stats();
    console.log(`  binding: rx ${s.rxFrames} frames in ${s.rxBatches} batches, tx ${s.txFrames} frames, ${s.txDropped} dropped`);
    if (opts.pcap) console.log(`  capture written to ${opts.pcap}`);
    return rtts.size === opts.count ? 0 : 1;
  } finally {
    cleanup();
    clock.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
