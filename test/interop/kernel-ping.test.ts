/**
 * The first vertical slice against the Linux kernel (issue 3): the kernel
 * pings the stack and resolves it with Neighbor Discovery, the stack pings
 * the kernel, and DAD catches an address the kernel already uses.
 */
import test from 'ava';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import { formatMac } from '../../src/link/mac.ts';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { kernelRig } from '../helpers/kernel.ts';
import { canUseNetns, waitFor } from '../helpers/netns.ts';

const env = canUseNetns();
const maybe = env.ok && isTapAvailable() ? test.serial : test.skip;

const rig = kernelRig;

maybe('the kernel pings the stack, and its neighbor entry for us becomes REACHABLE', async (t) => {
  const r = await rig(t);
  const { stdout } = await r.ns.exec(['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', `${r.ll}%${r.tapName}`], { timeoutMs: 15_000 });
  t.regex(stdout, /3 packets transmitted, 3 received/);
  const neigh = await r.ns.exec(['ip', '-6', '-j', 'neigh', 'show', 'dev', r.tapName]);
  const e = (JSON.parse(neigh.stdout) as { dst: string; lladdr?: string; state: string[] }[]).find((x) => x.dst === r.ll);
  t.truthy(e, 'the kernel has a neighbor entry for us');
  t.is(e!.lladdr, formatMac(r.ifp.lladdr));
  t.true(e!.state.includes('REACHABLE'), `state ${e!.state.join(',')}`);
  t.is(r.stack.icmp6.stats.c.echoReplies, 3);
  t.true(r.stack.nd6.stats.c.naOut >= 1);
});

maybe('the stack pings the kernel', async (t) => {
  const r = await rig(t);
  const dst = r.stack.parseAddress(`${r.kll}%${r.tapName}`);
  t.true(dst.ok);
  if (!dst.ok) return;
  for (let seq = 1; seq <= 3; seq++) {
    const rep = await r.stack.ping({ dst: dst.value.addr, zone: dst.value.zone, seq, timeoutMs: 2000 });
    t.truthy(rep, `reply ${seq}`);
    t.true(rep!.dataOk);
    t.is(formatIn6(rep!.from), r.kll);
  }
  const n = r.stack.nd6.neighbors().find((x) => formatIn6(x.addr) === r.kll)!;
  t.is(n.state, 'REACHABLE');
});

maybe('an address the kernel already uses is detected as duplicated and never used as a source', async (t) => {
  const r = await rig(t);
  await r.ns.exec(['ip', '-6', 'addr', 'add', '2001:db8:6::1/64', 'dev', r.tapName, 'nodad']);
  const res = r.stack.ip6.addAddress(r.ifp, in6('2001:db8:6::1'), 64);
  t.true(res.ok);
  if (!res.ok) return;
  await waitFor('DAD to finish', () => (res.value.flags & IN6_IFF.TENTATIVE ? undefined : true), 5000);
  t.truthy(res.value.flags & IN6_IFF.DUPLICATED, 'duplicated');
  t.true(r.log.lines.some((l) => l.includes('duplicate IPv6 address 2001:db8:6::1')));
  // Never a source: not chosen by source selection, refused when asked for explicitly.
  await r.ns.exec(['ip', '-6', 'addr', 'add', '2001:db8:6::2/64', 'dev', r.tapName, 'nodad']);
  const chosen = r.stack.ip6.selectSource(in6('2001:db8:6::2'), r.ifp);
  t.not(chosen && formatIn6(chosen.addr), '2001:db8:6::1');
  const err = await r.stack.ping({ dst: in6('2001:db8:6::2'), src: in6('2001:db8:6::1'), seq: 1, timeoutMs: 1000 }).then(
    () => null,
    (e: Error & { code?: string }) => e.code,
  );
  t.is(err, 'EADDRNOTAVAIL');
});
