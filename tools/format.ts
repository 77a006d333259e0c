/**
 * Text output of the tap6 tools, from the JSON the daemon returns
 * (handlers.ts), in the manner of the BSD tools people already read:
 * ifconfig, ndp -a, netstat -rn, netstat -s, and iputils ping.
 */
import type {
  IfInfo,
  NdIfResult,
  NeighborJson,
  NetstatResult,
  PingIcmpErrorEvent,
  PingReplyEvent,
  PingResult,
  PmtuJson,
  PrefixJson,
  RouteJson,
  RouterJson,
  SocketRow,
  SysctlEntry,
} from './handlers.ts';

// ---- helpers -----------------------------------------------------------------------

export type Align = 'l' | 'r';

/** Lays out rows under headers; each column as wide as its widest cell. Trailing blanks trimmed. */
export function table(headers: string[], align: Align[], rows: string[][]): string[] {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (align[i] === 'r' ? c.padStart(w[i]!) : c.padEnd(w[i]!)))
      .join(' ')
      .trimEnd();
  return [fmt(headers), ...rows.map(fmt)];
}

/** A duration in whole seconds the way BSD ndp prints it: 23s, 1m5s, 2h0m3s, 1d0h0m9s. */
export function sec2str(total: number): string {
  const s = Math.max(0, Math.floor(total));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  let out = '';
  if (d) out += `${d}d`;
  if (out || h) out += `${h}h`;
  if (out || m) out += `${m}m`;
  return `${out}${s % 60}s`;
}

// ---- ifconfig ----------------------------------------------------------------------

export function formatIfconfig(ifs: IfInfo[]): string[] {
  const out: string[] = [];
  for (const i of ifs) {
    out.push(`${i.name}: flags=${i.flags.toString(16)}<${i.flagNames.join(',')}> mtu ${i.mtu}`);
    if (i.ether) out.push(`\tether ${i.ether}`);
    for (const a of i.addrs) {
      let l = `\tinet6 ${a.text} prefixlen ${a.plen}`;
      for (const f of a.flagNames) l += ` ${f}`;
      if (a.scopeid !== null) l += ` scopeid 0x${a.scopeid.toString(16)}`;
      if (a.pltime !== null) l += ` pltime ${a.pltime}`;
      if (a.vltime !== null) l += ` vltime ${a.vltime}`;
      out.push(l);
    }
    if (i.impair) out.push(`\timpair ${i.impair.spec || '(none)'}`);
  }
  return out;
}

// ---- ndp -a -------------------------------------------------------------------------

const STATE_LETTER: Record<string, string> = { INCOMPLETE: 'I', REACHABLE: 'R', STALE: 'S', DELAY: 'D', PROBE: 'P' };

/**
 * Expire column: time left in the current state, `expired` once it has run
 * out; an entry without a deadline is `permanent` when it rests (REACHABLE,
 * STALE) and `-` while a timer it does not report drives it (INCOMPLETE,
 * DELAY, PROBE).
 */
export function ndpExpire(n: NeighborJson): string {
  if (n.expire === null) return n.state === 'REACHABLE' || n.state === 'STALE' ? 'permanent' : '-';
  if (n.expire <= 0) return 'expired';
  return sec2str(n.expire);
}

export function formatNdp(neighbors: NeighborJson[]): string[] {
  return table(
    ['Neighbor', 'Linklayer Address', 'Netif', 'Expire', 'S', 'Flags'],
    ['l', 'l', 'r', 'l', 'l', 'l'],
    neighbors.map((n) => [n.text, n.lladdr ?? '(incomplete)', n.ifname, ndpExpire(n), STATE_LETTER[n.state] ?? '?', n.isRouter ? 'R' : '']),
  );
}

// ---- netstat -rn --------------------------------------------------------------------

/**
 * The routing table; an Mtu column when a route carries an MTU, then the
 * Path MTU cache as its own section when it has entries.
 */
export function formatRoutes(routes: RouteJson[], pmtu: PmtuJson[] = []): string[] {
  const withMtu = routes.some((r) => r.mtu > 0);
  const out = [
    'Routing tables',
    '',
    'Internet6:',
    ...table(
      ['Destination', 'Gateway', 'Flags', ...(withMtu ? ['Mtu'] : []), 'Netif', 'Expire', 'Use'],
      ['l', 'l', 'l', ...(withMtu ? (['r'] as const) : []), 'r', 'r', 'r'],
      routes.map((r) => [
        r.destination,
        r.gateway,
        r.flagNames,
        ...(withMtu ? [r.mtu > 0 ? String(r.mtu) : ''] : []),
        r.netif,
        r.expire === null ? '' : String(r.expire),
        String(r.use),
      ]),
    ),
  ];
  if (pmtu.length > 0) {
    out.push(
      '',
      'Path MTU cache:',
      ...table(
        ['Destination', 'Mtu', 'Expire'],
        ['l', 'r', 'r'],
        pmtu.map((e) => [e.destination, String(e.mtu), sec2str(e.expire)]),
      ),
    );
  }
  return out;
}

// ---- ndp -r, -p, -i -------------------------------------------------------------------

/** Lifetimes in ndp -r/-p/-i: 29m59s, `infinity`, `expired`. */
function expireWord(s: number | null): string {
  if (s === null) return 'infinity';
  if (s <= 0) return 'expired';
  return sec2str(s);
}

/** ndp -r, one router a line: `fe80::1%tap0 if=tap0, flags=MO, pref=high, expire=29m50s`. */
export function formatRouters(routers: RouterJson[]): string[] {
  return routers.map((r) => `${r.text} if=${r.ifname}, flags=${r.managed ? 'M' : ''}${r.other ? 'O' : ''}, pref=${r.preference}, expire=${expireWord(r.expire)}`);
}

/**
 * ndp -p: each prefix, its flags (L on-link, A autonomous), its expiry, and
 * the addresses autoconfigured from it with their lifetimes.
 */
export function formatPrefixes(prefixes: PrefixJson[]): string[] {
  const out: string[] = [];
  for (const p of prefixes) {
    out.push(`${p.prefix} if=${p.ifname}`);
    out.push(`flags=${p.onLink ? 'L' : ''}${p.autonomous ? 'A' : ''}, expire=${expireWord(p.expire)}`);
    if (p.addresses.length === 0) out.push('  No addresses formed');
    else {
      out.push('  autoconfigured addresses:');
      for (const a of p.addresses) {
        const flags = a.flagNames.length ? ` ${a.flagNames.join(' ')}` : '';
        out.push(`    ${a.text}${flags}, pltime=${expireWord(a.pltime)}, vltime=${expireWord(a.vltime)}`);
      }
    }
  }
  return out;
}

/** Milliseconds as BSD ndp -i prints them: 30s, 1s500ms. */
function msWord(ms: number): string {
  const s = Math.floor(ms / 1000);
  const rest = Math.round(ms - s * 1000);
  return rest ? `${s}s${rest}ms` : `${s}s`;
}

/** ndp -i IF: the ND variables, the flags, and what RDNSS/DNSSL options taught the interface. */
export function formatNdIf(i: NdIfResult): string[] {
  const out = [
    `curhlim=${i.curHopLimit}, reachable=${Math.floor(i.reachableTime / 1000)}s, basereachable=${msWord(i.baseReachableTime)}, retrans=${i.retransTimer}ms, dad_count=${i.dadTransmits}, linkmtu=${i.linkMtu}`,
    `Flags:${i.flags.map((f) => ` ${f}`).join('')}`,
  ];
  for (const d of i.dns) out.push(`${d.kind === 'rdnss' ? 'RDNSS' : 'DNSSL'}: ${d.value} expire=${expireWord(d.expire)}`);
  return out;
}

// ---- sysctl -----------------------------------------------------------------------------

/**
 * BSD sysctl: `name: value`, `name: old -> new` for a value just set;
 * `valuesOnly` (-n) prints the values alone, `descriptions` (-d) prints
 * `name: what it is` instead.
 */
export function formatSysctl(entries: SysctlEntry[], o: { valuesOnly?: boolean; descriptions?: boolean } = {}): string[] {
  return entries.map((e) => {
    if (o.descriptions) return o.valuesOnly ? e.description : `${e.name}: ${e.description}`;
    const v = e.old !== undefined ? `${e.old} -> ${e.value}` : String(e.value);
    return o.valuesOnly ? v : `${e.name}: ${v}`;
  });
}

// ---- netstat -s ---------------------------------------------------------------------

/** One section per counter set: non-zero counters (all with `zeros`), ICMPv6 histograms by type. */
export function formatNetstat(r: NetstatResult, zeros = false): string[] {
  const out: string[] = [];
  for (const s of r.sets) {
    out.push(`${s.name}:`);
    for (const c of s.counters) if (zeros || c.value !== 0) out.push(`\t${c.value} ${c.description}`);
    if (s.histograms) {
      for (const [title, h] of [
        ['Output histogram', s.histograms.output],
        ['Input histogram', s.histograms.input],
      ] as const) {
        if (h.length === 0) continue;
        out.push(`\t${title}:`);
        for (const e of h) out.push(`\t\t${e.name}: ${e.count}`);
      }
    }
  }
  return out;
}

// ---- ping6 --------------------------------------------------------------------------

export function pingHeader(asTyped: string, resolved: string, size: number): string {
  return `PING ${asTyped}(${resolved}) ${size} data bytes`;
}

/** Round-trip time with the precision iputils uses: 0.123, 1.23, 12.3, 123. */
export function formatRtt(ms: number): string {
  if (ms >= 99.95) return String(Math.round(ms));
  if (ms >= 9.995) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

export function pingReply(e: PingReplyEvent): string {
  return `${e.bytes} bytes from ${e.from}: icmp_seq=${e.seq} ttl=${e.hlim} time=${formatRtt(e.rttMs)} ms${e.dataOk ? '' : ' (wrong data)'}`;
}

/** An ICMPv6 error answered a request, as iputils prints it. */
export function pingIcmpError(e: PingIcmpErrorEvent): string {
  return `From ${e.from} icmp_seq=${e.seq} ${e.text}`;
}

export function pingTimeout(seq: number): string {
  return `Request timeout for icmp_seq ${seq}`;
}

/** Loss as iputils prints it (%g): 0, 33.3333, 100. */
function lossPercent(tx: number, rx: number): string {
  if (tx === 0) return '0';
  return String(Number((((tx - rx) * 100) / tx).toPrecision(6)));
}

export function pingSummary(asTyped: string, r: Pick<PingResult, 'transmitted' | 'received' | 'errors' | 'timeMs' | 'rtt'>): string[] {
  const errs = r.errors ? `, +${r.errors} errors` : '';
  const out = [
    `--- ${asTyped} ping statistics ---`,
    `${r.transmitted} packets transmitted, ${r.received} received${errs}, ${lossPercent(r.transmitted, r.received)}% packet loss, time ${r.timeMs}ms`,
  ];
  if (r.rtt) out.push(`rtt min/avg/max/mdev = ${r.rtt.min.toFixed(3)}/${r.rtt.avg.toFixed(3)}/${r.rtt.max.toFixed(3)}/${r.rtt.mdev.toFixed(3)} ms`);
  return out;
}

/**
 * Running min/avg/max/mdev of round-trip times (mdev: their standard
 * deviation, as ping prints it), in constant space for endless pings.
 */
export class RttStats {
  n = 0;
  private sum = 0;
  private sum2 = 0;
  private min = Infinity;
  private max = -Infinity;

  add(ms: number): void {
    this.n++;
    this.sum += ms;
    this.sum2 += ms * ms;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
  }

  result(): PingResult['rtt'] {
    if (this.n === 0) return null;
    const avg = this.sum / this.n;
    return { min: this.min, avg, max: this.max, mdev: Math.sqrt(Math.max(0, this.sum2 / this.n - avg * avg)) };
  }
}

export function rttStats(rtts: number[]): PingResult['rtt'] {
  const s = new RttStats();
  for (const r of rtts) s.add(r);
  return s.result();
}

// ---- netstat (sockets) -------------------------------------------------------------

/** Milliseconds with a precision that suits round-trip times: 0.123ms, 19.1ms, 200ms. */
function msCell(ms: number | null): string {
  if (ms === null) return '-';
  if (ms >= 99.5) return `${Math.round(ms)}ms`;
  if (ms >= 9.95) return `${ms.toFixed(1)}ms`;
  if (ms >= 1) return `${ms.toFixed(2)}ms`;
  return `${ms.toFixed(3)}ms`;
}

/**
 * BSD netstat's socket listing: Proto, Recv-Q, Send-Q, Local Address,
 * Foreign Address, (state). `verbose` (-v) adds, for TCP connections, the
 * smoothed RTT, the RTO, the congestion window, the slow-start threshold
 * ('-' while infinite), the MSS and the congestion control; for listeners
 * their queues as BSD's netstat -L does: half-open/accept/backlog.
 */
export function formatSockets(rows: readonly SocketRow[], o: { verbose?: boolean } = {}): string[] {
  const head = ['Proto', 'Recv-Q', 'Send-Q', 'Local Address', 'Foreign Address', '(state)'];
  const align: Align[] = ['l', 'r', 'r', 'l', 'l', 'l'];
  if (o.verbose) {
    head.push('RTT', 'RTO', 'cwnd', 'ssthresh', 'MSS', 'CC', 'Listen');
    align.push('r', 'r', 'r', 'r', 'r', 'l', 'l');
  }
  const cells = rows.map((r) => {
    const c = [r.proto, String(r.recvQ), String(r.sendQ), r.local, r.foreign, r.state];
    if (o.verbose) {
      const t = r.tcp;
      c.push(
        t ? msCell(t.srtt) : '',
        t ? msCell(t.rto) : '',
        t ? String(t.cwnd) : '',
        t ? (t.ssthresh === null ? '-' : String(t.ssthresh)) : '',
        t ? String(t.mss) : '',
        t ? t.cc : '',
        r.listen ? `${r.listen.synQueue}/${r.listen.acceptQueue}/${r.listen.backlog}` : '',
      );
    }
    return c;
  });
  return ['Active Internet connections (including servers)', ...table(head, align, cells)];
}
