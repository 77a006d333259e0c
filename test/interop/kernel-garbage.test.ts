/**
 * Bad input from a real peer: the kernel side of the TAP sends runts,
 * truncated and malformed IPv6, wrong checksums, an unknown next header and
 * random garbage. Each is counted under its own reason, the unknown next
 * header is answered with Parameter Problem (which the kernel counts), and the
 * next ping from the kernel is answered as if nothing happened.
 */
import test from 'ava';
import { putU16 } from '../../src/core/bytes.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { Icmp6Type, IPPROTO_ICMPV6, emitEcho } from '../../src/icmp6/wire.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { IP6_HDR_LEN, emitIp6 } from '../../src/ip6/header.ts';
import { ETHER_HDR_LEN, EtherType, emitEther } from '../../src/link/ether.ts';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { kernelRig, kernelSendRaw, kernelSnmp6 } from '../helpers/kernel.ts';
import { canUseNetns, waitFor } from '../helpers/netns.ts';

const maybe = canUseNetns().ok && isTapAvailable() ? test.serial : test.skip;

maybe('garbage from the kernel is counted by reason and does not disturb the next ping', async (t) => {
  const r = await kernelRig(t);
  const us = r.ifp.lladdr;
  const src = in6(r.kll);
  const dst = in6(r.ll);
  const ether = (payload: Uint8Array, type = EtherType.IPV6) => {
    const f = new Uint8Array(ETHER_HDR_LEN + payload.length);
    emitEther({ dst: us, src: r.kernelMac, etherType: type }, f, 0);
    f.set(payload, ETHER_HDR_LEN);
    return f;
  };
  const ip6 = (nxt: number, payload: Uint8Array, plen = payload.length) => {
    const p = new Uint8Array(IP6_HDR_LEN + payload.length);
    emitIp6({ payloadLen: plen, nextHeader: nxt, hopLimit: 64, src, dst }, p, 0);
    p.set(payload, IP6_HDR_LEN);
    return p;
  };
  const echo = (seq: number) => {
    const p = new Uint8Array(IP6_HDR_LEN + 16);
    emitIp6({ payloadLen: 16, nextHeader: IPPROTO_ICMPV6, hopLimit: 64, src, dst }, p, 0);
    emitEcho({ type: Icmp6Type.ECHO_REQUEST, id: 7, seq, data: new Uint8Array(8) }, p, IP6_HDR_LEN, src, dst);
    return p;
  };
  const badSum = echo(1);
  putU16(badSum, IP6_HDR_LEN + 2, 0x1234);
  const v4 = ip6(59, new Uint8Array(0));
  v4[0] = 0x45;
  const rng = new SeededRng(7);
  const garbage = Array.from({ length: 50 }, () => ether(rng.fill(new Uint8Array(1 + rng.below(200)))));

  const before = await kernelSnmp6(r, 'Icmp6InParmProblems');
  await kernelSendRaw(r, [
    // (A runt shorter than an Ethernet header cannot be sent through AF_PACKET; unit tests cover it.)
    ether(new Uint8Array(20)), // IPv6 shorter than its header
    ether(v4), // version 4 inside the IPv6 EtherType
    ether(ip6(59, new Uint8Array(8), 1000)), // payload length beyond the frame
    ether(badSum), // ICMPv6 with a wrong checksum
    ether(ip6(253, new Uint8Array(8))), // unknown next header
    ...garbage,
  ]);
  const ip6s = r.stack.ip6.stats.c;
  await waitFor('the frames to be processed', () => (r.ifp.stats.c.ipackets >= 55 ? true : undefined));
  t.true(ip6s.tooShort >= 1, 'short IPv6 header');
  t.true(ip6s.badVersion >= 1, 'bad version');
  t.true(ip6s.tooSmall >= 1, 'payload length beyond the frame');
  t.true(r.stack.icmp6.stats.c.badChecksum >= 1, 'bad ICMPv6 checksum');
  t.is(ip6s.noProto, 1, 'unknown next header');
  t.is(r.stack.icmp6.stats.c.errSent, 1, 'Parameter Problem sent');
  const after = await waitFor('the kernel to receive the Parameter Problem', async () => {
    const n = await kernelSnmp6(r, 'Icmp6InParmProblems');
    return n > before ? n : undefined;
  });
  t.is(after, before + 1);
  t.is(r.stack.icmp6.stats.c.echoReplies, 0, 'no reply to the bad checksum');

  const { stdout } = await r.ns.exec(['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', `${r.ll}%${r.tapName}`], { timeoutMs: 15_000 });
  t.regex(stdout, /3 packets transmitted, 3 received/);
});
