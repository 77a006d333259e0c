/**
 * Multicast Listener Discovery, the listener (host) side: MLDv2 (RFC 3810
 * §6) with the MLDv1 compatibility mode of §8.2 (RFC 2710 §4). KAME's
 * mld6.c, for any-source memberships: a group joined through
 * Ip6.joinGroup is in EXCLUDE {} mode on its interface, any other group in
 * INCLUDE {}, so the records we send are CHANGE_TO_EXCLUDE / CHANGE_TO_INCLUDE
 * when that changes, MODE_IS_EXCLUDE {} in answer to queries, and
 * MODE_IS_INCLUDE (queried sources) in answer to a source-specific query.
 *
 * Reported: every group joined on an interface with a link address, the
 * solicited-node groups included (snooping switches need them for ND),
 * except ff02::1 and groups of interface-local or reserved scope (§6).
 * Messages go out with hop limit 1 and a Router Alert option, from a
 * link-local address, or from :: while none is usable (§5.2.13, RFC 3590
 * §4); MLDv2 reports to ff02::16, MLDv1 reports to the group, Dones to ff02::2.
 *
 * Every query is validated as §6.2 says (link-local source, hop limit 1,
 * Router Alert) and every refusal is counted. Timers run on the injected
 * clock and delays are drawn from the injected Rng.
 */
import type { Timer } from '../core/clock.ts';
import { counterSet } from '../core/counters.ts';
import type { Icmp6, Icmp6Msg } from '../icmp6/icmp6.ts';
import { Icmp6Type } from '../icmp6/wire.ts';
import { formatIn6, in6, in6Equal, isLinkLocal, isMulticast, isUnspecified, multicastScope } from '../ip6/addr.ts';
import { routerAlertOption } from '../ip6/dest6.ts';
import { IP6_HDR_LEN, IP6_HLIM } from '../ip6/header.ts';
import { In6Map } from '../ip6/in6map.ts';
import type { Ip6 } from '../ip6/ip6.ts';
import type { Ip6InputCtx } from '../ip6/protosw.ts';
import type { Ifnet } from '../link/ifnet.ts';
import {
  MLDV1_DONE,
  MLDV1_REPORT,
  MLDV2_REPORT_HDR_LEN,
  MldRecordType,
  type MldRecord,
  type MldRepr,
  type Mldv2QueryRepr,
  decodeMaxRespCode,
  decodeQqic,
  emitMld,
  mldBufferLen,
  mldRecordLen,
  parseMld,
} from './mld6-wire.ts';

/** RFC 3810 §9 defaults (times in ms). */
export const MLD_ROBUSTNESS = 2;
export const MLD_QUERY_INTERVAL = 125_000;
export const MLD_QUERY_RESPONSE_INTERVAL = 10_000;
export const MLD_UNSOLICITED_REPORT_INTERVAL = 1_000;
/** RFC 2710 §7.10: MLDv1's Unsolicited Report Interval. */
export const MLDV1_UNSOLICITED_REPORT_INTERVAL = 10_000;

export const ALL_MLDV2_ROUTERS = in6('ff02::16');
const ALL_NODES = in6('ff02::1');
const ALL_ROUTERS = in6('ff02::2');
const UNSPECIFIED = new Uint8Array(16);
const NO_AUX = new Uint8Array(0);
/** Hop-by-Hop header carrying the Router Alert option: 8 bytes once padded. */
const HBH_LEN = 8;

export function mld6Counters() {
  return counterSet('mld6', {
    queriesV1In: 'MLDv1 queries received',
    queriesV2In: 'MLDv2 queries received',
    generalQueries: 'general queries accepted',
    groupQueries: 'multicast address specific queries accepted',
    groupSourceQueries: 'multicast address and source specific queries accepted',
    badQueryShort: 'queries dropped: shorter than an MLDv1 query',
    badQueryLength: 'queries dropped: 25 to 27 bytes, neither MLDv1 nor MLDv2 (RFC 3810 §8.1)',
    badQuerySources: 'queries dropped: sources beyond the message, or sources in a general query',
    badQuerySource: 'queries dropped: source address not link-local (§6.2)',
    badQueryHopLimit: 'queries dropped: hop limit not 1 (§6.2)',
    badQueryNoRouterAlert: 'queries dropped: no Router Alert option (§6.2)',
    badQueryGroup: 'queries dropped: multicast address field neither unspecified nor multicast',
    queryNoLink: 'queries ignored: interface without link-layer addresses (loopback)',
    queryNotMember: 'address-specific queries ignored: group not joined here or never reported',
    queryRedundant: 'queries needing no new response: a general response is due sooner (§6.2 rule 1)',
    querySourcesOverflow: 'source-specific queries answered for the whole group: too many sources to record',
    stateChangeReports: 'MLDv2 state change reports sent',
    currentStateReports: 'MLDv2 current state reports sent',
    recordsOut: 'multicast address records sent in MLDv2 reports',
    v1ReportsOut: 'MLDv1 reports sent',
    v1DonesOut: 'MLDv1 done messages sent',
    outErrors: 'MLD messages not sent: output error',
    v1ReportsIn: 'MLDv1 reports received',
    v1ReportsSuppressed: 'MLDv1 reports suppressed: another listener reported first',
    badReport: 'MLDv1 reports ignored: malformed, hop limit not 1, or source not link-local',
    v2ReportsIn: 'MLDv2 reports received (a host ignores them)',
    donesIn: 'MLDv1 done messages received (a host ignores them)',
    toV1: 'switches to MLDv1 compatibility mode (older version querier present)',
    toV2: 'returns to MLDv2 mode (older version querier present timeout)',
  });
}
export type Mld6Stats = ReturnType<typeof mld6Counters>;

export interface Mld6Options {
  /** Robustness Variable until a query says otherwise (§9.1, default 2). */
  robustness?: number;
  /** ms (§9.2, default 125 s); used for the Older Version Querier Present Timeout. */
  queryInterval?: number;
  /** ms (§9.3, default 10 s). */
  queryResponseInterval?: number;
  /** ms between state change report transmissions, at most (§9.11, default 1 s). */
  unsolicitedReportInterval?: number;
  /** The same for MLDv1 reports (RFC 2710 §7.10, default 10 s). */
  v1UnsolicitedReportInterval?: number;
  /** Queried sources recorded per group (default 64); beyond, the group is answered as a whole. */
  maxQuerySources?: number;
}

/** Per-group state on one interface. */
interface MldGroup {
  readonly addr: Uint8Array;
  /** Joined (EXCLUDE {}); false while a CHANGE_TO_INCLUDE record is still being retransmitted. */
  joined: boolean;
  /** §6.1: record type pending retransmission and transmissions left. */
  scType: number;
  scLeft: number;
  /** The Multicast Address Timer (§6.2) or, in MLDv1 mode, the report delay timer (RFC 2710 §4). */
  timer: Timer | null;
  due: number;
  /** Queried sources recorded for the pending response (§6.2 rule 5); null: the whole group. */
  sources: Uint8Array[] | null;
  /** MLDv1: unsolicited reports still to repeat after joining. */
  repeatsLeft: number;
  /** MLDv1: our last report was suppressed by another listener's (RFC 2710 §4: then no Done). */
  suppressed: boolean;
  /** Clock time of the last join announcement (one per instant). */
  announcedAt: number;
}

/** Per-interface state. */
class MldIf {
  /** Host Compatibility Mode (§8.2.1). */
  version: 1 | 2 = 2;
  olderQuerier: Timer | null = null;
  olderQuerierUntil = 0;
  /** Robustness Variable, Query Interval and Query Response Interval as last learned (§9.1–9.3). */
  rv: number;
  qi: number;
  qri: number;
  /** The Interface Timer: pending response to a General Query. */
  general: Timer | null = null;
  generalDue = 0;
  /** Pending state change report transmission (§6.1). */
  stateChange: Timer | null = null;
  stateChangeDue = 0;
  readonly groups = new In6Map<MldGroup>();

  constructor(
    readonly ifp: Ifnet,
    o: Required<Mld6Options>,
  ) {
    this.rv = o.robustness;
    this.qi = o.queryInterval;
    this.qri = o.queryResponseInterval;
  }
}

/** What `state(ifp)` shows. */
export interface MldIfInfo {
  version: 1 | 2;
  /** ms until the interface returns to MLDv2, null in MLDv2 mode. */
  olderQuerierMs: number | null;
  robustness: number;
  groups: { group: string; joined: boolean; retransmissionsLeft: number; responseInMs: number | null }[];
}

export class Mld6 {
  readonly stats: Mld6Stats = mld6Counters();
  private readonly cfg: Required<Mld6Options>;
  private readonly ifs = new Map<number, MldIf>();
  private readonly hopOpts = routerAlertOption();

  constructor(
    readonly ip6: Ip6,
    readonly icmp6: Icmp6,
    o: Mld6Options = {},
  ) {
    this.cfg = {
      robustness: o.robustness ?? MLD_ROBUSTNESS,
      queryInterval: o.queryInterval ?? MLD_QUERY_INTERVAL,
      queryResponseInterval: o.queryResponseInterval ?? MLD_QUERY_RESPONSE_INTERVAL,
      unsolicitedReportInterval: o.unsolicitedReportInterval ?? MLD_UNSOLICITED_REPORT_INTERVAL,
      v1UnsolicitedReportInterval: o.v1UnsolicitedReportInterval ?? MLDV1_UNSOLICITED_REPORT_INTERVAL,
      maxQuerySources: o.maxQuerySources ?? 64,
    };
    if (!Number.isInteger(this.cfg.robustness) || this.cfg.robustness < 1) throw new RangeError('mld6: robustness must be an integer >= 1');
    icmp6.on(Icmp6Type.MLD_QUERY, (ctx, m) => this.queryInput(ctx, m));
    icmp6.on(Icmp6Type.MLD_REPORT, (ctx, m) => this.v1ReportInput(ctx, m));
    icmp6.on(Icmp6Type.MLD_DONE, () => this.stats.c.donesIn++);
    icmp6.on(Icmp6Type.MLDV2_REPORT, () => this.stats.c.v2ReportsIn++);
    ip6.hooks.groupJoined.push((ifp, g) => this.joined(ifp, g));
    ip6.hooks.groupLeft.push((ifp, g) => this.left(ifp, g));
    ip6.hooks.ifUp.push((ifp) => this.ifUp(ifp));
  }

  private get now(): number {
    return this.ip6.clock.now();
  }

  /** §6: what MLD speaks about: not ff02::1, not interface-local (or reserved) scope, only on links with link addresses. */
  reportable(ifp: Ifnet, group: Uint8Array): boolean {
    return ifp.lladdr !== null && isMulticast(group) && multicastScope(group) >= 2 && !in6Equal(group, 0, ALL_NODES);
  }

  // ---- membership changes (§6.1) ---------------------------------------------

  private joined(ifp: Ifnet, group: Uint8Array): void {
    if (!this.reportable(ifp, group)) return;
    const st = this.ifState(ifp);
    const m = this.groupOf(st, group);
    m.joined = true;
    // Joined while down: reported when the interface comes up.
    if (ifp.up) this.announceJoin(st, m);
  }

  private left(ifp: Ifnet, group: Uint8Array): void {
    if (!this.reportable(ifp, group)) return;
    const st = this.ifState(ifp);
    const m = this.groupOf(st, group);
    m.joined = false;
    this.stopTimer(m);
    m.sources = null;
    m.repeatsLeft = 0;
    if (!ifp.up) {
      this.forget(st, m);
      return;
    }
    if (st.version === 1) {
      // RFC 2710 §4: a single Done, unless our last report was suppressed by another listener's.
      if (!m.suppressed) this.sendV1(st, MLDV1_DONE, m.addr);
      this.forget(st, m);
      return;
    }
    m.scType = MldRecordType.CHANGE_TO_INCLUDE_MODE;
    m.scLeft = st.rv;
    this.stateChangeNow(st);
  }

  /** Interface up: every group joined so far is announced as if just joined. */
  private ifUp(ifp: Ifnet): void {
    if (!ifp.lladdr) return;
    const st = this.ifState(ifp);
    for (const m of this.currentGroups(st)) if (m.announcedAt !== this.now) this.announceJoin(st, m);
  }

  private announceJoin(st: MldIf, m: MldGroup): void {
    m.announcedAt = this.now;
    if (st.version === 1) {
      // RFC 2710 §4: a report at once, repeated after a random part of the Unsolicited Report Interval.
      this.stopTimer(m);
      this.sendV1(st, MLDV1_REPORT, m.addr);
      m.suppressed = false;
      m.repeatsLeft = st.rv - 1;
      this.repeatV1(st, m);
      return;
    }
    // §6.1: a filter mode change restarts the retransmissions with the new record only.
    m.scType = MldRecordType.CHANGE_TO_EXCLUDE_MODE;
    m.scLeft = st.rv;
    this.stateChangeNow(st);
  }

  private repeatV1(st: MldIf, m: MldGroup): void {
    if (m.repeatsLeft <= 0) return;
    m.repeatsLeft--;
    this.armGroup(st, m, this.ip6.rng.uniform(0, this.cfg.v1UnsolicitedReportInterval));
  }

  /** A State Change Report goes out now (on the next tick, so that changes made together travel together). */
  private stateChangeNow(st: MldIf): void {
    const now = this.now;
    if (st.stateChange?.active && st.stateChangeDue <= now) return;
    st.stateChange?.cancel();
    st.stateChangeDue = now;
    st.stateChange = this.ip6.clock.timer(0, () => this.stateChangeFire(st));
  }

  /** Sends every pending state change record; retransmits after a random part of the Unsolicited Report Interval. */
  private stateChangeFire(st: MldIf): void {
    st.stateChange = null;
    const recs: MldRecord[] = [];
    let more = false;
    for (const m of [...st.groups.values()]) {
      if (m.scLeft <= 0) continue;
      recs.push({ type: m.scType, group: m.addr, sources: [], aux: NO_AUX });
      m.scLeft--;
      if (m.scLeft > 0) more = true;
      else if (!m.joined) this.forget(st, m);
    }
    if (recs.length) this.sendV2(st, recs, 'stateChange');
    if (more) {
      const delay = this.ip6.rng.uniform(0, this.cfg.unsolicitedReportInterval);
      st.stateChangeDue = this.now + delay;
      st.stateChange = this.ip6.clock.timer(delay, () => this.stateChangeFire(st));
    }
  }

  // ---- queries (§6.2, §8.2) -----------------------------------------------------

  private queryInput(ctx: Ip6InputCtx, msg: Icmp6Msg): void {
    const c = this.stats.c;
    // §6.2: link-local source, hop limit 1, Router Alert; anything else is dropped.
    if (!isLinkLocal(ctx.src)) {
      c.badQuerySource++;
      return;
    }
    if (ctx.b[IP6_HLIM] !== 1) {
      c.badQueryHopLimit++;
      return;
    }
    if (ctx.routerAlert === undefined) {
      c.badQueryNoRouterAlert++;
      return;
    }
    const r = parseMld(ctx.b, msg.off, msg.len);
    if (!r.ok) {
      if (r.error === 'badQueryLength') c.badQueryLength++;
      else if (r.error === 'truncatedSources') c.badQuerySources++;
      else c.badQueryShort++;
      return;
    }
    const q = r.value;
    if (q.kind === 'v2report') return; // cannot happen: type 130 parses as a query
    const general = isUnspecified(q.group);
    if (!general && !isMulticast(q.group)) {
      c.badQueryGroup++;
      return;
    }
    if (q.kind === 'v2query' && general && q.sources.length > 0) {
      c.badQuerySources++;
      return;
    }
    if (!ctx.ifp.lladdr) {
      c.queryNoLink++;
      return;
    }
    const st = this.ifState(ctx.ifp);
    if (q.kind === 'v1') {
      c.queriesV1In++;
      this.enterV1(st, q.maxRespDelay);
      this.v1Respond(st, q.group, q.maxRespDelay);
      return;
    }
    c.queriesV2In++;
    const mrd = decodeMaxRespCode(q.maxRespCode);
    // §5.1.8, §5.1.9: the querier's robustness and interval are adopted (zero: our default).
    st.rv = q.qrv || this.cfg.robustness;
    st.qi = q.qqic ? decodeQqic(q.qqic) * 1000 : this.cfg.queryInterval;
    st.qri = mrd;
    // §8.2.1: in MLDv1 mode the node answers as an MLDv1 node would.
    if (st.version === 1) this.v1Respond(st, q.group, mrd);
    else this.v2Query(st, q, mrd);
  }

  /** §6.2 rules 1–5 for an MLDv2 query. */
  private v2Query(st: MldIf, q: Mldv2QueryRepr, mrd: number): void {
    const c = this.stats.c;
    const delay = this.ip6.rng.uniform(0, mrd);
    const at = this.now + delay;
    const general = isUnspecified(q.group);
    if (general) c.generalQueries++;
    else if (!this.isMember(st, q.group)) {
      c.queryNotMember++;
      return;
    } else if (q.sources.length) c.groupSourceQueries++;
    else c.groupQueries++;
    // Rule 1: a General Query response due sooner covers this query too.
    if (st.general?.active && st.generalDue <= at) {
      c.queryRedundant++;
      return;
    }
    if (general) {
      // Rule 2: the Interface Timer, replacing any pending general response.
      st.general?.cancel();
      st.generalDue = at;
      st.general = this.ip6.clock.timer(delay, () => this.generalFire(st));
      return;
    }
    const m = this.groupOf(st, q.group);
    if (!m.timer?.active) {
      // Rule 3: schedule; a source-specific query records its sources.
      m.sources = null;
      if (q.sources.length) m.sources = this.recordSources(null, q.sources);
      this.armGroup(st, m, delay);
      return;
    }
    // Rule 4: a group query, or a pending response for the whole group: the whole group.
    // Rule 5: source-specific on source-specific: the source lists merge.
    m.sources = q.sources.length === 0 || m.sources === null ? null : this.recordSources(m.sources, q.sources);
    if (at < m.due) this.armGroup(st, m, delay);
  }

  /** The union of recorded and queried sources (copies), or null when it would exceed the bound. */
  private recordSources(have: Uint8Array[] | null, add: Uint8Array[]): Uint8Array[] | null {
    const out = have ?? [];
    for (const s of add) {
      if (out.some((x) => in6Equal(x, 0, s))) continue;
      if (out.length >= this.cfg.maxQuerySources) {
        this.stats.c.querySourcesOverflow++;
        return null;
      }
      out.push(s.slice());
    }
    return out;
  }

  /** The Interface Timer fired: one Current State Report with every group (§6.3). */
  private generalFire(st: MldIf): void {
    st.general = null;
    const recs = this.currentGroups(st).map((m): MldRecord => ({ type: MldRecordType.MODE_IS_EXCLUDE, group: m.addr, sources: [], aux: NO_AUX }));
    if (recs.length) this.sendV2(st, recs, 'currentState');
  }

  /** A Multicast Address Timer fired: the group's current state (§6.3), or an MLDv1 report. */
  private groupFire(st: MldIf, m: MldGroup): void {
    m.timer = null;
    if (!m.joined || st.groups.get(m.addr) !== m) return;
    if (st.version === 1) {
      this.sendV1(st, MLDV1_REPORT, m.addr);
      m.suppressed = false;
      this.repeatV1(st, m);
      return;
    }
    // EXCLUDE {} answers a group query with IS_EX {}, a source-specific one with IS_IN (queried sources).
    const rec: MldRecord = m.sources
      ? { type: MldRecordType.MODE_IS_INCLUDE, group: m.addr, sources: m.sources, aux: NO_AUX }
      : { type: MldRecordType.MODE_IS_EXCLUDE, group: m.addr, sources: [], aux: NO_AUX };
    m.sources = null;
    this.sendV2(st, [rec], 'currentState');
  }

  // ---- MLDv1 compatibility (§8.2, RFC 2710 §4) ------------------------------------

  /** §8.2.1: an MLDv1 query (re)starts the Older Version Querier Present timer (§9.12). */
  private enterV1(st: MldIf, mrd: number): void {
    if (st.version === 2) {
      st.version = 1;
      this.stats.c.toV1++;
      this.cancelPending(st);
      this.ip6.log.log('info', 'mld6', `${st.ifp.name}: MLDv1 querier present: MLDv1 compatibility mode`);
    }
    const timeout = st.rv * st.qi + mrd;
    st.olderQuerier?.cancel();
    st.olderQuerierUntil = this.now + timeout;
    st.olderQuerier = this.ip6.clock.timer(timeout, () => this.backToV2(st));
  }

  private backToV2(st: MldIf): void {
    st.olderQuerier = null;
    st.version = 2;
    this.stats.c.toV2++;
    this.cancelPending(st);
    this.ip6.log.log('info', 'mld6', `${st.ifp.name}: no MLDv1 querier heard: back to MLDv2`);
  }

  /** On a change of compatibility mode every pending response and retransmission is cancelled. */
  private cancelPending(st: MldIf): void {
    st.general?.cancel();
    st.general = null;
    st.stateChange?.cancel();
    st.stateChange = null;
    for (const m of [...st.groups.values()]) {
      this.stopTimer(m);
      m.sources = null;
      m.scLeft = 0;
      m.repeatsLeft = 0;
      if (!m.joined) this.forget(st, m);
    }
  }

  /** RFC 2710 §4: a report timer per group asked about, random within the Maximum Response Delay. */
  private v1Respond(st: MldIf, group: Uint8Array, mrd: number): void {
    const c = this.stats.c;
    let groups: MldGroup[];
    if (isUnspecified(group)) {
      c.generalQueries++;
      groups = this.currentGroups(st);
    } else if (this.isMember(st, group)) {
      c.groupQueries++;
      groups = [this.groupOf(st, group)];
    } else {
      c.queryNotMember++;
      return;
    }
    for (const m of groups) {
      m.joined = true;
      // A running timer is reset only if the new Maximum Response Delay is shorter than what remains.
      if (m.timer?.active && m.due - this.now <= mrd) continue;
      m.repeatsLeft = 0;
      this.armGroup(st, m, this.ip6.rng.uniform(0, mrd));
    }
  }

  private v1ReportInput(ctx: Ip6InputCtx, msg: Icmp6Msg): void {
    const c = this.stats.c;
    c.v1ReportsIn++;
    const r = parseMld(ctx.b, msg.off, msg.len);
    // A report from :: (RFC 3590) is ignored by routers, so it must not silence ours.
    if (!r.ok || r.value.kind !== 'v1' || !isLinkLocal(ctx.src) || ctx.b[IP6_HLIM] !== 1) {
      c.badReport++;
      return;
    }
    const st = this.ifs.get(ctx.ifp.index);
    const m = st?.groups.get(r.value.group);
    if (!st || !m || st.version !== 1 || !m.timer?.active) return;
    // RFC 2710 §4: another listener answered; ours is not needed, and the Done is theirs to send.
    this.stopTimer(m);
    m.repeatsLeft = 0;
    m.suppressed = true;
    c.v1ReportsSuppressed++;
  }

  // ---- output ----------------------------------------------------------------------

  /** One or more MLDv2 reports to ff02::16 carrying `recs`, split to fit the link MTU. */
  private sendV2(st: MldIf, recs: MldRecord[], kind: 'stateChange' | 'currentState'): void {
    const mtu = this.ip6.if6Of(st.ifp)?.mtu ?? st.ifp.mtu;
    const budget = Math.max(mtu, 1280) - IP6_HDR_LEN - HBH_LEN;
    let batch: MldRecord[] = [];
    let len = MLDV2_REPORT_HDR_LEN;
    const flush = () => {
      if (!batch.length) return;
      if (this.send(st, { kind: 'v2report', records: batch }, ALL_MLDV2_ROUTERS)) {
        if (kind === 'stateChange') this.stats.c.stateChangeReports++;
        else this.stats.c.currentStateReports++;
        this.stats.c.recordsOut += batch.length;
      }
      batch = [];
      len = MLDV2_REPORT_HDR_LEN;
    };
    for (const r of recs) {
      const rl = mldRecordLen(r);
      if (batch.length && len + rl > budget) flush();
      batch.push(r);
      len += rl;
    }
    flush();
  }

  private sendV1(st: MldIf, type: typeof MLDV1_REPORT | typeof MLDV1_DONE, group: Uint8Array): void {
    const ok = this.send(st, { kind: 'v1', type, maxRespDelay: 0, group }, type === MLDV1_DONE ? ALL_ROUTERS : group);
    if (!ok) return;
    if (type === MLDV1_DONE) this.stats.c.v1DonesOut++;
    else this.stats.c.v1ReportsOut++;
  }

  private send(st: MldIf, r: MldRepr, dst: Uint8Array): boolean {
    const ifp = st.ifp;
    const msg = new Uint8Array(mldBufferLen(r));
    emitMld(r, msg, 0);
    const ll = this.ip6.if6Of(ifp)?.linkLocal();
    const e = this.icmp6.send({
      type: msg[0]!,
      code: 0,
      body: msg.subarray(4),
      dst,
      zone: ifp.index,
      ifindex: ifp.index,
      hlim: 1,
      src: ll ? ll.addr : UNSPECIFIED,
      allowUnspecSrc: !ll,
      mcastLoop: false,
      hopOpts: this.hopOpts,
    });
    if (e) {
      this.stats.c.outErrors++;
      return false;
    }
    return true;
  }

  // ---- state --------------------------------------------------------------------------

  private ifState(ifp: Ifnet): MldIf {
    let st = this.ifs.get(ifp.index);
    if (!st) this.ifs.set(ifp.index, (st = new MldIf(ifp, this.cfg)));
    return st;
  }

  private groupOf(st: MldIf, addr: Uint8Array): MldGroup {
    let m = st.groups.get(addr);
    if (!m) {
      m = { addr: addr.slice(0, 16), joined: false, scType: 0, scLeft: 0, timer: null, due: 0, sources: null, repeatsLeft: 0, suppressed: false, announcedAt: -1 };
      st.groups.set(addr, 0, m);
    }
    return m;
  }

  private forget(st: MldIf, m: MldGroup): void {
    this.stopTimer(m);
    st.groups.delete(m.addr);
  }

  private isMember(st: MldIf, group: Uint8Array): boolean {
    return this.reportable(st.ifp, group) && this.ip6.if6Of(st.ifp)?.isMember(group) === true;
  }

  /** The reportable groups joined on the interface (Ip6's membership table is the truth). */
  private currentGroups(st: MldIf): MldGroup[] {
    const out: MldGroup[] = [];
    const g6 = this.ip6.if6Of(st.ifp)?.groups;
    if (!g6) return out;
    for (const [addr] of g6.entries()) {
      if (!this.reportable(st.ifp, addr)) continue;
      const m = this.groupOf(st, addr);
      m.joined = true;
      out.push(m);
    }
    return out;
  }

  private armGroup(st: MldIf, m: MldGroup, delay: number): void {
    this.stopTimer(m);
    m.due = this.now + delay;
    m.timer = this.ip6.clock.timer(delay, () => this.groupFire(st, m));
  }

  private stopTimer(m: MldGroup): void {
    m.timer?.cancel();
    m.timer = null;
  }

  // ---- inspection --------------------------------------------------------------------

  /** Host Compatibility Mode of an interface (2 unless an MLDv1 querier was heard). */
  version(ifp: Ifnet): 1 | 2 {
    return this.ifs.get(ifp.index)?.version ?? 2;
  }

  state(ifp: Ifnet): MldIfInfo {
    const st = this.ifs.get(ifp.index);
    const now = this.now;
    if (!st) return { version: 2, olderQuerierMs: null, robustness: this.cfg.robustness, groups: [] };
    return {
      version: st.version,
      olderQuerierMs: st.version === 1 ? Math.max(0, st.olderQuerierUntil - now) : null,
      robustness: st.rv,
      groups: [...st.groups.values()].map((m) => ({
        group: formatIn6(m.addr),
        joined: m.joined,
        retransmissionsLeft: m.scLeft + m.repeatsLeft,
        responseInMs: m.timer?.active ? Math.max(0, m.due - now) : null,
      })),
    };
  }

  close(): void {
    for (const st of this.ifs.values()) {
      st.olderQuerier?.cancel();
      st.general?.cancel();
      st.stateChange?.cancel();
      for (const m of st.groups.values()) this.stopTimer(m);
    }
    this.ifs.clear();
  }
}
