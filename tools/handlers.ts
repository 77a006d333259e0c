/**
 * The daemon's side of the control socket: each command reads the stack and
 * answers with plain JSON (the `--json` output of the tools), or changes the
 * stack (addresses) and answers with what it did. Text formatting is the
 * client's business (format.ts), so scripts and people see the same data.
 *
 * Addresses are text at this boundary: "fe80::1%tap0", prefixes
 * "fe80::%tap0/64"; times are whole seconds remaining, null for "never".
 */
import { formatIn6, isUnspecified, parseIn6 } from '../src/ip6/addr.ts';
import { formatAddrFlags, needsZone } from '../src/ip6/ifaddr.ts';
import { formatFlags as formatRouteFlags, maskPrefix } from '../src/ip6/route.ts';
import { ICMP6_TYPE_NAMES } from '../src/icmp6/stats.ts';
import { EchoError, type EchoResult, MAX_ECHO_DATA } from '../src/icmp6/echo.ts';
import type { In6Ifaddr } from '../src/ip6/ifaddr.ts';
import { formatFaultSpec } from '../src/link/fault.ts';
import { IFF, type Ifnet } from '../src/link/ifnet.ts';
import { formatMac } from '../src/link/mac.ts';
import type { Stack } from '../src/stack.ts';
import type { TcpCb } from '../src/tcp/tcpcb.ts';
import { CtlError, type Handler, type HandlerCtx } from './ctl.ts';
import { RttStats } from './format.ts';
import { type Oid, type SysctlValue, applySysctl, parseSysctlValue, selectOids, sysctlOids } from './sysctl.ts';

// ---- result shapes (the --json output) ------------------------------------------

export interface IfAddrInfo {
  /** Address without zone. */
  addr: string;
  /** "fe80::1%tap0" for scoped addresses, else as addr. */
  text: string;
  plen: number;
  flags: number;
  flagNames: string[];
  /** Zone index (RFC 4007) of a scoped address, null otherwise. */
  scopeid: number | null;
  /** Seconds left of the preferred / valid lifetime, null if infinite. */
  pltime: number | null;
  vltime: number | null;
}

export interface IfInfo {
  name: string;
  index: number;
  type: string;
  flags: number;
  flagNames: string[];
  mtu: number;
  ether: string | null;
  addrs: IfAddrInfo[];
  /** Joined IPv6 multicast groups. */
  groups: string[];
  /** RFC 4861 §6.3.2 host variables; null if IPv6 is not attached. */
  nd: { curHopLimit: number; retransTimer: number; reachableTime: number; dadTransmits: number; linkMtu: number } | null;
  /** The link's fault injector (`ifconfig IF impair SPEC`), present only when one is set. */
  impair?: ImpairInfo;
}

export interface ImpairInfo {
  /** The spec in the form `impair` takes ("loss=2%,delay=5ms,tx.dup=1%"); '' if every value is 0. */
  spec: string;
  /** Seed of the injector's generator (to reproduce a run on the virtual link). */
  seed: number;
  /** The injector's counters (netstat -s: 'faults IF'). */
  counters: Record<string, number>;
}

export interface ImpairResult {
  ifname: string;
  /** null once removed. */
  impair: ImpairInfo | null;
}

export interface IfconfigResult {
  interfaces: IfInfo[];
}

export interface NeighborJson {
  addr: string;
  text: string;
  ifname: string;
  zone: number;
  lladdr: string | null;
  state: string;
  isRouter: boolean;
  /** Seconds until the state times out (may be 0: expired), null if it does not. */
  expire: number | null;
}

export interface NdpResult {
  neighbors: NeighborJson[];
}

export interface RouteJson {
  /** "fe80::%tap0/64", "2001:db8::1" (host routes without /128). */
  destination: string;
  dst: string;
  plen: number;
  /** Gateway address, or "link#N" for a connected route. */
  gateway: string;
  flags: number;
  flagNames: string;
  netif: string;
  ifindex: number;
  origin: string;
  /** Seconds left, null if the route does not expire. */
  expire: number | null;
  mtu: number;
  use: number;
}

export interface PmtuJson {
  /** "2001:db8::1", "fe80::1%tap0". */
  destination: string;
  dst: string;
  /** Zone (interface index) of a scoped destination, 0 otherwise. */
  zone: number;
  mtu: number;
  /** Seconds until the estimate ages out and the link MTU is tried again. */
  expire: number;
}

export interface RouteResult {
  routes: RouteJson[];
  /** The Path MTU cache (RFC 8201): what Packet Too Big taught us. */
  pmtu: PmtuJson[];
}

export interface CounterJson {
  name: string;
  value: number;
  description: string;
}

export interface HistEntry {
  type: number;
  name: string;
  count: number;
}

export interface NetstatResult {
  sets: { name: string; counters: CounterJson[]; histograms?: { input: HistEntry[]; output: HistEntry[] } }[];
}

export interface PingStart {
  dst: string;
  size: number;
}

export interface PingReplyEvent {
  seq: number;
  from: string;
  bytes: number;
  hlim: number;
  rttMs: number;
  dataOk: boolean;
}

/** An ICMPv6 error answered an echo request (ping's "From X icmp_seq=N Destination unreachable: ..."). */
export interface PingIcmpErrorEvent {
  seq: number;
  /** Who sent the error: "fe80::1%tap0". */
  from: string;
  type: number;
  code: number;
  /** "Destination unreachable: Address unreachable". */
  text: string;
}

export interface PingResult {
  dst: string;
  size: number;
  transmitted: number;
  received: number;
  /** Requests that failed: answered by an ICMPv6 error, or not sent. */
  errors: number;
  /** Of `errors`, those answered by an ICMPv6 error. */
  icmpErrors: number;
  timeMs: number;
  rtt: { min: number; avg: number; max: number; mdev: number } | null;
}

// ---- argument checks ---------------------------------------------------------------

function einval(message: string): CtlError {
  return new CtlError('EINVAL', message);
}

function optString(args: Record<string, unknown>, key: string): string | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw einval(`'${key}' must be a string`);
  return v;
}

function optNumber(args: Record<string, unknown>, key: string, lo: number, hi: number, integer: boolean): number | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
    throw einval(`'${key}' must be ${integer ? 'an integer' : 'a number'} in ${lo}..${hi}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function lookupIf(stack: Stack, name: string): Ifnet {
  const ifp = stack.ifs.lookup(name);
  if (!ifp) throw new CtlError('ENXIO', `${name}: no such interface`);
  return ifp;
}

/** Whole seconds left until a clock time (ms), rounded up (a lifetime of 100 s set just now shows 100); null for Infinity. */
function secondsLeft(until: number, now: number): number | null {
  if (until === Infinity) return null;
  return Math.max(0, Math.ceil((until - now) / 1000));
}

// ---- ifconfig ------------------------------------------------------------------------

export function ifconfig(stack: Stack, ifname?: string): IfconfigResult {
  const list = ifname !== undefined ? [lookupIf(stack, ifname)] : stack.ifs.list();
  return { interfaces: list.map((ifp) => ifInfo(stack, ifp)) };
}

type AddrLike = Pick<In6Ifaddr, 'addr' | 'plen' | 'flags' | 'preferredUntil' | 'validUntil'>;

function addrInfo(stack: Stack, ifp: Ifnet, ia: AddrLike, now: number): IfAddrInfo {
  const scoped = needsZone(ia.addr);
  return {
    addr: formatIn6(ia.addr),
    text: stack.formatAddress(ia.addr, scoped ? ifp.index : 0),
    plen: ia.plen,
    flags: ia.flags,
    flagNames: formatAddrFlags(ia.flags),
    scopeid: scoped ? ifp.index : null,
    pltime: secondsLeft(ia.preferredUntil, now),
    vltime: secondsLeft(ia.validUntil, now),
  };
}

function ifInfo(stack: Stack, ifp: Ifnet): IfInfo {
  const st = stack.ip6.if6Of(ifp);
  const now = stack.clock.now();
  const names = Object.entries(IFF)
    .filter(([, v]) => ifp.flags & v)
    .map(([k]) => k);
  return {
    name: ifp.name,
    index: ifp.index,
    type: ifp.type,
    flags: ifp.flags,
    flagNames: names,
    mtu: ifp.mtu,
    ether: ifp.lladdr ? formatMac(ifp.lladdr) : null,
    addrs: (st?.addrs ?? []).map((ia) => addrInfo(stack, ifp, ia, now)),
    groups: st ? [...st.groups.entries()].map(([g]) => stack.formatAddress(g, needsZone(g) ? ifp.index : 0)) : [],
    nd: st
      ? { curHopLimit: st.curHopLimit, retransTimer: st.retransTimer, reachableTime: st.reachableTime, dadTransmits: st.dadTransmits, linkMtu: st.linkMtu }
      : null,
    ...impairOf(stack, ifp.name),
  };
}

function impairOf(stack: Stack, ifname: string): { impair?: ImpairInfo } {
  const e = stack.impairment(ifname);
  if (!e) return {};
  const fi = e.injector;
  return { impair: { spec: formatFaultSpec(fi.spec('tx'), fi.spec('rx')), seed: e.seed, counters: { ...fi.stats.c } } };
}

/**
 * ifconfig IF impair SPEC | -impair: {ifname, spec} sets or replaces the
 * link's fault injector (both directions; `tx.`/`rx.` keys for one), spec
 * null removes it.
 */
export function impair(stack: Stack, args: Record<string, unknown>): ImpairResult {
  const ifname = optString(args, 'ifname');
  if (!ifname) throw einval("'ifname' is required");
  if (args['spec'] === undefined) throw einval("'spec' is required (null removes the impairment)");
  const spec = optString(args, 'spec') ?? null;
  const ifp = lookupIf(stack, ifname);
  const r = stack.setImpairment(ifp.name, spec);
  if (!r.ok) throw einval(r.error);
  return { ifname: ifp.name, impair: impairOf(stack, ifp.name).impair ?? null };
}

/** Parses "ADDR", "ADDR/PLEN" or "fe80::2%tap0/64" for interface `ifp`. */
function parsePrefixArg(text: string, ifp: Ifnet, defaultPlen: number | undefined): { addr: Uint8Array; plen: number | undefined } {
  const slash = text.indexOf('/');
  const addrText = slash >= 0 ? text.slice(0, slash) : text;
  const r = parseIn6(addrText);
  if (!r.ok) throw einval(`${text}: not an IPv6 address`);
  if (r.value.zone !== null && r.value.zone !== ifp.name && r.value.zone !== String(ifp.index)) {
    throw einval(`${text}: zone '${r.value.zone}' is not interface ${ifp.name}`);
  }
  let plen = defaultPlen;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > 128) throw einval(`${text}: bad prefix length '${p}' (0..128)`);
    plen = Number(p);
  }
  return { addr: r.value.addr, plen };
}

/** ifconfig IF inet6 ADDR[/PLEN] [alias|-alias] [pltime S] [vltime S]. */
export function ifaddr(stack: Stack, args: Record<string, unknown>): IfAddrInfo {
  const ifname = optString(args, 'ifname');
  const text = optString(args, 'addr');
  const op = optString(args, 'op') ?? 'add';
  if (!ifname) throw einval("'ifname' is required");
  if (!text) throw einval("'addr' is required");
  if (op !== 'add' && op !== 'delete') throw einval(`'op' must be 'add' or 'delete', got '${op}'`);
  const ifp = lookupIf(stack, ifname);
  const explicitPlen = optNumber(args, 'plen', 0, 128, true);
  const { addr, plen } = parsePrefixArg(text, ifp, explicitPlen ?? 64);
  const describe = (ia: AddrLike): IfAddrInfo => addrInfo(stack, ifp, ia, stack.clock.now());
  if (op === 'delete') {
    const r = stack.ip6.deleteAddress(ifp, addr);
    if (!r.ok) throw new CtlError('EADDRNOTAVAIL', r.error);
    return describe(r.value);
  }
  const pltime = optNumber(args, 'pltime', 0, 0xffffffff, true);
  const vltime = optNumber(args, 'vltime', 0, 0xffffffff, true);
  const r = stack.ip6.addAddress(ifp, addr, plen ?? 64, {
    ...(pltime !== undefined ? { pltime } : {}),
    ...(vltime !== undefined ? { vltime } : {}),
  });
  if (!r.ok) throw new CtlError(/File exists/.test(r.error) ? 'EEXIST' : 'EINVAL', r.error);
  return describe(r.value);
}

// ---- ndp -----------------------------------------------------------------------------

export function ndp(stack: Stack): NdpResult {
  return {
    neighbors: stack.nd6.neighbors().map((n) => ({
      addr: formatIn6(n.addr),
      text: stack.formatAddress(n.addr, n.zone),
      ifname: n.ifname,
      zone: n.zone,
      lladdr: n.lladdr ? formatMac(n.lladdr) : null,
      state: n.state,
      isRouter: n.isRouter,
      expire: n.expiresInMs === null ? null : Math.max(0, Math.ceil(n.expiresInMs / 1000)),
    })),
  };
}

// ---- ndp -r, -p, -i --------------------------------------------------------------------

export interface RouterJson {
  addr: string;
  /** "fe80::1%tap0". */
  text: string;
  ifname: string;
  /** RFC 4191 Default Router Preference. */
  preference: 'high' | 'medium' | 'low';
  /** Seconds of router lifetime left. */
  expire: number | null;
  /** The M and O flags of the router's last advertisement. */
  managed: boolean;
  other: boolean;
}

export interface NdpRoutersResult {
  routers: RouterJson[];
}

const PREFERENCE = { '1': 'high', '0': 'medium', '-1': 'low' } as const;

export function ndpRouters(stack: Stack): NdpRoutersResult {
  const now = stack.clock.now();
  return {
    routers: stack.rtr.routerList().map((r) => ({
      addr: formatIn6(r.addr),
      text: stack.formatAddress(r.addr, r.ifp.index),
      ifname: r.ifp.name,
      preference: PREFERENCE[r.preference],
      expire: secondsLeft(r.expiresAt, now),
      managed: r.managed,
      other: r.other,
    })),
  };
}

export interface PrefixJson {
  /** "2001:db8:1::/64". */
  prefix: string;
  ifname: string;
  /** On the prefix list (the L flag: on-link). */
  onLink: boolean;
  /** Addresses were formed from it (the A flag: SLAAC). */
  autonomous: boolean;
  /**
   * Seconds until the prefix expires: its valid lifetime on the prefix list,
   * else the longest valid lifetime of its addresses; null for infinity.
   */
  expire: number | null;
  /** The addresses autoconfigured from the prefix. */
  addresses: (IfAddrInfo & { temporary: boolean })[];
}

export interface NdpPrefixesResult {
  prefixes: PrefixJson[];
}

export function ndpPrefixes(stack: Stack): NdpPrefixesResult {
  const now = stack.clock.now();
  const byKey = new Map<string, PrefixJson & { until: number }>();
  const entry = (ifp: Ifnet, prefix: Uint8Array, plen: number) => {
    const text = `${formatIn6(maskPrefix(prefix, plen))}/${plen}`;
    const key = `${ifp.index} ${text}`;
    let e = byKey.get(key);
    if (!e) byKey.set(key, (e = { prefix: text, ifname: ifp.name, onLink: false, autonomous: false, expire: null, addresses: [], until: 0 }));
    return e;
  };
  for (const p of stack.rtr.prefixList()) {
    const e = entry(p.ifp, p.prefix, p.plen);
    e.onLink = true;
    e.until = p.expiresAt;
  }
  for (const a of stack.slaac.addresses()) {
    const e = entry(a.ia.ifp, a.ia.addr, a.ia.plen);
    e.autonomous = true;
    e.addresses.push({ ...addrInfo(stack, a.ia.ifp, a.ia, now), temporary: a.temporary });
    if (!e.onLink) e.until = Math.max(e.until, a.ia.validUntil);
  }
  return {
    prefixes: [...byKey.values()].map(({ until, ...e }) => ({ ...e, expire: secondsLeft(until, now) })),
  };
}

export interface NdIfResult {
  ifname: string;
  index: number;
  /** RFC 4861 §6.3.2 host variables; times in ms. */
  curHopLimit: number;
  reachableTime: number;
  baseReachableTime: number;
  retransTimer: number;
  /** DupAddrDetectTransmits. */
  dadTransmits: number;
  /** The MTU used on the link: an advertised MTU, else the interface's. */
  linkMtu: number;
  acceptRtadv: boolean;
  /** IPv6 disabled after a duplicated link-local address. */
  disabled: boolean;
  /** BSD-style flag words: accept_rtadv, ifdisabled. */
  flags: string[];
  /** RFC 8106 recursive DNS servers and search domains learned on the interface. */
  dns: { kind: 'rdnss' | 'dnssl'; value: string; expire: number | null }[];
}

/** ndp -i IF [accept_rtadv | -accept_rtadv]. */
export function ndpIfinfo(stack: Stack, args: Record<string, unknown>): NdIfResult {
  const ifname = optString(args, 'ifname');
  if (!ifname) throw einval("'ifname' is required");
  const ifp = lookupIf(stack, ifname);
  const st = stack.ip6.if6Of(ifp);
  if (!st) throw new CtlError('ENXIO', `${ifp.name}: IPv6 is not attached`);
  const set = args['acceptRtadv'];
  if (set !== undefined && set !== null && typeof set !== 'boolean') throw einval("'acceptRtadv' must be a boolean");
  const cfg = stack.rtr.config(ifp);
  if (typeof set === 'boolean') cfg.acceptRtadv = set;
  const now = stack.clock.now();
  const flags: string[] = [];
  if (cfg.acceptRtadv) flags.push('accept_rtadv');
  if (st.disabled) flags.push('ifdisabled');
  return {
    ifname: ifp.name,
    index: ifp.index,
    curHopLimit: st.curHopLimit,
    reachableTime: st.reachableTime,
    baseReachableTime: st.baseReachableTime,
    retransTimer: st.retransTimer,
    dadTransmits: st.dadTransmits,
    linkMtu: st.mtu,
    acceptRtadv: cfg.acceptRtadv,
    disabled: st.disabled,
    flags,
    dns: stack.rtr
      .dns()
      .filter((d) => d.ifp === ifp)
      .map((d) => ({ kind: d.kind, value: d.value, expire: secondsLeft(d.expiresAt, now) })),
  };
}

// ---- rtsol -----------------------------------------------------------------------------

export interface RtsolResult {
  ifname: string;
  soliciting: boolean;
}

/** rtsol IF: (re)starts Router Solicitation on an interface now (RFC 4861 §6.3.7). */
export function rtsol(stack: Stack, args: Record<string, unknown>): RtsolResult {
  const ifname = optString(args, 'ifname');
  if (!ifname) throw einval("'ifname' is required");
  const ifp = lookupIf(stack, ifname);
  if (!ifp.lladdr) throw new CtlError('EOPNOTSUPP', `${ifp.name} has no link-layer address: routers are solicited on Ethernet interfaces`);
  if (!ifp.up) throw new CtlError('ENETDOWN', `${ifp.name} is down`);
  if (stack.ip6.forwarding) throw new CtlError('EPERM', 'forwarding is on');
  if (!stack.rtr.config(ifp).acceptRtadv) throw new CtlError('EPERM', `accept_rtadv is off on ${ifp.name}`);
  if (!stack.rtr.startSolicit(ifp)) throw new CtlError('EPERM', `${ifp.name}: router solicitation refused`);
  return { ifname: ifp.name, soliciting: true };
}

// ---- sysctl ----------------------------------------------------------------------------

export interface SysctlEntry {
  name: string;
  value: SysctlValue;
  /** The value before, when this request set it. */
  old?: SysctlValue;
  writable: boolean;
  description: string;
}

export interface SysctlResult {
  entries: SysctlEntry[];
}

/**
 * sysctl: `ops` in order, each {name} to read (a node name reads what is
 * below it) or {name, value} (text) to set; none: everything. Every op is
 * checked before any is applied, so a bad one changes nothing.
 */
export function sysctl(stack: Stack, args: Record<string, unknown>): SysctlResult {
  const raw = args['ops'] ?? [];
  if (!Array.isArray(raw)) throw einval("'ops' must be an array");
  type Step = { read: Oid[] } | { write: { oid: Oid; value: SysctlValue } };
  const steps: Step[] = [];
  for (const op of raw as unknown[]) {
    if (typeof op !== 'object' || op === null || typeof (op as { name?: unknown }).name !== 'string') throw einval("each op needs a 'name'");
    const { name, value } = op as { name: string; value?: unknown };
    if (value === undefined || value === null) {
      const oids = selectOids(name);
      if (oids.length === 0) throw new CtlError('ENOENT', `unknown oid '${name}'`);
      steps.push({ read: oids });
      continue;
    }
    if (typeof value !== 'string') throw einval(`${name}: the value must be text`);
    const p = parseSysctlValue(name, value);
    if (!p.ok) throw new CtlError(p.code, p.error);
    steps.push({ write: p.value });
  }
  if (steps.length === 0) steps.push({ read: [...sysctlOids()] });
  const entries: SysctlEntry[] = [];
  const describe = (o: Oid): SysctlEntry => ({
    name: o.name,
    value: o.get(stack),
    writable: o.set !== undefined,
    description: o.description,
  });
  for (const s of steps) {
    if ('read' in s) for (const o of s.read) entries.push(describe(o));
    else {
      const old = applySysctl(stack, s.write.oid, s.write.value);
      entries.push({ ...describe(s.write.oid), old });
    }
  }
  return { entries };
}

// ---- route ---------------------------------------------------------------------------

export function route(stack: Stack): RouteResult {
  const now = stack.clock.now();
  return {
    routes: stack.ip6.routes.list().map((r) => {
      const netif = stack.ifs.get(r.ifindex)?.name ?? `#${r.ifindex}`;
      const dst = formatIn6(r.dst);
      const base = needsZone(r.dst) ? `${dst}%${netif}` : dst;
      return {
        destination: r.plen === 128 ? base : `${base}/${r.plen}`,
        dst,
        plen: r.plen,
        gateway: r.gateway ? stack.formatAddress(r.gateway, r.ifindex) : `link#${r.ifindex}`,
        flags: r.flags,
        flagNames: formatRouteFlags(r.flags),
        netif,
        ifindex: r.ifindex,
        origin: r.origin,
        expire: secondsLeft(r.expiresAt, now),
        mtu: r.mtu,
        use: r.use,
      };
    }),
    pmtu: stack.ip6.pmtu
      .list()
      .sort((a, b) => a.zone - b.zone || formatIn6(a.dst).localeCompare(formatIn6(b.dst)))
      .map((e) => ({
        destination: stack.formatAddress(e.dst, e.zone),
        dst: formatIn6(e.dst),
        zone: e.zone,
        mtu: e.mtu,
        expire: secondsLeft(e.expiresAt, now) ?? 0,
      })),
  };
}

// ---- netstat -s ----------------------------------------------------------------------

/** Protocols `-p` accepts: the first word of each counter set's name (ip6, icmp6, nd6, if, pcap, ...). */
export function protocolsOf(stack: Stack): string[] {
  return [...new Set(stack.counters.all().map((s) => s.name.split(' ')[0]!))];
}

export function netstat(stack: Stack, proto?: string): NetstatResult {
  const sets = stack.counters.all().filter((s) => proto === undefined || s.name === proto || s.name.startsWith(`${proto} `));
  if (proto !== undefined && sets.length === 0) throw einval(`unknown protocol '${proto}' (known: ${protocolsOf(stack).join(', ')})`);
  return {
    sets: sets.map((s) => {
      const out: NetstatResult['sets'][number] = {
        name: s.name,
        counters: s.keys.map((k) => ({ name: k, value: s.c[k], description: s.descriptions[k] })),
      };
      if (s === stack.icmp6.stats) out.histograms = { input: hist(stack.icmp6.inHist), output: hist(stack.icmp6.outHist) };
      return out;
    }),
  };
}

function hist(h: Float64Array): HistEntry[] {
  const out: HistEntry[] = [];
  for (let t = 0; t < 256; t++) if (h[t]) out.push({ type: t, name: ICMP6_TYPE_NAMES[t] ?? `#${t}`, count: h[t]! });
  return out;
}

// ---- ping6 ---------------------------------------------------------------------------

/**
 * ping6: one echo request per interval (stack.ping), events streamed as they
 * happen — start, sent, reply, timeout, error — and the totals at the end.
 * count 0 pings until cancelled. A first request that cannot be sent at all
 * (no route, no source address) fails the command, as ping does.
 */
export async function ping6(stack: Stack, args: Record<string, unknown>, ctx: HandlerCtx): Promise<PingResult> {
  const dstText = optString(args, 'dst');
  if (!dstText) throw einval("'dst' is required");
  const count = optNumber(args, 'count', 0, 1e9, true) ?? 0;
  const intervalMs = optNumber(args, 'intervalMs', 1, 3_600_000, false) ?? 1000;
  const size = optNumber(args, 'size', 0, MAX_ECHO_DATA, true) ?? 56;
  const timeoutMs = optNumber(args, 'timeoutMs', 1, 3_600_000, false) ?? 10_000;
  const hlim = optNumber(args, 'hlim', 1, 255, true);
  const ifname = optString(args, 'ifname');
  const ifp = ifname !== undefined ? lookupIf(stack, ifname) : undefined;
  const p = stack.parseAddress(dstText, ifp?.index ?? 0);
  if (!p.ok) throw einval(p.error);
  const { addr, zone } = p.value;
  if (ifp && needsZone(addr) && zone !== ifp.index) throw einval(`${dstText}: the zone names another interface than -I ${ifp.name}`);
  const dst = stack.formatAddress(addr, zone);
  ctx.emit('start', { dst, size } satisfies PingStart);

  const clock = stack.clock;
  const id = stack.rng.below(0x10000);
  const t0 = clock.now();
  const rtts = new RttStats();
  let transmitted = 0;
  let errors = 0;
  let icmpErrors = 0;
  let finished = false;
  /** A request failed: answered by an ICMPv6 error (an event on stdout), or not sent (an error line). */
  const failed = (seq: number, e: unknown): void => {
    errors++;
    if (e instanceof EchoError && e.icmp) {
      icmpErrors++;
      const from = stack.formatAddress(e.icmp.from, e.icmp.zone);
      ctx.emit('icmp', { seq, from, type: e.icmp.type, code: e.icmp.code, text: icmpText(e) } satisfies PingIcmpErrorEvent);
      return;
    }
    ctx.emit('error', { seq, code: e instanceof EchoError ? e.code : 'EIO', message: `${dst}: ${stripPrefix((e as Error).message, `ping ${formatIn6(addr)}: `)}` });
  };
  const outstanding = new Set<Promise<void>>();
  const aborted = new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const onAbort = () => {
        t.cancel();
        resolve();
      };
      const t = clock.timer(ms, () => {
        ctx.signal.removeEventListener('abort', onAbort);
        resolve();
      });
      ctx.signal.addEventListener('abort', onAbort, { once: true });
    });

  for (let seq = 1; count === 0 || seq <= count; seq++) {
    if (ctx.signal.aborted) break;
    transmitted++;
    ctx.emit('sent', { seq });
    const req = stack.ping({
      dst: addr,
      zone,
      id,
      seq: seq & 0xffff,
      size,
      timeoutMs,
      ...(hlim !== undefined ? { hlim } : {}),
      ...(ifp ? { ifindex: ifp.index } : {}),
    });
    // A request that could not be sent is rejected before this turn ends.
    // (race() subscribes to req first, so an already rejected req wins over the resolved marker.)
    const early = await Promise.race([req, NOT_YET]).then(
      () => null,
      (e: unknown) => e,
    );
    if (early !== null) {
      if (seq === 1 && !(early instanceof EchoError && early.icmp)) {
        const code = early instanceof EchoError ? early.code : 'EIO';
        throw new CtlError(code, `${dst}: ${stripPrefix((early as Error).message, `ping ${formatIn6(addr)}: `)}`);
      }
      failed(seq, early);
    } else {
      const tracked = req.then(
        (r: EchoResult | null) => {
          if (finished) return;
          if (r) {
            rtts.add(r.rttMs);
            ctx.emit('reply', {
              seq,
              from: stack.formatAddress(r.from, r.zone),
              bytes: r.bytes,
              hlim: r.hlim,
              rttMs: r.rttMs,
              dataOk: r.dataOk,
            } satisfies PingReplyEvent);
          } else ctx.emit('timeout', { seq });
        },
        (e: unknown) => {
          if (!finished) failed(seq, e);
        },
      );
      outstanding.add(tracked);
      void tracked.then(() => outstanding.delete(tracked));
    }
    if (count !== 0 && seq === count) break;
    await sleep(intervalMs);
  }
  while (outstanding.size > 0 && !ctx.signal.aborted) await Promise.race([Promise.all([...outstanding]), aborted]);
  finished = true;
  return { dst, size, transmitted, received: rtts.n, errors, icmpErrors, timeMs: Math.round(clock.now() - t0), rtt: rtts.result() };
}

/** "Destination unreachable: Address unreachable": the EchoError's message without its "From ADDR: ". */
function icmpText(e: EchoError): string {
  const m = /^From [^ ]+: (.*)$/s.exec(e.message);
  return m ? m[1]! : e.message;
}

const NOT_YET = Promise.resolve('pending' as const);

function stripPrefix(s: string, prefix: string): string {
  return s.startsWith(prefix) ? s.slice(prefix.length) : s;
}

// ---- netstat (sockets) -----------------------------------------------------------------

/** A TCP connection's timers and windows (netstat -v). Times in ms; null: no sample yet, or infinite. */
export interface TcpInfoJson {
  /** Smoothed round-trip time (RFC 6298), null before the first sample. */
  srtt: number | null;
  rttvar: number | null;
  /** The retransmission timeout now (backed off included). */
  rto: number;
  /** Congestion window and slow-start threshold in bytes; ssthresh null while infinite. */
  cwnd: number;
  ssthresh: number | null;
  /** 'cubic' or 'newreno'. */
  cc: string;
  /** Effective send MSS (data bytes per segment). */
  mss: number;
  /** The peer's window, and the window we offer, in bytes. */
  sndWnd: number;
  rcvWnd: number;
  /** Bytes sent and not yet acknowledged. */
  flight: number;
  /** Consecutive retransmissions of the current segment. */
  rexmits: number;
  /** The last soft error (an ICMPv6 error kept, RFC 5927), if any. */
  softError: string | null;
}

export interface SocketRow {
  /** 'tcp6' or 'udp6'. */
  proto: string;
  /** Bytes received and not yet read by the application; for a listener, connections waiting to be accepted. */
  recvQ: number;
  /** Bytes in the send buffer (not yet acknowledged); 0 for UDP and listeners. */
  sendQ: number;
  /** BSD form: "fe80::1%tap0.7", "*.7"; "*.*" for no peer. */
  local: string;
  foreign: string;
  /** TCP state (ESTABLISHED, LISTEN, TIME_WAIT, …); '' for UDP. */
  state: string;
  /** TCP connections only. */
  tcp?: TcpInfoJson;
  /** TCP listeners only: half-open connections, connections waiting for accept, the backlog. */
  listen?: { synQueue: number; acceptQueue: number; backlog: number };
}

export interface SocketsResult {
  sockets: SocketRow[];
}

/** `-p` for the socket listing. */
const SOCKET_PROTOS = ['tcp', 'udp'] as const;

function tcpInfo(cb: TcpCb): TcpInfoJson {
  const finite = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? null : n);
  return {
    srtt: finite(cb.rtt.srtt),
    rttvar: finite(cb.rtt.rttvar),
    rto: cb.rtt.rto,
    cwnd: cb.cc.cwnd,
    ssthresh: finite(cb.cc.ssthresh),
    cc: cb.cc.name,
    mss: cb.mss,
    sndWnd: cb.sndWnd,
    rcvWnd: cb.rcvWindow(),
    flight: cb.flight,
    rexmits: cb.rexmits,
    softError: cb.softError,
  };
}

/**
 * Open sockets, BSD netstat's default listing: TCP connections, TCP
 * listeners, then UDP sockets; `proto` ('tcp' or 'udp') keeps one kind.
 */
export function sockets(stack: Stack, proto?: string): SocketsResult {
  if (proto !== undefined && !(SOCKET_PROTOS as readonly string[]).includes(proto.replace(/6$/, ''))) {
    throw einval(`unknown protocol '${proto}' for the socket list (tcp or udp)`);
  }
  const want = (p: string) => proto === undefined || proto.replace(/6$/, '') === p;
  const text = (a: Uint8Array, zone: number, port: number) => `${isUnspecified(a) ? '*' : stack.formatAddress(a, zone)}.${port === 0 ? '*' : port}`;
  const rows: SocketRow[] = [];
  if (want('tcp')) {
    for (const cb of stack.tcp.connections()) {
      rows.push({
        proto: 'tcp6',
        recvQ: cb.rcvQueued,
        sendQ: cb.snd.length,
        local: text(cb.laddr, cb.zone, cb.lport),
        foreign: text(cb.faddr, cb.zone, cb.fport),
        state: cb.state,
        tcp: tcpInfo(cb),
      });
    }
    for (const l of stack.tcp.listenerList()) {
      rows.push({
        proto: 'tcp6',
        recvQ: l.acceptQueue.length,
        sendQ: 0,
        local: text(l.laddr, l.lzone, l.lport),
        foreign: '*.*',
        state: 'LISTEN',
        listen: { synQueue: l.synQueue.size, acceptQueue: l.acceptQueue.length, backlog: l.backlog },
      });
    }
  }
  if (want('udp')) {
    for (const p of stack.udp.pcbs()) {
      rows.push({
        proto: 'udp6',
        recvQ: 0,
        sendQ: 0,
        local: text(p.laddr, p.lzone, p.lport),
        foreign: p.faddr ? text(p.faddr, p.fzone, p.fport) : '*.*',
        state: '',
      });
    }
  }
  return { sockets: rows };
}

// ---- the table -------------------------------------------------------------------------

/** Every control command the daemon serves. */
export function controlHandlers(stack: Stack): Record<string, Handler> {
  return {
    ifconfig: (args) => ifconfig(stack, optString(args, 'ifname')),
    ifaddr: (args) => ifaddr(stack, args),
    impair: (args) => impair(stack, args),
    ndp: () => ndp(stack),
    route: () => route(stack),
    netstat: (args) => netstat(stack, optString(args, 'proto')),
    sockets: (args) => sockets(stack, optString(args, 'proto')),
    ping6: (args, ctx) => ping6(stack, args, ctx),
    rtsol: (args) => rtsol(stack, args),
    sysctl: (args) => sysctl(stack, args),
    'ndp.routers': () => ndpRouters(stack),
    'ndp.prefixes': () => ndpPrefixes(stack),
    'ndp.ifinfo': (args) => ndpIfinfo(stack, args),
  };
}
