/**
 * `tap6 up --tap NAME`: runs a stack in the foreground on a TAP (created if
 * missing; the interface in the stack takes the TAP's name), brings the link
 * up on both sides, prints the interface once duplicate address detection is
 * over, and serves the control socket until SIGINT or SIGTERM. Shutting down
 * closes the control socket (and removes its file), the stack and the TAP,
 * and flushes the capture. A failure at start is one line on stderr.
 *
 * Start-up knobs: `--sysctl NAME=VALUE` (repeatable; the names of `tap6
 * sysctl`) and the conveniences --no-accept-rtadv, --forwarding, --ifid,
 * --temp-addresses, --optimistic-dad are applied after the interface is
 * attached and before it comes up, conveniences first, then the --sysctl
 * settings in order. `--stable-secret FILE` gives the RFC 7217 secret, so
 * that autoconfigured addresses stay the same across restarts.
 *
 * `--impair SPEC` (repeatable, the pieces joined by commas) puts the fault
 * injector on the TAP, both directions (`tx.`/`rx.` keys for one):
 * `--impair loss=2%,reorder=5%,dup=1%,delay=5ms`, as `tap6 ifconfig IF impair`
 * does at run time. The kernels here have no netem; this is tap6's own.
 *
 * Once the interface is up, `--services` starts inetd's internal services
 * (each on UDP and TCP) and `--http PORT` the status page (status.ts) on the
 * stack's own TCP.
 */
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { LogLevel } from '../src/core/log.ts';
import { ConsoleLogger } from '../src/core/log.ts';
import { IN6_IFF } from '../src/ip6/ifaddr.ts';
import { ETHER_MTU_RANGE, type EtherIf } from '../src/link/ethernet.ts';
import { checkIfName } from '../src/link/ifnet.ts';
import { formatFaultSpec, parseFaultSpec } from '../src/link/fault.ts';
import { PcapWriter } from '../src/link/pcap.ts';
import { TapError, tapUnavailableReason } from '../src/link/tap/index.ts';
import { TapDriver } from '../src/link/tapdriver.ts';
import { Inetd, type ServiceName, parseServices } from '../src/inetd.ts';
import { Stack } from '../src/stack.ts';
import { CtlServer, DEFAULT_CTL_DIR, type Handler, defaultCtlPath, ensureCtlDir } from './ctl.ts';
import { formatIfconfig } from './format.ts';
import { controlHandlers, ifconfig } from './handlers.ts';
import { setkeyHandlers } from './setkey-run.ts';
import { StatusServer } from './status.ts';
import { type Oid, type SysctlValue, applySysctl, parseSysctlValue, splitAssignment } from './sysctl.ts';

export const UP_USAGE =
  'tap6 up --tap NAME [--ctl PATH] [--pcap FILE] [--impair SPEC ...] [--mtu N] [--log-level debug|info|warn|error] [--sysctl NAME=VALUE ...] [--no-accept-rtadv] [--forwarding] [--ifid stable|eui64] [--temp-addresses] [--optimistic-dad] [--stable-secret FILE] [--services echo,discard,daytime,chargen] [--http PORT]';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export interface UpIo {
  out(line: string): void;
  err(line: string): void;
  /** Resolves when the daemon should stop (default: SIGINT or SIGTERM). */
  stop?: Promise<unknown>;
}

export class StartError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

function tapErrorMessage(name: string, e: unknown): string {
  if (!(e instanceof TapError)) return `cannot open TAP ${name}: ${e instanceof Error ? e.message : String(e)}`;
  switch (e.code) {
    case 'EPERM':
    case 'EACCES':
      return `cannot open TAP ${name}: permission denied (needs root or CAP_NET_ADMIN)`;
    case 'EBUSY':
      return `TAP ${name} is busy (another process has it open; is another 'tap6 up --tap ${name}' running?)`;
    case 'EINVAL':
      return `cannot open TAP ${name}: ${e.message} (is ${name} a TUN device or not a TAP?)`;
    default:
      return `cannot open TAP ${name}: ${e.message}`;
  }
}

export interface UpSetting {
  name: string;
  oid: Oid;
  value: SysctlValue;
}

export interface UpOptions {
  tap: string;
  ctl: string;
  ctlIsDefault: boolean;
  pcap?: string;
  /** Fault injector spec for the TAP, both directions (parseFaultSpec's text; several --impair joined by commas). */
  impair?: string;
  mtu?: number;
  level: LogLevel;
  /** Applied in this order before the interface comes up. */
  sysctls: UpSetting[];
  /** File holding the RFC 7217 secret. */
  stableSecret?: string;
  /** inetd internal services to run (echo, discard, daytime, chargen), each on UDP and TCP. */
  services: ServiceName[];
  /** TCP port of the status page (tap6's own TCP), if one is served. */
  http?: number;
}

/** Checks `tap6 up` arguments without touching anything; StartError (exit 64) on a mistake. */
export function parseUpArgs(argv: string[]): UpOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        tap: { type: 'string' },
        ctl: { type: 'string' },
        pcap: { type: 'string' },
        impair: { type: 'string', multiple: true },
        mtu: { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        sysctl: { type: 'string', multiple: true },
        'no-accept-rtadv': { type: 'boolean' },
        forwarding: { type: 'boolean' },
        ifid: { type: 'string' },
        'temp-addresses': { type: 'boolean' },
        'optimistic-dad': { type: 'boolean' },
        'stable-secret': { type: 'string' },
        services: { type: 'string' },
        http: { type: 'string' },
      },
      strict: true,
    }));
  } catch (e) {
    const m = (e as Error).message;
    throw new StartError(m.includes('. ') ? m.slice(0, m.indexOf('. ')) : m, 64);
  }
  if (!values.tap) throw new StartError('--tap NAME is required', 64);
  const bad = checkIfName(values.tap);
  if (bad) throw new StartError(`--tap: ${bad}`, 64);
  const level = values['log-level'] as LogLevel;
  if (!LEVELS.includes(level)) throw new StartError(`--log-level must be one of ${LEVELS.join(', ')}, got '${values['log-level']}'`, 64);
  let mtu: number | undefined;
  if (values.mtu !== undefined) {
    const [lo, hi] = ETHER_MTU_RANGE;
    mtu = Number(values.mtu);
    if (!/^[0-9]+$/.test(values.mtu) || mtu < lo || mtu > hi) throw new StartError(`--mtu must be an integer ${lo}..${hi}, got '${values.mtu}'`, 64);
  }
  if (values.ifid !== undefined && values.ifid !== 'stable' && values.ifid !== 'eui64') {
    throw new StartError(`--ifid must be stable or eui64, got '${values.ifid}'`, 64);
  }
  if (values['stable-secret'] === '') throw new StartError('--stable-secret needs a file', 64);
  let services: ServiceName[] = [];
  if (values.services !== undefined) {
    try {
      services = parseServices(values.services);
    } catch (e) {
      throw new StartError(`--services: ${(e as Error).message}`, 64);
    }
  }
  let http: number | undefined;
  if (values.http !== undefined) {
    http = Number(values.http);
    if (!/^[0-9]{1,5}$/.test(values.http) || http < 1 || http > 65535) throw new StartError(`--http must be a port 1..65535, got '${values.http}'`, 64);
  }
  // Several --impair are one spec: "--impair loss=2% --impair tx.delay=5ms" is "loss=2%,tx.delay=5ms".
  let impair: string | undefined;
  if (values.impair !== undefined) {
    impair = values.impair.join(',');
    const p = parseFaultSpec(impair);
    if (!p.ok) throw new StartError(`--impair: ${p.error}`, 64);
  }
  // The conveniences are sysctl settings under another name; explicit --sysctl ones follow and win.
  const texts: [string, string, string][] = [];
  if (values['no-accept-rtadv']) texts.push(['--no-accept-rtadv', 'net.inet6.ip6.accept_rtadv', '0']);
  if (values.forwarding) texts.push(['--forwarding', 'net.inet6.ip6.forwarding', '1']);
  if (values.ifid !== undefined) texts.push(['--ifid', 'net.inet6.ip6.ifid', values.ifid]);
  if (values['temp-addresses']) texts.push(['--temp-addresses', 'net.inet6.ip6.use_tempaddr', '1']);
  if (values['optimistic-dad']) texts.push(['--optimistic-dad', 'net.inet6.ip6.optimistic_dad', '1']);
  for (const a of values.sysctl ?? []) {
    const kv = splitAssignment(a);
    if (!kv.ok) throw new StartError(`--sysctl ${kv.error}`, 64);
    texts.push(['--sysctl', kv.value.name, kv.value.value]);
  }
  const sysctls = texts.map(([flag, name, text]) => {
    const p = parseSysctlValue(name, text);
    if (!p.ok) throw new StartError(`${flag}: ${p.error}`, 64);
    return { name, ...p.value };
  });
  return {
    tap: values.tap,
    ctl: values.ctl ?? defaultCtlPath(values.tap),
    ctlIsDefault: values.ctl === undefined,
    ...(values.pcap !== undefined ? { pcap: values.pcap } : {}),
    ...(impair !== undefined ? { impair } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
    level,
    sysctls,
    ...(values['stable-secret'] !== undefined ? { stableSecret: values['stable-secret'] } : {}),
    services,
    ...(http !== undefined ? { http } : {}),
  };
}

/** RFC 7217 wants a secret of at least 128 bits. */
export const MIN_SECRET_BYTES = 16;
const MAX_SECRET_FILE = 64 * 1024;

/**
 * The secret in a --stable-secret file: hex text (whitespace ignored, e.g.
 * `openssl rand -hex 32`) or, failing that, the raw bytes (`head -c 32
 * /dev/urandom`). At least 16 bytes either way; the error is the sentence to print.
 */
export function decodeStableSecret(file: Uint8Array): { ok: true; value: Uint8Array } | { ok: false; error: string } {
  const text = Buffer.from(file.buffer, file.byteOffset, file.byteLength).toString('latin1').replace(/\s+/g, '');
  if (text.length > 0 && /^(?:[0-9a-fA-F]{2})+$/.test(text)) {
    const b = new Uint8Array(Buffer.from(text, 'hex'));
    if (b.length < MIN_SECRET_BYTES) return { ok: false, error: `${b.length} bytes of hex; at least ${MIN_SECRET_BYTES} bytes (${2 * MIN_SECRET_BYTES} hex digits) are needed` };
    return { ok: true, value: b };
  }
  if (file.length < MIN_SECRET_BYTES) return { ok: false, error: `${file.length} bytes; at least ${MIN_SECRET_BYTES} are needed (hex text or raw bytes)` };
  return { ok: true, value: file.slice() };
}

/** Reads and decodes a --stable-secret file; StartError (exit 1) with the reason. */
export function readStableSecret(path: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    if (statSync(path).size > MAX_SECRET_FILE) throw new StartError(`--stable-secret ${path}: larger than ${MAX_SECRET_FILE} bytes; is it the right file?`);
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof StartError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new StartError(`--stable-secret ${path}: ${why}`);
  }
  const d = decodeStableSecret(bytes);
  if (!d.ok) throw new StartError(`--stable-secret ${path}: ${d.error}`);
  return d.value;
}

function signalled(): { promise: Promise<string>; dispose(): void } {
  let handler: (sig: string) => void = () => {};
  const promise = new Promise<string>((resolve) => {
    handler = (sig) => resolve(sig);
  });
  const onInt = () => handler('SIGINT');
  const onTerm = () => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    promise,
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the daemon; resolves with the exit status once it has stopped. */
export async function runUp(argv: string[], io: UpIo): Promise<number> {
  const sig = io.stop ? null : signalled();
  const stop = io.stop ?? sig!.promise;
  let server: CtlServer | null = null;
  let stack: Stack | null = null;
  let inetd: Inetd | null = null;
  let status: StatusServer | null = null;
  let failed: string | null = null;
  try {
    const o = parseUpArgs(argv);
    const secret = o.stableSecret !== undefined ? readStableSecret(o.stableSecret) : undefined;
    const reason = tapUnavailableReason();
    if (reason) throw new StartError(/\((EACCES|EPERM)\)/.test(reason) ? `${reason}: tap6 up needs root or CAP_NET_ADMIN` : reason);
    if (o.ctlIsDefault) {
      try {
        ensureCtlDir(DEFAULT_CTL_DIR);
      } catch (e) {
        throw new StartError(`cannot create ${DEFAULT_CTL_DIR}: ${(e as Error).message}`);
      }
    }
    // The socket first (it may belong to a running daemon), the stack once it is ours; the table fills in below.
    const log = new ConsoleLogger(o.level);
    const handlers: Record<string, Handler> = {};
    try {
      server = await CtlServer.listen({ path: o.ctl, handlers, log: (m) => log.log('warn', 'ctl', m) });
    } catch (e) {
      throw new StartError((e as Error).message);
    }
    stack = new Stack({ log, ...(secret ? { stableSecret: secret } : {}) });
    Object.assign(handlers, controlHandlers(stack), setkeyHandlers(stack));
    let drv: TapDriver;
    try {
      drv = TapDriver.open({ name: o.tap, ...(o.mtu !== undefined ? { mtu: o.mtu } : {}) });
    } catch (e) {
      throw new StartError(tapErrorMessage(o.tap, e));
    }
    const mtu = o.mtu ?? drv.tap.mtu;
    if (mtu < ETHER_MTU_RANGE[0]) {
      drv.close();
      throw new StartError(`TAP ${drv.name} has MTU ${mtu}, below the IPv6 minimum of 1280; use --mtu`);
    }
    let ifp: EtherIf;
    try {
      ifp = stack.addEthernet({ name: drv.name, driver: drv, mtu });
    } catch (e) {
      drv.close();
      throw new StartError(`${drv.name}: ${(e as Error).message}`);
    }
    if (o.impair !== undefined) {
      const r = stack.setImpairment(ifp.name, o.impair);
      if (!r.ok) throw new StartError(`--impair: ${r.error}`, 64);
      log.log('warn', 'link', `${ifp.name}: impaired (${formatFaultSpec(r.value!.injector.spec('tx'), r.value!.injector.spec('rx')) || 'nothing'}), seed ${r.value!.seed}`);
    }
    if (o.pcap) {
      let pcap: PcapWriter;
      try {
        pcap = new PcapWriter({ path: o.pcap, clock: stack.clock, onError: (e) => log.log('warn', 'pcap', `capture stopped: ${e.message}`) });
      } catch (e) {
        throw new StartError(`--pcap ${o.pcap}: ${(e as Error).message}`);
      }
      ifp.filters.add(pcap);
      stack.counters.register(pcap.stats);
    }
    for (const set of o.sysctls) {
      const old = applySysctl(stack, set.oid, set.value);
      log.log('info', 'sysctl', `${set.name}: ${old} -> ${set.value}`);
    }
    const lost = new Promise<string>((resolve) => drv.tap.onError((e) => resolve(`TAP ${drv.name} failed: ${e.message}`)));
    drv.tap.setUp(true);
    stack.up(ifp);
    io.out(`tap6: ${ifp.name} up (index ${ifp.index}), control socket ${o.ctl}`);
    if (o.services.length > 0) {
      inetd = new Inetd(stack);
      stack.counters.register(inetd.stats);
      try {
        await inetd.start(o.services);
      } catch (e) {
        throw new StartError(`--services: ${(e as Error).message}`);
      }
      io.out(`tap6: services ${inetd.endpoints().map((e) => `${e.name} ${e.port}/${e.proto}`).join(', ')}`);
    }
    if (o.http !== undefined) {
      try {
        status = await StatusServer.start(stack, { port: o.http });
      } catch (e) {
        throw new StartError(`--http ${o.http}: ${(e as Error).message}`);
      }
      io.out(`tap6: status page on port ${o.http}/tcp: / (HTML) and /json`);
    }

    // Show the addresses once DAD is over (bounded: DupAddrDetectTransmits × RetransTimer plus the start delay).
    const st = stack.ip6.if6Of(ifp)!;
    const deadline = performance.now() + st.dadTransmits * st.retransTimer + 3000;
    const ended = { now: false };
    void Promise.race([stop, lost]).then(() => (ended.now = true));
    while (!ended.now && performance.now() < deadline && st.addrs.some((a) => a.flags & IN6_IFF.TENTATIVE)) await sleep(50);
    if (!ended.now) for (const l of formatIfconfig(ifconfig(stack, ifp.name).interfaces)) io.out(l);

    failed = await Promise.race([stop.then(() => null), lost]);
  } catch (e) {
    const start = e instanceof StartError;
    io.err(`tap6: up: ${e instanceof Error ? e.message : String(e)}`);
    if (start && e.exitCode === 64) io.err(`usage: ${UP_USAGE}`);
    return start ? e.exitCode : 1;
  } finally {
    await server?.close();
    status?.close();
    inetd?.close();
    stack?.close();
    sig?.dispose();
  }
  if (failed) {
    io.err(`tap6: up: ${failed}`);
    return 1;
  }
  io.out('tap6: stopped');
  return 0;
}
