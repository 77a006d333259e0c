/**
 * Several tap6 stacks in this process, each on its own TAP, the TAPs
 * enslaved to a Linux bridge inside a fresh namespace: tap6 talks to tap6
 * through real TAP devices and a kernel bridge, with no kernel IPv6 host in
 * between (IPv6 is off in the namespace, so the kernel sends nothing on the
 * segment). The TAPs are created here, in the root namespace, and moved; the
 * file descriptors stay with this process across the move. Everything goes
 * with the test: the stacks close their TAPs, the namespace (bridge and
 * TAPs inside it) is deleted, the capture process is killed.
 *
 * `capture()` records the bridge with dumpcap (tshark's capture engine): the
 * bridge device is put in promiscuous mode by the capture, so it sees the
 * frames it forwards between ports, not only those addressed to it.
 */
import type { ExecutionContext } from 'ava';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { in6 } from '../../src/ip6/addr.ts';
import type { EtherIf } from '../../src/link/ethernet.ts';
import { TapDriver } from '../../src/link/tapdriver.ts';
import { Stack, type StackOptions } from '../../src/stack.ts';
import { type Netns, createNetns, uniqueIfName, waitFor } from './netns.ts';

const execFileP = promisify(execFile);
const ALL_NODES = in6('ff02::1');

export interface BridgedHost {
  stack: Stack;
  ifp: EtherIf;
  tapName: string;
}

export interface BridgeRig {
  ns: Netns;
  hosts: BridgedHost[];
  /** The bridge's name inside the namespace. */
  bridge: string;
  /** Starts dumpcap on the bridge; resolves once it captures. `stop()` ends it and gives the pcap's path. */
  capture(): Promise<{ stop(): Promise<string> }>;
}

export async function bridgeRig(t: ExecutionContext, o: { hosts?: number; stack?: () => StackOptions } = {}): Promise<BridgeRig> {
  const ns = await createNetns(t);
  for (const k of ['all', 'default']) await ns.exec(['sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
  const bridge = 'br0';
  await ns.exec(['ip', 'link', 'add', bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  const hosts: BridgedHost[] = [];
  for (let i = 0; i < (o.hosts ?? 2); i++) {
    const stack = new Stack(o.stack?.() ?? {});
    t.teardown(() => stack.close());
    const tapName = uniqueIfName('t6b');
    const ifp = stack.addEthernet({ name: tapName, driver: TapDriver.open({ name: tapName }) });
    await execFileP('ip', ['link', 'set', tapName, 'netns', ns.name]);
    await ns.exec(['ip', 'link', 'set', tapName, 'master', bridge]);
    await ns.exec(['ip', 'link', 'set', tapName, 'up']);
    hosts.push({ stack, ifp, tapName });
  }
  await ns.exec(['ip', 'link', 'set', bridge, 'up']);
  // Forward delay 0: the ports forward at once; wait until the bridge says so for each.
  await waitFor('the bridge ports to forward', async () => {
    const { stdout } = await ns.exec(['bridge', '-j', 'link', 'show']);
    const ports = JSON.parse(stdout) as { ifname: string; state?: string }[];
    return hosts.every((h) => ports.some((p) => p.ifname === h.tapName && p.state === 'forwarding')) ? true : undefined;
  });
  for (const h of hosts) h.stack.up(h.ifp);

  const capture = async (): Promise<{ stop(): Promise<string> }> => {
    const dir = mkdtempSync(join(tmpdir(), 'tap6-bridge-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'bridge.pcapng');
    // Without -q dumpcap reports its packet count on stderr as it goes: poke the link (an echo
    // request to all nodes from the first stack) until a packet is counted, so that the
    // capture is known to be live before the caller's traffic starts.
    const c: ChildProcess = ns.spawn(['dumpcap', '-i', bridge, '-w', file]);
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    c.stdout?.resume();
    const exited = new Promise<void>((res) => c.once('exit', () => res()));
    const h = hosts[0]!;
    let seq = 0;
    await waitFor(
      `dumpcap to capture on ${bridge}`,
      async () => {
        if (c.exitCode !== null) throw new Error(`dumpcap exited (${c.exitCode}): ${stderr.trim()}`);
        if (/Packets: [1-9]/.test(stderr)) return true;
        if (stderr.includes('Capturing on')) await h.stack.ping({ dst: ALL_NODES, ifindex: h.ifp.index, seq: ++seq, timeoutMs: 100 }).catch(() => null);
        return undefined;
      },
      20_000,
      200,
    );
    return {
      async stop() {
        c.kill('SIGINT');
        await exited;
        return file;
      },
    };
  };
  return { ns, hosts, bridge, capture };
}
