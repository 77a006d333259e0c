/**
 * The bench's own kernel peer: a namespace holding the kernel side of a new
 * TAP, a tap6 stack on our side with its link-local address past DAD, and the
 * kernel's link-local address. `down()` removes everything (idempotent; also
 * run at process exit).
 */
import { execFileSync } from 'node:child_process';
import { formatIn6 } from '../src/ip6/addr.ts';
import { IN6_IFF } from '../src/ip6/ifaddr.ts';
import { TapDriver } from '../src/link/tapdriver.ts';
import { Stack } from '../src/stack.ts';

export interface KernelRig {
  ns: string;
  tapName: string;
  stack: Stack;
  /** Our link-local address with its zone, as text. */
  ll: string;
  /** The kernel's link-local address (no zone). */
  kll: string;
  down(): void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function openKernelRig(label: string): Promise<KernelRig> {
  const ns = `tap6bench-${label}-${process.pid}`;
  const tapName = `t6b${label.slice(0, 1)}${(process.pid % 1000000).toString(36)}`;
  const stack = new Stack();
  let done = false;
  const down = (): void => {
    if (done) return;
    done = true;
    process.off('exit', down);
    stack.close();
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      /* not created */
    }
  };
  process.on('exit', down);
  try {
    execFileSync('ip', ['netns', 'add', ns]);
    const ifp = stack.addEthernet({ name: tapName, driver: TapDriver.open({ name: tapName }) });
    execFileSync('ip', ['link', 'set', tapName, 'netns', ns]);
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${tapName}.accept_dad=0`]);
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', tapName, 'up']);
    stack.up(ifp);
    const st = stack.ip6.if6Of(ifp)!;
    for (let i = 0; i < 300 && st.addrs.some((a) => a.flags & IN6_IFF.TENTATIVE); i++) await sleep(10);
    const ll = `${formatIn6(st.addrs.find((a) => a.addr[0] === 0xfe)!.addr)}%${tapName}`;
    let kll = '';
    for (let i = 0; i < 100 && !kll; i++) {
      const j = JSON.parse(execFileSync('ip', ['netns', 'exec', ns, 'ip', '-6', '-j', 'addr', 'show', 'dev', tapName], { encoding: 'utf8' })) as {
        addr_info?: { local: string; scope: string }[];
      }[];
      kll = j[0]?.addr_info?.find((a) => a.scope === 'link')?.local ?? '';
      if (!kll) await sleep(20);
    }
    return { ns, tapName, stack, ll, kll, down };
  } catch (e) {
    down();
    throw e;
  }
}
