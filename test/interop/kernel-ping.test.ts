/**
 * The first vertical slice against the Linux kernel (issue 3): the kernel
 * pings the stack and resolves it with Neighbor Discovery, the stack pings
 * the kernel, and DAD catches an address the kernel already uses.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { MemoryLogger } from '../../src/core/log.ts';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import { formatMac } from '../../src/link/mac.ts';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { TapDriver } from '../../src/link/tapdriver.ts';
import { Stack } from '../../src/stack.ts';
import { canUseNetns, createNetns, uniqueIfName, waitFor } from '../helpers/netns.ts';

const execFileP = promisify(execFile);
const env = canUseNetns();
const maybe = env.ok && isTapAvailable() ? test.serial : test.skip;

async function rig(t: ExecutionContext) {
  const ns = await createNetns(t);
  const tapName = uniqueIfName('t6k');
  const log = new MemoryLogger();
  const stack = new Stack({ log });
  t.teardown(() => stack.close());
  const drv = TapDriver.open({ name: tapName });
  const ifp = stack.addEthernet({ name: tapName, driver: drv });
  await execFileP('ip', ['link', 'set', tapName, 'netns', ns.name]);
  await ns.exec(['sysctl', '-qw', `net.ipv6.conf.${tapName}.accept_dad=0`]);
  await ns.exec(['ip', 'link', 'set', tapName, 'up']);
  stack.up(ifp);
  const st = stack.ip6.if6Of(ifp)!;
  const ll = await waitFor('our link-local address to pass DAD', () => st.addrs.find((a) => a.addr[0] === 0xfe && !(a.flags & IN6_IFF.TENTATIVE)), 5000);
  const kll = await waitFor('the kernel link-local address', async () => {
    const { stdout } = await ns.exec(['ip', '-6', '-j', 'addr', 'show', 'dev', tapName]);
    const a = (JSON.parse(stdout) as { addr_info?: { local: string; scope: string }[] }[])[0]?.addr_info?.find((x) => x.scope === 'link');
    return a?.local;
  });
  return { ns, stack, ifp, tapName, ll: formatIn6(ll.addr), kll, log };
}

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
