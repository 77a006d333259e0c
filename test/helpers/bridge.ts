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
 * `capture()` records the bridge with tcpdump (decode the file with tshark):
 * the capture puts the bridge device in promiscuous mode, so it sees the
 * frames the bridge forwards between ports, not only those addressed to it.
 * The capture is synchronised at both ends with a marker frame (see there),
 * so that nothing sent between start() and stop() is missed.
 */
import type { ExecutionContext } from 'ava';
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import type { EtherIf } from '../../src/link/ethernet.ts';
import { TapDriver } from '../../src/link/tapdriver.ts';
import { Stack, type StackOptions } from '../../src/stack.ts';
import { type Netns, createNetns, uniqueIfName, waitFor } from './netns.ts';

const execFileP = promisify(execFile);
const ALL_NODES = in6('ff02::1');
let syncs = 0;

export interface BridgedHost {
  stack: Stack;
  ifp: EtherIf;
  tapName: string;
  /** The stack's link-local address on its TAP (DAD done). */
  ll: Uint8Array;
}

export interface BridgeRig {
  ns: Netns;
  hosts: BridgedHost[];
  /** The bridge's name inside the namespace. */
  bridge: string;
  /** Starts tcpdump on the bridge; resolves once it captures. `stop()` ends it and gives the pcap's path. */
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
    hosts.push({ stack, ifp, tapName, ll: new Uint8Array(16) });
  }
  await ns.exec(['ip', 'link', 'set', bridge, 'up']);
  // Forward delay 0: the ports forward at once; wait until the bridge says so for each.
  await waitFor('the bridge ports to forward', async () => {
    const { stdout } = await ns.exec(['bridge', '-j', 'link', 'show']);
    const ports = JSON.parse(stdout) as { ifname: string; state?: string }[];
    return hosts.every((h) => ports.some((p) => p.ifname === h.tapName && p.state === 'forwarding')) ? true : undefined;
  });
  for (const h of hosts) h.stack.up(h.ifp);
  // Link-local addresses past DAD: the capture markers are sent from them (a tentative one would
  // leave source selection to pick whatever global address the test adds later).
  for (const h of hosts) {
    const st = h.stack.ip6.if6Of(h.ifp)!;
    h.ll = (await waitFor(`${h.tapName}'s link-local address to pass DAD`, () => st.addrs.find((a) => a.addr[0] === 0xfe && (a.addr[1]! & 0xc0) === 0x80 && !(a.flags & IN6_IFF.TENTATIVE)), 10_000)).addr;
  }

  const capture = async (): Promise<{ stop(): Promise<string> }> => {
    const dir = mkdtempSync(join(tmpdir(), 'tap6-bridge-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'bridge.pcap');
    // Immediate mode (no TPACKET_V3 block timeout) and -U (each packet written at once): a
    // frame on the bridge is in the file soon after. Both ends are synchronised on a marker:
    // an echo request to all nodes from the first stack's link-local address carrying a unique text, sent until it
    // is in the file. Frames are captured in order, so once the closing marker is in the file
    // everything sent before it is too.
    const c: ChildProcess = ns.spawn(['tcpdump', '-i', bridge, '--immediate-mode', '-U', '-s', '0', '-w', file]);
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    c.stdout?.resume();
    const exited = new Promise<void>((res) => c.once('exit', () => res()));
    const h = hosts[0]!;
    const sync = async (what: string): Promise<void> => {
      const mark = Buffer.from(`tap6-capture-sync-${what}-${++syncs}`);
      let seq = 0;
      await waitFor(
        `the capture on ${bridge} to record its ${what} marker`,
        async () => {
          if (c.exitCode !== null) throw new Error(`tcpdump exited (${c.exitCode}): ${stderr.trim()}`);
          if (existsSync(file) && readFileSync(file).includes(mark)) return true;
          if (stderr.includes('listening on')) await h.stack.ping({ dst: ALL_NODES, src: h.ll, ifindex: h.ifp.index, seq: ++seq, data: mark, timeoutMs: 100 }).catch(() => null);
          return undefined;
        },
        20_000,
        100,
      );
    };
    await sync('start');
    return {
      async stop() {
        await sync('stop');
        c.kill('SIGINT');
        await exited;
        return file;
      },
    };
  };
  return { ns, hosts, bridge, capture };
}
