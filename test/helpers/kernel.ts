/**
 * A whole stack on a real TAP whose kernel side lives in a fresh namespace:
 * the rig the kernel interop tests share. Everything is torn down with the
 * test (the stack closes the TAP; the namespace goes).
 */
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MemoryLogger } from '../../src/core/log.ts';
import { formatIn6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import type { EtherIf } from '../../src/link/ethernet.ts';
import { TapDriver } from '../../src/link/tapdriver.ts';
import { Stack } from '../../src/stack.ts';
import { type Netns, createNetns, uniqueIfName, waitFor } from './netns.ts';

const execFileP = promisify(execFile);

export interface KernelRig {
  ns: Netns;
  stack: Stack;
  ifp: EtherIf;
  tapName: string;
  /** Our link-local address (text) once DAD is done. */
  ll: string;
  /** The kernel's link-local address on the TAP (text). */
  kll: string;
  kernelMac: Uint8Array;
  log: MemoryLogger;
}

export async function kernelRig(t: ExecutionContext): Promise<KernelRig> {
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
  return { ns, stack, ifp, tapName, ll: formatIn6(ll.addr), kll, kernelMac: drv.tap.kernelMac, log };
}

/** Sends raw Ethernet frames out of the kernel side of the TAP (an AF_PACKET socket in the namespace). */
export async function kernelSendRaw(r: KernelRig, frames: Uint8Array[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tap6-raw-'));
  try {
    const file = join(dir, 'frames.hex');
    writeFileSync(file, frames.map((f) => Buffer.from(f).toString('hex')).join('\n'));
    const script = [
      'import socket, sys',
      's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
      's.bind((sys.argv[1], 0))',
      'for h in open(sys.argv[2]).read().split(): s.send(bytes.fromhex(h))',
    ].join('\n');
    await r.ns.exec(['/usr/bin/python3', '-c', script, r.tapName, file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One counter of the kernel's /proc/net/snmp6 in the namespace. */
export async function kernelSnmp6(r: KernelRig, key: string): Promise<number> {
  const { stdout } = await r.ns.exec(['cat', '/proc/net/snmp6']);
  const m = new RegExp(`^${key}\\s+(\\d+)`, 'm').exec(stdout);
  return m ? Number(m[1]) : NaN;
}
