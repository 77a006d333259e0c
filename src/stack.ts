/**
 * Stack: wires the layers together (DESIGN §1) and is the control API the
 * daemon and applications use. Time, randomness and logging are injected;
 * by default a stack runs on the real clock with the crypto RNG.
 */
import { RxBurst } from './core/burst.ts';
import { type Clock, RealClock } from './core/clock.ts';
import { CounterRegistry, type CounterSet } from './core/counters.ts';
import { type Logger, nullLogger } from './core/log.ts';
import { err, ok, type Result } from './core/result.ts';
import { CryptoRng, type Rng, SeededRng } from './core/rng.ts';
import { EchoError, type EchoResult, type PingOptions } from './icmp6/echo.ts';
import { Icmp6 } from './icmp6/icmp6.ts';
import { formatIn6, parseIn6 } from './ip6/addr.ts';
import { needsZone } from './ip6/ifaddr.ts';
import { Ip6 } from './ip6/ip6.ts';
import { type AttachOptions, attachIpsec } from './ipsec/hooks.ts';
import { Ipsec, type IpsecOptions } from './ipsec/ipsec.ts';
import type { LinkDriver } from './link/driver.ts';
import { ETHER_HDR_LEN } from './link/ether.ts';
import { EtherIf } from './link/ethernet.ts';
import { FaultInjector, type ImpairSpec, parseFaultSpec } from './link/fault.ts';
import type { Ifnet } from './link/ifnet.ts';
import { IfnetTable } from './link/iftable.ts';
import { LOOP_HDR_LEN, LoopbackIf } from './link/loopback.ts';
import { randomLocalMac } from './link/mac.ts';
import { Mld6 } from './nd6/mld6.ts';
import { Nd6 } from './nd6/nd6.ts';
import { RouterDiscovery, type RtrLimits } from './nd6/rtr.ts';
import { type IfIdMode, Slaac } from './nd6/slaac.ts';
import { type DgramHost, type RemoteInfo, type Socket, type SocketOptions, createSocket } from './udp/socket.ts';
import { Udp6 } from './udp/udp.ts';
import { netApi } from './tcp/socket.ts';
import { Tcp6 } from './tcp/tcp.ts';
import type { TcpConfig } from './tcp/tcpcb.ts';

export interface StackOptions {
  clock?: Clock;
  rng?: Rng;
  log?: Logger;
  /** MTU of lo0 (default 131072, above 65,535 for jumbograms). */
  loMtu?: number;
  /** Interface identifiers for SLAAC: RFC 7217 'stable' (default) or 'eui64'. */
  ifid?: IfIdMode;
  /** RFC 7217 secret (at least 16 bytes); random per start when absent. */
  stableSecret?: Uint8Array;
  /** RFC 8981 temporary addresses (default off). */
  tempAddresses?: boolean;
  /** RFC 4429 Optimistic DAD for autoconfigured addresses (default off). */
  optimisticDad?: boolean;
  /** Bounds on routers, prefixes, route information and ND options per RA. */
  rtrLimits?: Partial<RtrLimits>;
  /** TCP tunables (buffers, timers, congestion control). */
  tcp?: Partial<TcpConfig>;
  /**
   * IPsec: crypto backend, table bounds, KAME defaults, and `defer` for asynchronous crypto.
   * `false` leaves IPsec out of the data path (`ip6.ipsec` null, no ESP/AH in the protocol
   * switch: received ESP/AH is an unknown next header), as a build without it would be; for
   * measuring what the hooks cost. The tables still exist, empty: setkey refuses to fill them,
   * and per-socket policies are not enforced.
   */
  ipsec?: (Omit<IpsecOptions, 'clock' | 'rng'> & AttachOptions) | false;
}

export interface ScopedAddress {
  addr: Uint8Array;
  /** Interface index of the zone, 0 if none. */
  zone: number;
}

export class Stack {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly log: Logger;
  readonly counters = new CounterRegistry();
  readonly ifs = new IfnetTable();
  readonly lo: LoopbackIf;
  readonly ip6: Ip6;
  readonly icmp6: Icmp6;
  readonly nd6: Nd6;
  readonly mld6: Mld6;
  readonly slaac: Slaac;
  readonly rtr: RouterDiscovery;
  readonly udp: Udp6;
  readonly tcp: Tcp6;
  /** The receive burst shared by the interfaces and TCP (one ACK and one transmit call per driver batch). */
  readonly burst = new RxBurst();
  /** IPsec (RFC 4301): SPD, SAD and ipsecstat; `setkey` and the socket policies act on it. */
  readonly ipsec: Ipsec;
  /** False when built with `ipsec: false`: the SPD and SAD are not consulted by the data path. */
  readonly ipsecAttached: boolean;
  /** node:net-shaped API: `stack.net.createServer()`, `stack.net.connect({ host, port })`. */
  readonly net: ReturnType<typeof netApi>;
  /** node:dgram-shaped socket API: `stack.dgram.createSocket('udp6')`. */
  readonly dgram: { createSocket(type: 'udp6' | 'udp4' | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): Socket };
  /** Fault injectors on interfaces (setImpairment), with the seed of each one's generator. */
  private readonly impairments = new Map<Ifnet, { injector: FaultInjector; seed: number }>();
  private closed = false;

  constructor(o: StackOptions = {}) {
    this.clock = o.clock ?? new RealClock();
    this.rng = o.rng ?? new CryptoRng();
    this.log = o.log ?? nullLogger;
    this.lo = new LoopbackIf({ clock: this.clock, mtu: o.loMtu });
    this.ifs.attach(this.lo);
    this.counters.register(this.lo.stats);
    this.ip6 = new Ip6({ clock: this.clock, rng: this.rng, log: this.log, ifs: this.ifs, lo: this.lo });
    this.ip6.preferTemporary = o.tempAddresses ?? false;
    this.icmp6 = new Icmp6(this.ip6);
    const { defer, ...ipsecOpts } = o.ipsec || {};
    this.ipsec = new Ipsec({ ...ipsecOpts, clock: this.clock, rng: this.rng });
    this.ipsecAttached = o.ipsec !== false;
    if (this.ipsecAttached) attachIpsec(this.ip6, this.ipsec, defer ? { defer } : {});
    this.nd6 = new Nd6(this.ip6, this.icmp6);
    this.mld6 = new Mld6(this.ip6, this.icmp6);
    this.slaac = new Slaac(this.ip6, this.nd6.stats, {
      ifid: o.ifid ?? 'stable',
      secret: o.stableSecret ?? this.rng.fill(new Uint8Array(32)),
      tempAddresses: o.tempAddresses ?? false,
      optimisticDad: o.optimisticDad ?? false,
    });
    this.ip6.hooks.dadFailed.push((ia) => this.slaac.onDadFailure(ia));
    this.rtr = new RouterDiscovery(this.ip6, this.icmp6, this.nd6, this.slaac, o.rtrLimits);
    this.udp = new Udp6(this.ip6, this.icmp6);
    this.counters.register(this.udp.stats);
    const host: DgramHost = {
      udp: this.udp,
      ifs: this.ifs,
      joinGroup: (idx, group) => {
        const ifp = this.ifs.get(idx);
        if (!ifp) return `no interface ${idx}`;
        const r = this.ip6.joinGroup(ifp, group);
        return r.ok ? null : r.error;
      },
      leaveGroup: (idx, group) => {
        const ifp = this.ifs.get(idx);
        if (!ifp) return `no interface ${idx}`;
        const r = this.ip6.leaveGroup(ifp, group);
        return r.ok ? null : r.error;
      },
      defaultMulticastIf: () => this.ifs.list().find((i) => i.up && i.lladdr !== null)?.index ?? 0,
    };
    this.dgram = { createSocket: (type, listener) => createSocket(host, type, listener) };
    this.tcp = new Tcp6(this.ip6, this.icmp6, o.tcp, { burst: this.burst });
    this.counters.register(this.tcp.stats);
    this.net = netApi({ tcp: this.tcp, ifs: this.ifs, clock: this.clock });
    this.counters.register(this.ip6.stats);
    this.counters.register(this.icmp6.stats);
    this.counters.register(this.nd6.stats);
    this.counters.register(this.mld6.stats);
    this.counters.register(this.ipsec.stats);
    this.ip6.up(this.lo);
  }

  /** Adds an Ethernet interface over a driver (a TAP, a virtual link port). Call up() to start IPv6 on it. */
  addEthernet(o: { name: string; driver: LinkDriver; mac?: Uint8Array; mtu?: number }): EtherIf {
    const ifp = new EtherIf({ name: o.name, driver: o.driver, mac: o.mac ?? randomLocalMac((b) => this.rng.fill(b)), mtu: o.mtu, burst: this.burst });
    this.ifs.attach(ifp);
    this.counters.register(ifp.stats);
    this.ip6.attach(ifp);
    return ifp;
  }

  /** Brings an interface up: link-local address, all-nodes group, DAD, and what ND does at start. */
  up(ifp: Ifnet): void {
    this.ip6.up(ifp);
  }

  /** Finds an interface by name or index text. */
  ifnet(nameOrIndex: string): Ifnet | undefined {
    return this.ifs.lookup(nameOrIndex);
  }

  /**
   * Parses an address as users type it ("2001:db8::1", "fe80::1%tap0",
   * "fe80::1%2") and resolves its zone. A scoped address needs a zone unless
   * `defaultZone` supplies one (ping6 -I).
   */
  parseAddress(text: string, defaultZone = 0): Result<ScopedAddress, string> {
    const r = parseIn6(text);
    if (!r.ok) return r;
    let zone = 0;
    if (r.value.zone !== null) {
      const ifp = this.ifs.lookup(r.value.zone);
      if (!ifp) return err(`${text}: no such interface '${r.value.zone}'`);
      zone = ifp.index;
    } else if (needsZone(r.value.addr)) {
      zone = defaultZone;
      if (!zone) return err(`${text}: a link-local address needs a zone, e.g. ${formatIn6(r.value.addr)}%tap0`);
    }
    return ok({ addr: r.value.addr, zone });
  }

  /** Text of a scoped address: "fe80::1%tap0". */
  formatAddress(addr: Uint8Array, zone: number): string {
    const t = formatIn6(addr);
    if (!zone || !needsZone(addr)) return t;
    return `${t}%${this.ifs.get(zone)?.name ?? zone}`;
  }

  /** One echo request; null on timeout, EchoError if it cannot be sent. */
  ping(o: PingOptions): Promise<EchoResult | null> {
    return this.icmp6.echo.ping(o);
  }

  /**
   * Impairs an interface's link with the fault injector (src/link/fault.ts),
   * both directions: `spec` as typed ("loss=2%,delay=5ms,tx.dup=1%", see
   * parseFaultSpec) or as objects; null removes the injector (frames it still
   * holds are dropped and counted). A second call replaces the spec (keys
   * left out go back to 0) and keeps the counters, which are the set
   * 'faults IF' of netstat -s. The injector sits nearest the stack in the
   * filter chain, so a capture records what crossed the wire. Its generator
   * is seeded from the stack's Rng unless `seed` is given.
   */
  setImpairment(ifname: string, spec: string | ImpairSpec | null, opts: { seed?: number } = {}): Result<{ injector: FaultInjector; seed: number } | null, string> {
    const ifp = this.ifs.lookup(ifname);
    if (!ifp) return err(`${ifname}: no such interface`);
    const cur = this.impairments.get(ifp);
    if (spec === null) {
      if (cur) {
        this.impairments.delete(ifp);
        ifp.filters.remove(cur.injector.name);
        this.counters.unregister(cur.injector.stats.name);
      }
      return ok(null);
    }
    let parsed: ImpairSpec;
    if (typeof spec === 'string') {
      const r = parseFaultSpec(spec);
      if (!r.ok) return r;
      parsed = r.value;
    } else parsed = spec;
    if (opts.seed !== undefined && !Number.isInteger(opts.seed)) return err(`impairment seed must be an integer, got ${opts.seed}`);
    try {
      if (cur) {
        cur.injector.configure(parsed);
        return ok(cur);
      }
      const seed = opts.seed ?? this.rng.u32();
      const injector = new FaultInjector({
        clock: this.clock,
        rng: new SeededRng(seed),
        ...parsed,
        linkHeaderLen: ifp.type === 'ether' ? ETHER_HDR_LEN : ifp.type === 'loop' ? LOOP_HDR_LEN : 0,
        statsName: `faults ${ifp.name}`,
      });
      ifp.filters.add(injector, { nearStack: true });
      this.counters.register(injector.stats);
      const e = { injector, seed };
      this.impairments.set(ifp, e);
      return ok(e);
    } catch (e) {
      // The injector refuses out-of-range values (a spec given as objects).
      if (e instanceof RangeError) return err(e.message);
      throw e;
    }
  }

  /** The fault injector on an interface, if one is set. */
  impairment(ifname: string): { injector: FaultInjector; seed: number } | undefined {
    const ifp = this.ifs.lookup(ifname);
    return ifp ? this.impairments.get(ifp) : undefined;
  }

  /** netstat -s: every counter set. */
  counterSets(): CounterSet[] {
    return this.counters.all();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.rtr.close();
    this.nd6.close();
    this.mld6.close();
    for (const ifp of this.ifs.list()) ifp.close();
    if (this.clock instanceof RealClock) this.clock.stop();
  }
}

export { EchoError };
