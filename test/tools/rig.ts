/**
 * Test rig for the tools: two stacks on a virtual link (real clock, so the
 * daemon's timers fire), DAD off so addresses are usable at once, the control
 * server of the first stack on a socket in a fresh temporary directory, and
 * an Io that records what a command prints.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealClock } from '../../src/core/clock.ts';
import { formatIn6 } from '../../src/ip6/addr.ts';
import type { EtherIf } from '../../src/link/ethernet.ts';
import { VirtualLink } from '../../src/link/vlink.ts';
import { Stack } from '../../src/stack.ts';
import type { Io } from '../../tools/cli.ts';
import { CtlServer } from '../../tools/ctl.ts';
import { controlHandlers } from '../../tools/handlers.ts';

export function mac(n: number): Uint8Array {
  return new Uint8Array([0x02, 0, 0, 0, 0, n]);
}

export interface Rig {
  dir: string;
  path: string;
  /** The segment both stacks are on (a raw port can join it: raw.ts). */
  link: VirtualLink;
  a: Stack;
  b: Stack;
  ifa: EtherIf;
  ifb: EtherIf;
  server: CtlServer;
  /** Link-local address of b, with zone as seen from a: "fe80::ff:fe00:2%tap0". */
  peer: string;
  close(): Promise<void>;
}

export async function rig(): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'tap6-tools-'));
  const path = join(dir, 'tap0.sock');
  const clock = new RealClock();
  const link = new VirtualLink({ clock });
  const a = new Stack({ clock });
  const b = new Stack({ clock });
  const ifa = a.addEthernet({ name: 'tap0', driver: link.port(), mac: mac(1) });
  const ifb = b.addEthernet({ name: 'veth0', driver: link.port(), mac: mac(2) });
  a.ip6.if6Of(ifa)!.dadTransmits = 0;
  b.ip6.if6Of(ifb)!.dadTransmits = 0;
  a.up(ifa);
  b.up(ifb);
  const server = await CtlServer.listen({ path, handlers: controlHandlers(a) });
  const bll = b.ip6.if6Of(ifb)!.linkLocal()!;
  return {
    dir,
    path,
    link,
    a,
    b,
    ifa,
    ifb,
    server,
    peer: `${formatIn6(bll.addr)}%tap0`,
    async close() {
      await server.close();
      a.close();
      b.close();
      clock.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Captured extends Io {
  lines: string[];
  errs: string[];
  /** stdout as one string, lines joined with '\n'. */
  readonly text: string;
}

export function capture(extra: Partial<Io> = {}): Captured {
  const lines: string[] = [];
  const errs: string[] = [];
  return {
    lines,
    errs,
    out: (l) => lines.push(l),
    err: (l) => errs.push(l),
    get text() {
      return lines.join('\n');
    },
    ...extra,
  };
}
