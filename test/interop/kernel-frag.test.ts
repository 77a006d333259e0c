/**
 * Fragmentation and Path MTU discovery against the Linux kernel (issue 5):
 * 4,000-byte pings both ways (the sender fragments, the receiver reassembles,
 * in both directions), and a Packet Too Big from the kernel's side makes
 * tap6 fragment its next large reply to the new MTU.
 */
import test from 'ava';
import { putU16, putU32 } from '../../src/core/bytes.ts';
import { in6Cksum } from '../../src/core/checksum.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { IP6_HDR_LEN, emitIp6 } from '../../src/ip6/header.ts';
import { ETHER_HDR_LEN, EtherType, emitEther } from '../../src/link/ether.ts';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { kernelRig, kernelSendRaw } from '../helpers/kernel.ts';
import { canUseNetns, waitFor } from '../helpers/netns.ts';

const maybe = canUseNetns().ok && isTapAvailable() ? test.serial : test.skip;

maybe('4000-byte pings both ways: each side fragments and the other reassembles', async (t) => {
  const r = await kernelRig(t);
  const { stdout } = await r.ns.exec(['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', '-s', '4000', `${r.ll}%${r.tapName}`], { timeoutMs: 15_000 });
  t.regex(stdout, /3 packets transmitted, 3 received/);
  const s = r.stack.ip6.stats.c;
  t.true(s.reassembled >= 3, `tap6 reassembled the kernel's requests (${s.reassembled})`);
  t.true(s.fragmentedOut >= 3, `tap6 fragmented its replies (${s.fragmentedOut})`);
  const dst = in6(r.kll);
  for (let seq = 1; seq <= 3; seq++) {
    const rep = await r.stack.ping({ dst, zone: r.ifp.index, seq, size: 4000, timeoutMs: 2000 });
    t.truthy(rep, `reply ${seq} to tap6's 4000-byte request`);
    t.true(rep!.dataOk);
    t.is(rep!.bytes, 4008);
  }
  t.true(s.reassembled >= 6);
});

maybe('a Packet Too Big from the path lowers the PMTU and the next large reply fits it', async (t) => {
  const r = await kernelRig(t);
  const us = in6(r.ll);
  const them = in6(r.kll);
  const s = r.stack.ip6.stats.c;
  // 1400-byte echo data: a 1448-byte reply fits the 1500 link MTU unfragmented.
  await r.ns.exec(['ping', '-6', '-c', '1', '-W', '2', '-s', '1400', `${r.ll}%${r.tapName}`], { timeoutMs: 10_000 });
  const before = s.fragsCreated;
  t.is(before, 0);
  // Packet Too Big (MTU 1280) from the kernel's address, quoting a packet tap6 sent to it.
  const quoted = new Uint8Array(IP6_HDR_LEN + 8);
  emitIp6({ payloadLen: 8, nextHeader: 58, hopLimit: 64, src: us, dst: them }, quoted, 0);
  quoted.set([129, 0, 0, 0, 0, 1, 0, 1], IP6_HDR_LEN);
  const icmp = new Uint8Array(8 + quoted.length);
  icmp[0] = 2;
  putU32(icmp, 4, 1280);
  icmp.set(quoted, 8);
  putU16(icmp, 2, in6Cksum(icmp, 0, icmp.length, 58, them, us));
  const ip = new Uint8Array(IP6_HDR_LEN + icmp.length);
  emitIp6({ payloadLen: icmp.length, nextHeader: 58, hopLimit: 64, src: them, dst: us }, ip, 0);
  ip.set(icmp, IP6_HDR_LEN);
  const frame = new Uint8Array(ETHER_HDR_LEN + ip.length);
  emitEther({ dst: r.ifp.lladdr, src: r.kernelMac, etherType: EtherType.IPV6 }, frame, 0);
  frame.set(ip, ETHER_HDR_LEN);
  await kernelSendRaw(r, [frame]);
  await waitFor('the PMTU to drop', () => (r.stack.ip6.pmtu.get(them, r.ifp.index) === 1280 ? true : undefined));
  t.is(r.stack.icmp6.stats.c.pmtuLowered, 1);
  const { stdout } = await r.ns.exec(['ping', '-6', '-c', '1', '-W', '2', '-s', '1400', `${r.ll}%${r.tapName}`], { timeoutMs: 10_000 });
  t.regex(stdout, /1 packets transmitted, 1 received/);
  t.is(s.fragsCreated - before, 2, 'the 1448-byte reply went out as two fragments of at most 1280 bytes');
});
