/**
 * The client commands of tap6: ifconfig, ndp, route, netstat, ping6, rtsol,
 * sysctl. Each
 * parses its arguments, asks the daemon over the control socket (ctl.ts)
 * and prints text (format.ts) or, with --json, the daemon's JSON.
 *
 * Every command is `(argv, io) → exit status` and writes only through `io`,
 * so tests run them in-process. Failures are one line on io.err; a wrong
 * invocation exits 64 (EX_USAGE) with the command's usage line.
 */
import { parseArgs } from 'node:util';
import { CtlClient, CtlError, resolveCtlPath } from './ctl.ts';
import { MAX_ECHO_DATA } from '../src/icmp6/echo.ts';
import { parseFaultSpec } from '../src/link/fault.ts';
import {
  formatIfconfig,
  formatNdIf,
  formatNdp,
  formatNetstat,
  formatPrefixes,
  formatRouters,
  formatRoutes,
  formatSockets,
  formatSysctl,
  pingHeader,
  pingIcmpError,
  pingReply,
  pingSummary,
  pingTimeout,
  RttStats,
} from './format.ts';
import type {
  IfAddrInfo,
  IfconfigResult,
  ImpairResult,
  NdIfResult,
  NdpPrefixesResult,
  NdpResult,
  NdpRoutersResult,
  NetstatResult,
  PingIcmpErrorEvent,
  PingReplyEvent,
  PingResult,
  PingStart,
  RouteResult,
  RtsolResult,
  SocketsResult,
  SysctlResult,
} from './handlers.ts';

export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Aborted on Ctrl-C: ping6 stops and prints its summary. */
  signal?: AbortSignal;
  /** Directory searched for a daemon's socket when --ctl is not given (default /run/tap6). */
  ctlDir?: string;
}

export const EX_USAGE = 64;

export const USAGES: Record<string, string> = {
  ifconfig:
    'tap6 ifconfig [--ctl PATH] [--json] [-a | IF [inet6 ADDR[/PLEN] [prefixlen N] [alias | -alias | delete] [pltime S] [vltime S] | impair SPEC | -impair]]',
  ndp: 'tap6 ndp [-a | -r | -p | -i IF [accept_rtadv | -accept_rtadv]] [--ctl PATH] [--json]',
  route: 'tap6 route [-n] [--ctl PATH] [--json]',
  netstat: 'tap6 netstat [[-v] [-p tcp|udp] | -s [-p ip6|icmp6|nd6|udp|tcp|if|faults|inetd|...] [-z] | -r] [--ctl PATH] [--json]',
  ping6: 'tap6 ping6 [-c COUNT] [-i SEC] [-s SIZE] [-I IF] [-W SEC] [-t HLIM] [--ctl PATH] DEST',
  rtsol: 'tap6 rtsol [--ctl PATH] [--json] IF',
  sysctl: 'tap6 sysctl [-a | NAME[=VALUE] ...] [-n] [-d] [--ctl PATH] [--json]',
};

export class UsageError extends Error {}

/** parseArgs' messages, first sentence only ("Unknown option '-x'"). */
function parseArgsMessage(e: Error): string {
  const m = e.message;
  const i = m.indexOf('. ');
  return i > 0 ? m.slice(0, i) : m.replace(/\.$/, '');
}

function isParseArgsError(e: unknown): e is Error {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

/**
 * Runs one client command; undefined if `cmd` is not one of them. Catches
 * everything: usage mistakes (64), daemon errors (1, ping6: 2).
 */
export async function runClientCommand(cmd: string, argv: string[], io: Io): Promise<number | undefined> {
  const fn = COMMANDS[cmd];
  if (!fn) return undefined;
  try {
    return await fn(argv, io);
  } catch (e) {
    if (e instanceof UsageError || isParseArgsError(e)) {
      io.err(`tap6: ${cmd}: ${e instanceof UsageError ? e.message : parseArgsMessage(e)}`);
      io.err(`usage: ${USAGES[cmd]}`);
      return EX_USAGE;
    }
    const failCode = cmd === 'ping6' ? 2 : 1;
    if (e instanceof ConnectFailure) {
      io.err(`tap6: ${e.message}`);
      return failCode;
    }
    if (e instanceof CtlError) {
      io.err(`tap6: ${cmd}: ${e.message}`);
      return failCode;
    }
    io.err(`tap6: ${cmd}: ${e instanceof Error ? e.message : String(e)}`);
    return failCode;
  }
}

const COMMANDS: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  ifconfig: cmdIfconfig,
  ndp: cmdNdp,
  route: cmdRoute,
  netstat: cmdNetstat,
  ping6: cmdPing6,
  rtsol: cmdRtsol,
  sysctl: cmdSysctl,
};

/** Not a daemon error: finding or reaching the daemon failed (printed without the command name). */
class ConnectFailure extends Error {}

async function withClient<T>(ctl: string | undefined, io: Io, fn: (c: CtlClient) => Promise<T>): Promise<T> {
  let c: CtlClient;
  try {
    c = await CtlClient.connect(resolveCtlPath(ctl, io.ctlDir));
  } catch (e) {
    throw new ConnectFailure(e instanceof Error ? e.message : String(e));
  }
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

function printJson(io: Io, v: unknown): void {
  io.out(JSON.stringify(v, null, 2));
}

// ---- ifconfig -----------------------------------------------------------------------

/** ifconfig takes BSD words such as '-alias', which parseArgs would read as options; so it is parsed by hand. */
async function cmdIfconfig(argv: string[], io: Io): Promise<number> {
  let ctl: string | undefined;
  let json = false;
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--ctl') {
      ctl = argv[++i];
      if (ctl === undefined) throw new UsageError('--ctl needs a path');
    } else if (a.startsWith('--ctl=')) ctl = a.slice(6);
    else if (a === '--json') json = true;
    else if (a === '-a' && words.length === 0) continue;
    else if (a === '-impair' && words.length === 1) words.push(a);
    else if (a.startsWith('--') || (a.startsWith('-') && words.length < 3)) throw new UsageError(`unknown option '${a}'`);
    else words.push(a);
  }
  const [ifname, family, addr, ...rest] = words;
  if (family === undefined) {
    return withClient(ctl, io, async (c) => {
      const r = (await c.call('ifconfig', ifname !== undefined ? { ifname } : {})) as IfconfigResult;
      if (json) printJson(io, r);
      else for (const l of formatIfconfig(r.interfaces)) io.out(l);
      return 0;
    });
  }
  if (family === 'impair' || family === '-impair') return ifImpair(ctl, io, json, ifname!, family, words.slice(2));
  if (family !== 'inet6') throw new UsageError(`address family '${family}' is not supported (only inet6)`);
  if (addr === undefined) throw new UsageError('inet6 needs an address, e.g. 2001:db8::1/64');
  const args: Record<string, unknown> = { ifname, addr, op: 'add' };
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i]!;
    if (w === 'alias' || w === 'add') args['op'] = 'add';
    else if (w === '-alias' || w === 'delete' || w === 'remove') args['op'] = 'delete';
    else if (w === 'prefixlen' || w === 'pltime' || w === 'vltime') {
      const v = rest[++i];
      if (v === undefined || !/^[0-9]+$/.test(v)) throw new UsageError(`${w} needs a non-negative integer`);
      args[w === 'prefixlen' ? 'plen' : w] = Number(v);
    } else throw new UsageError(`unknown word '${w}'`);
  }
  return withClient(ctl, io, async (c) => {
    const r = (await c.call('ifaddr', args)) as IfAddrInfo;
    if (json) printJson(io, r);
    return 0;
  });
}

/**
 * ifconfig IF impair SPEC sets the link's fault injector (replacing any
 * spec before), ifconfig IF -impair removes it. The spec is checked here
 * first, so a typing mistake is a usage error.
 */
async function ifImpair(ctl: string | undefined, io: Io, json: boolean, ifname: string, word: 'impair' | '-impair', values: string[]): Promise<number> {
  let spec: string | null = null;
  if (word === '-impair') {
    if (values.length > 0) throw new UsageError(`-impair takes no value, got '${values[0]}'`);
  } else {
    if (values.length === 0) throw new UsageError('impair needs a spec, e.g. loss=2%,reorder=5%,dup=1%,delay=5ms');
    if (values.length > 1) throw new UsageError(`unknown word '${values[1]}' (one spec, comma-separated, no spaces)`);
    const p = parseFaultSpec(values[0]!);
    if (!p.ok) throw new UsageError(`impair: ${p.error}`);
    spec = values[0]!;
  }
  return withClient(ctl, io, async (c) => {
    const r = (await c.call('impair', { ifname, spec })) as ImpairResult;
    if (json) printJson(io, r);
    return 0;
  });
}

// ---- ndp, route, netstat ----------------------------------------------------------------

/**
 * ndp in the BSD manner: -a the neighbor cache (the default), -r default
 * routers, -p prefixes, -i IF the interface's ND variables and flags
 * (`accept_rtadv` / `-accept_rtadv` set the flag). Parsed by hand for the
 * '-accept_rtadv' word.
 */
async function cmdNdp(argv: string[], io: Io): Promise<number> {
  let ctl: string | undefined;
  let json = false;
  const modes = new Set<'a' | 'r' | 'p' | 'i'>();
  let ifname: string | undefined;
  let acceptRtadv: boolean | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--ctl') {
      ctl = argv[++i];
      if (ctl === undefined) throw new UsageError('--ctl needs a path');
    } else if (a.startsWith('--ctl=')) ctl = a.slice(6);
    else if (a === '--json') json = true;
    else if (a === '-i') {
      modes.add('i');
      ifname = argv[++i];
      if (ifname === undefined || ifname.startsWith('-')) throw new UsageError('-i needs an interface');
    } else if (a === 'accept_rtadv' || a === '-accept_rtadv') {
      if (ifname === undefined) throw new UsageError(`'${a}' goes after -i IF`);
      acceptRtadv = a === 'accept_rtadv';
    } else if (/^-[anrp]+$/.test(a)) {
      for (const f of a.slice(1)) if (f !== 'n') modes.add(f as 'a' | 'r' | 'p');
    } else if (a.startsWith('-')) throw new UsageError(`Unknown option '${a}'`);
    else throw new UsageError(`unknown word '${a}'`);
  }
  if (modes.size > 1) throw new UsageError('choose one of -a, -r, -p, -i IF');
  const mode = [...modes][0] ?? 'a';
  return withClient(ctl, io, async (c) => {
    switch (mode) {
      case 'a': {
        const r = (await c.call('ndp')) as NdpResult;
        if (json) printJson(io, r);
        else for (const l of formatNdp(r.neighbors)) io.out(l);
        break;
      }
      case 'r': {
        const r = (await c.call('ndp.routers')) as NdpRoutersResult;
        if (json) printJson(io, r);
        else for (const l of formatRouters(r.routers)) io.out(l);
        break;
      }
      case 'p': {
        const r = (await c.call('ndp.prefixes')) as NdpPrefixesResult;
        if (json) printJson(io, r);
        else for (const l of formatPrefixes(r.prefixes)) io.out(l);
        break;
      }
      case 'i': {
        const r = (await c.call('ndp.ifinfo', { ifname, ...(acceptRtadv !== undefined ? { acceptRtadv } : {}) })) as NdIfResult;
        if (json) printJson(io, r);
        else for (const l of formatNdIf(r)) io.out(l);
        break;
      }
    }
    return 0;
  });
}

/** rtsol IF: the daemon solicits routers on IF now; quiet on success (`ndp -r` shows what answered). */
async function cmdRtsol(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ctl: { type: 'string' }, json: { type: 'boolean' } },
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing interface' : `one interface only, got ${positionals.join(' ')}`);
  return withClient(values.ctl, io, async (c) => {
    const r = (await c.call('rtsol', { ifname: positionals[0] })) as RtsolResult;
    if (values.json) printJson(io, r);
    return 0;
  });
}

/**
 * sysctl as BSD has it: NAME reads (a node such as net.inet6.icmp6 reads
 * everything below it), NAME=VALUE sets and prints `NAME: old -> new`,
 * nothing or -a reads everything; -n values only, -d descriptions.
 */
async function cmdSysctl(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      all: { type: 'boolean', short: 'a' },
      values: { type: 'boolean', short: 'n' },
      descriptions: { type: 'boolean', short: 'd' },
      ctl: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.all && positionals.length > 0) throw new UsageError('-a takes no names');
  const ops = positionals.map((p) => {
    const i = p.indexOf('=');
    if (i === 0) throw new UsageError(`'${p}': a name goes before '='`);
    return i > 0 ? { name: p.slice(0, i), value: p.slice(i + 1) } : { name: p };
  });
  return withClient(values.ctl, io, async (c) => {
    const r = (await c.call('sysctl', { ops })) as SysctlResult;
    if (values.json) printJson(io, r);
    else for (const l of formatSysctl(r.entries, { valuesOnly: values.values ?? false, descriptions: values.descriptions ?? false })) io.out(l);
    return 0;
  });
}

async function cmdRoute(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { numeric: { type: 'boolean', short: 'n' }, ctl: { type: 'string' }, json: { type: 'boolean' } },
    strict: true,
  });
  return withClient(values.ctl, io, async (c) => {
    const r = (await c.call('route')) as RouteResult;
    if (values.json) printJson(io, r);
    else for (const l of formatRoutes(r.routes, r.pmtu)) io.out(l);
    return 0;
  });
}

async function cmdNetstat(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      stats: { type: 'boolean', short: 's' },
      routes: { type: 'boolean', short: 'r' },
      numeric: { type: 'boolean', short: 'n' },
      proto: { type: 'string', short: 'p' },
      zeros: { type: 'boolean', short: 'z' },
      verbose: { type: 'boolean', short: 'v' },
      ctl: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.stats && values.routes) throw new UsageError('-s and -r cannot be combined');
  if (values.verbose && (values.stats || values.routes)) throw new UsageError('-v goes with the socket list (no -s or -r)');
  return withClient(values.ctl, io, async (c) => {
    if (!values.stats && !values.routes) {
      // BSD's default: the open sockets (-p tcp or udp: one kind).
      const r = (await c.call('sockets', values.proto !== undefined ? { proto: values.proto } : {})) as SocketsResult;
      if (values.json) printJson(io, r);
      else for (const l of formatSockets(r.sockets, { verbose: values.verbose ?? false })) io.out(l);
      return 0;
    }
    if (values.routes) {
      const r = (await c.call('route')) as RouteResult;
      if (values.json) printJson(io, r);
      else for (const l of formatRoutes(r.routes, r.pmtu)) io.out(l);
      return 0;
    }
    const r = (await c.call('netstat', values.proto !== undefined ? { proto: values.proto } : {})) as NetstatResult;
    if (values.json) printJson(io, r);
    else for (const l of formatNetstat(r, values.zeros ?? false)) io.out(l);
    return 0;
  });
}

// ---- ping6 ----------------------------------------------------------------------------

function numberOpt(v: string | undefined, name: string, lo: number, hi: number, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < lo || n > hi || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${name}: expected ${integer ? 'an integer' : 'a number'} in ${lo}..${hi}, got '${v}'`);
  }
  return n;
}

/**
 * iputils' exit status: 0 some reply; 1 no reply (lost, or answered by
 * ICMPv6 errors); 2 none could be sent (local errors only).
 */
export function pingExitCode(r: Pick<PingResult, 'received' | 'errors' | 'icmpErrors'>): number {
  if (r.received > 0) return 0;
  return r.errors > 0 && r.icmpErrors === 0 ? 2 : 1;
}

/**
 * ping6 as iputils ping prints it. The daemon sends and times the requests
 * and streams each outcome; Ctrl-C (io.signal) cancels the request and the
 * summary covers what happened so far. A request answered by an ICMPv6
 * error prints `From ADDR icmp_seq=N Destination unreachable: ...` and
 * counts in `+N errors`. Exit: 0 some reply, 1 no reply, 2 error (bad
 * address, cannot send, no daemon).
 */
async function cmdPing6(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      count: { type: 'string', short: 'c' },
      interval: { type: 'string', short: 'i' },
      size: { type: 'string', short: 's' },
      interface: { type: 'string', short: 'I' },
      timeout: { type: 'string', short: 'W' },
      hlim: { type: 'string', short: 't' },
      ctl: { type: 'string' },
    },
    strict: true,
  });
  if (positionals.length === 0) throw new UsageError('missing destination');
  if (positionals.length > 1) throw new UsageError(`one destination only, got ${positionals.join(' ')}`);
  const dest = positionals[0]!;
  const count = numberOpt(values.count, '-c', 1, 1e9, true);
  const interval = numberOpt(values.interval, '-i', 0.001, 3600, false);
  if (values.size !== undefined && /^[0-9]+$/.test(values.size) && Number(values.size) > MAX_ECHO_DATA) {
    throw new UsageError(`-s ${values.size}: too large; at most ${MAX_ECHO_DATA} data bytes (16 MiB), and above 65527 only where a jumbogram fits (lo0)`);
  }
  const size = numberOpt(values.size, '-s', 0, MAX_ECHO_DATA, true);
  const timeout = numberOpt(values.timeout, '-W', 0.001, 3600, false);
  const hlim = numberOpt(values.hlim, '-t', 1, 255, true);
  const args: Record<string, unknown> = { dst: dest, count: count ?? 0 };
  if (interval !== undefined) args['intervalMs'] = interval * 1000;
  if (size !== undefined) args['size'] = size;
  if (timeout !== undefined) args['timeoutMs'] = timeout * 1000;
  if (hlim !== undefined) args['hlim'] = hlim;
  if (values.interface !== undefined) args['ifname'] = values.interface;

  return withClient(values.ctl, io, async (c) => {
    const tally = { transmitted: 0, received: 0, errors: 0, icmpErrors: 0, rtts: new RttStats(), t0: performance.now() };
    const req = c.request('ping6', args, (event, data) => {
      switch (event) {
        case 'start': {
          const s = data as unknown as PingStart;
          io.out(pingHeader(dest, s.dst, s.size));
          break;
        }
        case 'sent':
          tally.transmitted++;
          break;
        case 'reply': {
          const r = data as unknown as PingReplyEvent;
          tally.received++;
          tally.rtts.add(r.rttMs);
          io.out(pingReply(r));
          break;
        }
        case 'timeout':
          io.out(pingTimeout(Number(data['seq'])));
          break;
        case 'icmp':
          tally.errors++;
          tally.icmpErrors++;
          io.out(pingIcmpError(data as unknown as PingIcmpErrorEvent));
          break;
        case 'error':
          tally.errors++;
          io.err(`tap6: ping6: ${String(data['message'])}`);
          break;
      }
    });
    // On Ctrl-C: ask the daemon to stop; its totals follow at once. Should they not, give up after a second.
    const gaveUp = new Promise<null>((resolve) => {
      const stop = () => {
        c.cancel(req.id).catch(() => {});
        setTimeout(() => resolve(null), 1000).unref();
      };
      if (io.signal?.aborted) stop();
      else io.signal?.addEventListener('abort', stop, { once: true });
    });
    const result = (await Promise.race([req.done, gaveUp])) as PingResult | null;
    // Cancelled, and the daemon did not answer in time: summarise what we saw.
    const summary: Pick<PingResult, 'transmitted' | 'received' | 'errors' | 'icmpErrors' | 'timeMs' | 'rtt'> = result ?? {
      transmitted: tally.transmitted,
      received: tally.received,
      errors: tally.errors,
      icmpErrors: tally.icmpErrors,
      timeMs: Math.round(performance.now() - tally.t0),
      rtt: tally.rtts.result(),
    };
    io.out('');
    for (const l of pingSummary(dest, summary)) io.out(l);
    return pingExitCode(summary);
  });
}
