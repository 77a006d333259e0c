/**
 * Extension headers against the Linux kernel: crafted packets sent from the
 * kernel side of a real TAP (an AF_PACKET socket in the test's namespace),
 * checked on both ends: tap6's counters and the frames it sent back, and the
 * kernel's own ICMPv6 statistics in the namespace.
 *
 * - an unknown Destination Option with action 10: tap6 answers Parameter
 *   Problem code 2 and the kernel counts it (Icmp6InParmProblems);
 * - a fragmented echo request with an overlap: no reply, fragOverlap counted,
 *   and the kernel's own `ping -s 3000` still works afterwards;
 * - a type 0 Routing header with segments left 1: Parameter Problem code 0
 *   pointing at the routing type (RFC 5095).
 *
 * Only the TAP and the namespace the test created carry traffic; kernelRig
 * tears both down with the test, failed or not.
 */
import test from 'ava';
import { in6 } from '../../src/ip6/addr.ts';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { type KernelRig, kernelRig, kernelSendRaw, kernelSnmp6 } from '../helpers/kernel.ts';
import { canUseNetns, waitFor } from '../helpers/netns.ts';
import { type FrameSeen, ICMP, echoBody, eq, icmp6Msg, ip6Frame, ip6Packet, parseFrame } from '../helpers/stack.ts';
import { NXT, OPT_EXP, chain, fragFrame, opt, param } from '../helpers/exthdr.ts';

const maybe = canUseNetns().ok && isTapAvailable() ? test.serial : test.skip;

interface Ends {
  r: KernelRig;
  kll: Uint8Array;
  ll: Uint8Array;
  /** Frames tap6 sent on the TAP since the rig came up. */
  sent: FrameSeen[];
}

async function ends(t: import('ava').ExecutionContext): Promise<Ends> {
  const r = await kernelRig(t);
  const sent: FrameSeen[] = [];
  r.ifp.filters.add({
    name: 'capture',
    filter(dir, frame, next) {
      if (dir === 'tx') sent.push(parseFrame(frame.slice()));
      next(frame);
    },
  });
  return { r, kll: in6(r.kll), ll: in6(r.ll), sent };
}

/** An IPv6 frame from the kernel's MAC and link-local address to tap6. */
function fromKernel(e: Ends, nxt: number, payload: Uint8Array): { frame: Uint8Array; packet: Uint8Array } {
  const spec = { src: e.kll, dst: e.ll, nxt, payload };
  return { frame: ip6Frame({ ...spec, ethDst: e.r.ifp.lladdr, ethSrc: e.r.kernelMac }), packet: ip6Packet(spec) };
}

function echo(e: Ends, id: number, data: Uint8Array): Uint8Array {
  return icmp6Msg(ICMP.ECHO_REQUEST, 0, echoBody(id, 1, data), e.kll, e.ll);
}

function paramProblems(e: Ends): FrameSeen[] {
  return e.sent.filter((f) => f.icmp?.type === ICMP.PARAM_PROB && f.ip6 && eq(f.ip6.dst, e.kll));
}

/** Checks a Parameter Problem tap6 sent: code, pointer, and the kernel-side packet quoted unchanged. */
function checkPP(t: import('ava').ExecutionContext, f: FrameSeen | undefined, code: number, pointer: number, packet: Uint8Array): void {
  t.truthy(f?.icmp, 'a Parameter Problem went to the kernel');
  if (!f?.icmp) return;
  t.true(f.icmp.cksumOk);
  t.is(f.icmp.code, code);
  t.is(param(f.icmp.body), pointer);
  t.true(eq(f.icmp.body.subarray(4), packet.subarray(0, Math.min(packet.length, 1232))), 'the offending packet quoted unchanged');
}

maybe('an unknown option with action 10 from the kernel: Parameter Problem code 2, and the kernel counts it', async (t) => {
  const e = await ends(t);
  const c = e.r.stack.ip6.stats.c;
  const c6 = chain([{ kind: 'dst', options: [opt(OPT_EXP[0], 1), opt(OPT_EXP[2], 0, 0)] }], NXT.ICMPV6, echo(e, 0x7001, new Uint8Array(32)));
  const { frame, packet } = fromKernel(e, c6.nxt, c6.payload);
  const before = await kernelSnmp6(e.r, 'Icmp6InParmProblems');
  t.false(Number.isNaN(before));
  await kernelSendRaw(e.r, [frame]);
  await waitFor('the kernel to count the Parameter Problem', async () => ((await kernelSnmp6(e.r, 'Icmp6InParmProblems')) > before ? true : undefined), 10_000);
  t.is(c.optSkipped, 1);
  t.is(c.optDiscard, 1);
  t.is(e.r.stack.icmp6.stats.c.errSent, 1);
  const pp = paramProblems(e);
  t.is(pp.length, 1);
  checkPP(t, pp[0], 2, c6.at[0]! + 5, packet);
  t.is(e.sent.filter((f) => f.icmp?.type === ICMP.ECHO_REPLY).length, 0, 'the request inside was not answered');
});

maybe('an overlapping fragment from the kernel: no reply, fragOverlap counted; then the kernel pings with 3000 bytes', async (t) => {
  const e = await ends(t);
  const c = e.r.stack.ip6.stats.c;
  const id = 0x7002;
  const msg = echo(e, id, Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff));
  const sp = { src: e.kll, dst: e.ll, ethDst: e.r.ifp.lladdr, id: 0x5eed };
  const withMac = (f: Uint8Array) => {
    f.set(e.r.kernelMac, 6);
    return f;
  };
  const frames = [
    fragFrame(sp, 0, msg.subarray(0, 1000), true),
    fragFrame(sp, 992, msg.subarray(992, 1992), true), // 8 bytes over the first
    fragFrame(sp, 1992, msg.subarray(1992, 2992), true),
    fragFrame(sp, 2992, msg.subarray(2992), false),
  ].map(withMac);
  await kernelSendRaw(e.r, frames);
  await waitFor('tap6 to see the four fragments', () => (c.fragments >= 4 ? true : undefined), 10_000);
  t.is(c.fragOverlap, 3, 'the overlap, then both later fragments of the dead datagram');
  t.is(c.reassembled, 0);
  // Give a reply every chance to appear before saying there was none.
  await new Promise((res) => setTimeout(res, 300));
  const replyTo = (f: FrameSeen) => f.ip6 && (f.icmp?.type === ICMP.ECHO_REPLY || f.ip6.nxt === NXT.FRAGMENT);
  t.is(e.sent.filter(replyTo).length, 0, 'no reply, whole or fragmented');
  t.is(e.r.stack.ip6.reass.bufferedBytes, 0);

  const { stdout } = await e.r.ns.exec(['ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', '-s', '3000', `${e.r.ll}%${e.r.tapName}`], { timeoutMs: 15_000 });
  t.regex(stdout, /2 packets transmitted, 2 received/);
  t.true(c.reassembled >= 2);
  t.is(c.fragOverlap, 3, 'nothing else overlapped');
});

maybe('a type 0 Routing header with segments left 1 from the kernel: Parameter Problem code 0 at the routing type', async (t) => {
  const e = await ends(t);
  const c = e.r.stack.ip6.stats.c;
  const data = new Uint8Array(20);
  data.set(in6('2001:db8::1'), 4);
  const c6 = chain([{ kind: 'rt', type: 0, segmentsLeft: 1, data }], NXT.ICMPV6, echo(e, 0x7003, new Uint8Array(16)));
  const { frame, packet } = fromKernel(e, c6.nxt, c6.payload);
  const before = await kernelSnmp6(e.r, 'Icmp6InParmProblems');
  await kernelSendRaw(e.r, [frame]);
  await waitFor('the kernel to count the Parameter Problem', async () => ((await kernelSnmp6(e.r, 'Icmp6InParmProblems')) > before ? true : undefined), 10_000);
  t.is(c.rthdr0, 1);
  const pp = paramProblems(e);
  t.is(pp.length, 1);
  checkPP(t, pp[0], 0, 42, packet);
  // The same header with segments left 0 is ignored: the kernel's request inside is answered.
  const c0 = chain([{ kind: 'rt', type: 0, segmentsLeft: 0, data }], NXT.ICMPV6, echo(e, 0x7004, new Uint8Array(16)));
  await kernelSendRaw(e.r, [fromKernel(e, c0.nxt, c0.payload).frame]);
  await waitFor('the echo reply', () => (e.sent.some((f) => f.icmp?.type === ICMP.ECHO_REPLY && f.icmp.body[0] === 0x70 && f.icmp.body[1] === 0x04) ? true : undefined), 10_000);
  t.is(c.rthdrIgnored, 1);
});
