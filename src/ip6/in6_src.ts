/**
 * Default source address selection (RFC 6724 §4–§5) and the policy table
 * (§2.1): KAME's in6_src.c, as a pure function over a candidate list.
 *
 * Candidate set (§4). A candidate is usable when it is neither tentative
 * (unless optimistic, RFC 4429), nor duplicated, nor anycast, nor detached
 * (KAME skips addresses whose prefix lost its routers). Addresses of every
 * interface are candidates (the weak host model), with one limit from
 * RFC 4007 §9: a source never leaves its zone, so an address of link scope
 * (link-local, ::1) is a candidate only when it belongs to the outgoing
 * interface. Sites are not split into zones here (one site per node).
 *
 * The rules of §5, applied in order to a pair of candidates SA and SB; the
 * first rule that separates them decides:
 *  1   Prefer the same address (SA = D).
 *  2   Prefer appropriate scope: the smallest scope that still reaches D;
 *      if none reaches it, the largest.
 *  3   Avoid deprecated addresses. RFC 4429 asks that an optimistic address
 *      count as deprecated here, as Linux does.
 *  4   Prefer home addresses. There is no Mobile IPv6 in this stack: no
 *      address is a home or care-of address, so the rule never separates two
 *      candidates. It keeps its place so the numbering reads like the RFC.
 *  5   Prefer the outgoing interface.
 *  5.5 Prefer addresses in a prefix advertised by the next hop. Applied only
 *      when the caller says which candidates qualify (`nextHopAdvertised`);
 *      router discovery does not yet record which router advertised which
 *      prefix, so Ip6 passes no predicate and the rule is skipped there.
 *  6   Prefer a matching label: Label(S) = Label(D) in the policy table.
 *  7   Prefer temporary addresses (RFC 8981) — or public ones when
 *      `preferTemporary` is false, the reversed sense §5 requires be
 *      available.
 *  8   Longest matching prefix, CommonPrefixLen(S, D) counted at most up to
 *      the length of S's prefix (§2.2), so two addresses of one /64 tie.
 * When all rules tie, §5 leaves the tie-breaker open; we take the lower
 * address bytes, then the lower interface index, so the choice never depends
 * on the order in which the candidates are listed.
 *
 * Scope (§3.1, §3.2): multicast carries its scope; link-local and loopback
 * are link scope; site-local fec0::/10 is site scope (deprecated by RFC 3879
 * but still scoped, as in KAME's in6_addrscope); an IPv4-mapped address has
 * link scope for 127.0.0.0/8 and 169.254.0.0/16 and global scope otherwise;
 * everything else is global.
 */
import { err, ok, type Result } from '../core/result.ts';
import { IN6_LEN, formatIn6, in6, in6Equal, isLinkLocal, isLoopback, isMulticast, multicastScope } from './addr.ts';
import { IN6_IFF, Scope } from './ifaddr.ts';
import { maskPrefix, prefixMatch } from './route.ts';

// ---- policy table (§2.1) ---------------------------------------------------

export interface PolicyEntry {
  /** The prefix, bits beyond `plen` cleared. */
  readonly prefix: Uint8Array;
  readonly plen: number;
  /** Used by destination address selection (§6 rule 6). */
  readonly precedence: number;
  /** Used by source (§5 rule 6) and destination (§6 rule 5) selection. */
  readonly label: number;
}

/** RFC 6724 §2.1, the default policy table, in the RFC's order. */
export const DEFAULT_POLICY: readonly PolicyEntry[] = Object.freeze(
  (
    [
      ['::1', 128, 50, 0],
      ['::', 0, 40, 1],
      ['::ffff:0:0', 96, 35, 4],
      ['2002::', 16, 30, 2],
      ['2001::', 32, 5, 5],
      ['fc00::', 7, 3, 13],
      ['::', 96, 1, 3],
      ['fec0::', 10, 1, 11],
      ['3ffe::', 16, 1, 12],
    ] as const
  ).map(([p, plen, precedence, label]) => Object.freeze({ prefix: in6(p), plen, precedence, label })),
);

/** Entries a policy table holds at most (DESIGN §2: every table is bounded). */
export const MAX_POLICY_ENTRIES = 256;

/** What `lookup` answers for an address no entry covers (only once ::/0 was removed). */
const NO_ENTRY: PolicyEntry = Object.freeze({ prefix: new Uint8Array(IN6_LEN), plen: -1, precedence: 0, label: -1 });

/**
 * The policy table: longest-prefix match over (prefix, precedence, label)
 * rows. Rows are replaced or removed one at a time, as `ip addrlabel` does,
 * and `reset()` brings back the defaults.
 */
export class PolicyTable {
  /** Kept sorted by prefix length, longest first: the first match is the longest. */
  private rows: PolicyEntry[] = [];

  constructor(entries: readonly PolicyEntry[] = DEFAULT_POLICY) {
    for (const e of entries) {
      const r = this.set(e.prefix, e.plen, e.precedence, e.label);
      if (!r.ok) throw new RangeError(`policy table: ${r.error}`);
    }
  }

  /** The entry with the longest prefix covering `a` (a placeholder with label -1 and precedence 0 if none). */
  lookup(a: Uint8Array, off = 0): PolicyEntry {
    for (const e of this.rows) if (prefixMatch(a, off, e.prefix, e.plen)) return e;
    return NO_ENTRY;
  }

  label(a: Uint8Array, off = 0): number {
    return this.lookup(a, off).label;
  }

  precedence(a: Uint8Array, off = 0): number {
    return this.lookup(a, off).precedence;
  }

  /** Adds the row for prefix/plen, or replaces the row already there. */
  set(prefix: Uint8Array, plen: number, precedence: number, label: number): Result<PolicyEntry, string> {
    if (prefix.length !== IN6_LEN) return err('a prefix is 16 bytes');
    if (!Number.isInteger(plen) || plen < 0 || plen > 128) return err(`bad prefix length ${plen}`);
    if (!isU32(precedence)) return err(`bad precedence ${precedence}: need an integer 0..4294967295`);
    if (!isU32(label)) return err(`bad label ${label}: need an integer 0..4294967295`);
    const row: PolicyEntry = Object.freeze({ prefix: maskPrefix(prefix, plen), plen, precedence, label });
    const i = this.indexOf(row.prefix, plen);
    if (i >= 0) {
      this.rows[i] = row;
      return ok(row);
    }
    if (this.rows.length >= MAX_POLICY_ENTRIES) return err(`policy table full (${MAX_POLICY_ENTRIES} entries)`);
    let at = 0;
    while (at < this.rows.length && this.rows[at]!.plen >= plen) at++;
    this.rows.splice(at, 0, row);
    return ok(row);
  }

  /** Removes the row for exactly prefix/plen. */
  delete(prefix: Uint8Array, plen: number): Result<PolicyEntry, string> {
    const i = prefix.length === IN6_LEN ? this.indexOf(maskPrefix(prefix, plen), plen) : -1;
    if (i < 0) return err(`no policy for ${prefix.length === IN6_LEN ? formatIn6(prefix) : '?'}/${plen}`);
    return ok(this.rows.splice(i, 1)[0]!);
  }

  /** Back to the RFC 6724 defaults. */
  reset(): void {
    this.rows = [];
    for (const e of DEFAULT_POLICY) this.set(e.prefix, e.plen, e.precedence, e.label);
  }

  /** The rows, longest prefix first. */
  entries(): readonly PolicyEntry[] {
    return this.rows.slice();
  }

  get size(): number {
    return this.rows.length;
  }

  private indexOf(masked: Uint8Array, plen: number): number {
    return this.rows.findIndex((e) => e.plen === plen && e.prefix.every((v, k) => v === masked[k]));
  }
}

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/** Shared default table for callers that bring none (never modified). */
const DEFAULT_TABLE = new PolicyTable();

// ---- scope (§3) ---------------------------------------------------------------

/** Scope of an address for source selection (§3.1, §3.2; see the file comment). */
export function sourceScope(a: Uint8Array, off = 0): number {
  if (isMulticast(a, off)) return multicastScope(a, off);
  if (isLinkLocal(a, off) || isLoopback(a, off)) return Scope.LINK;
  if (a[off] === 0xfe && (a[off + 1]! & 0xc0) === 0xc0) return Scope.SITE;
  if (isV4Mapped(a, off)) {
    const b0 = a[off + 12]!;
    if (b0 === 127 || (b0 === 169 && a[off + 13] === 254)) return Scope.LINK;
  }
  return Scope.GLOBAL;
}

function isV4Mapped(a: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (a[off + i] !== 0) return false;
  return a[off + 10] === 0xff && a[off + 11] === 0xff;
}

/** Number of leading bits `a` and `b` have in common (0..128). */
export function commonPrefixLen(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < IN6_LEN; i++) {
    const x = a[i]! ^ b[i]!;
    if (x) return i * 8 + Math.clz32(x) - 24;
  }
  return 128;
}

// ---- candidates and rules (§4, §5) ------------------------------------------------

/** What selection needs of a candidate; an In6Ifaddr is one. */
export interface SrcCandidate {
  readonly addr: Uint8Array;
  /** Length of the candidate's interface prefix (rule 8's limit). */
  readonly plen: number;
  /** IN6_IFF flags. */
  readonly flags: number;
  readonly ifp: { readonly index: number };
}

export interface SelectSourceOptions<C extends SrcCandidate = SrcCandidate> {
  /** Index of the interface the packet leaves by (rule 5, and the zone limit of §4). */
  outIfindex: number;
  /** Policy table for rule 6 (default: the RFC 6724 defaults). */
  policy?: PolicyTable;
  /** Rule 7: prefer temporary addresses (default true, RFC 6724 §5); false prefers public ones. */
  preferTemporary?: boolean;
  /** Rule 5.5: true for candidates in a prefix the next hop advertised. Rule skipped when absent. */
  nextHopAdvertised?: (c: C) => boolean;
}

/** The rule that decided between two candidates; 9 is the tie-breaker. */
export type SrcRule = 1 | 2 | 3 | 4 | 5 | 5.5 | 6 | 7 | 8 | 9;

/** §4: usable as a source at all (not tentative unless optimistic, not duplicated, anycast or detached). */
export function usableSource(flags: number): boolean {
  if (flags & (IN6_IFF.DUPLICATED | IN6_IFF.ANYCAST | IN6_IFF.DETACHED)) return false;
  return !(flags & IN6_IFF.TENTATIVE) || (flags & IN6_IFF.OPTIMISTIC) !== 0;
}

/** §4 with the zone limit: usable, and of link scope only on the outgoing interface. */
export function isCandidate(c: SrcCandidate, outIfindex: number): boolean {
  if (!usableSource(c.flags)) return false;
  return sourceScope(c.addr) > Scope.LINK || c.ifp.index === outIfindex;
}

interface Cx<C extends SrcCandidate> {
  dst: Uint8Array;
  dscope: number;
  dlabel: number;
  out: number;
  policy: PolicyTable;
  preferTemporary: boolean;
  nextHop: ((c: C) => boolean) | undefined;
}

function context<C extends SrcCandidate>(dst: Uint8Array, o: SelectSourceOptions<C>): Cx<C> {
  const policy = o.policy ?? DEFAULT_TABLE;
  return {
    dst,
    dscope: sourceScope(dst),
    dlabel: policy.label(dst),
    out: o.outIfindex,
    policy,
    preferTemporary: o.preferTemporary ?? true,
    nextHop: o.nextHopAdvertised,
  };
}

/**
 * Chooses the source for `dst` among `candidates` (RFC 6724 §5). Candidates
 * that fail §4 (see `isCandidate`) are passed over; undefined when none is left.
 */
export function selectSource<C extends SrcCandidate>(dst: Uint8Array, candidates: readonly C[], opts: SelectSourceOptions<C>): C | undefined {
  const cx = context(dst, opts);
  let best: C | undefined;
  for (const c of candidates) {
    if (!isCandidate(c, cx.out)) continue;
    if (!best || decide(best, c, cx) > 0) best = c;
  }
  return best;
}

/**
 * Compares two candidates for `dst` (both assumed to pass §4): which one the
 * rules prefer and the rule that decided. For tests and diagnostics.
 */
export function compareSources<C extends SrcCandidate>(dst: Uint8Array, a: C, b: C, opts: SelectSourceOptions<C>): { winner: 'a' | 'b' | 'same'; rule: SrcRule | null } {
  const d = decide(a, b, context(dst, opts));
  if (d === 0) return { winner: 'same', rule: null };
  return { winner: d < 0 ? 'a' : 'b', rule: Math.abs(d) as SrcRule };
}

/** Signed rule number: negative when `a` is preferred, positive when `b` is, 0 for the same candidate. */
function decide<C extends SrcCandidate>(a: C, b: C, cx: Cx<C>): number {
  // Rule 1: prefer the same address.
  const aSame = in6Equal(a.addr, 0, cx.dst);
  if (aSame !== in6Equal(b.addr, 0, cx.dst)) return aSame ? -1 : 1;
  // Rule 2: prefer appropriate scope.
  const sa = sourceScope(a.addr);
  const sb = sourceScope(b.addr);
  if (sa < sb) return sa < cx.dscope ? 2 : -2;
  if (sb < sa) return sb < cx.dscope ? -2 : 2;
  // Rule 3: avoid deprecated (and optimistic) addresses.
  const avoid = IN6_IFF.DEPRECATED | IN6_IFF.OPTIMISTIC;
  const aDep = (a.flags & avoid) !== 0;
  if (aDep !== ((b.flags & avoid) !== 0)) return aDep ? 3 : -3;
  // Rule 4: prefer home addresses — no Mobile IPv6, nothing to separate.
  // Rule 5: prefer the outgoing interface.
  const aOut = a.ifp.index === cx.out;
  if (aOut !== (b.ifp.index === cx.out)) return aOut ? -5 : 5;
  // Rule 5.5: prefer addresses in a prefix advertised by the next hop.
  if (cx.nextHop) {
    const aNh = cx.nextHop(a);
    if (aNh !== cx.nextHop(b)) return aNh ? -5.5 : 5.5;
  }
  // Rule 6: prefer matching label.
  const aLab = cx.policy.label(a.addr) === cx.dlabel;
  if (aLab !== (cx.policy.label(b.addr) === cx.dlabel)) return aLab ? -6 : 6;
  // Rule 7: prefer temporary addresses (or public ones, the reversed sense).
  const aTmp = (a.flags & IN6_IFF.TEMPORARY) !== 0;
  if (aTmp !== ((b.flags & IN6_IFF.TEMPORARY) !== 0)) return aTmp === cx.preferTemporary ? -7 : 7;
  // Rule 8: longest matching prefix, up to the candidate's prefix length.
  const la = Math.min(commonPrefixLen(a.addr, cx.dst), a.plen);
  const lb = Math.min(commonPrefixLen(b.addr, cx.dst), b.plen);
  if (la !== lb) return la > lb ? -8 : 8;
  // Tie-breaker: lower address, then lower interface index.
  for (let i = 0; i < IN6_LEN; i++) if (a.addr[i] !== b.addr[i]) return a.addr[i]! < b.addr[i]! ? -9 : 9;
  if (a.ifp.index !== b.ifp.index) return a.ifp.index < b.ifp.index ? -9 : 9;
  return 0;
}
