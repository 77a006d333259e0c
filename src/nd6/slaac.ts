/**
 * Stateless address autoconfiguration (RFC 4862 §5.5.3) from Prefix
 * Information options with the A flag, with interface identifiers per
 * RFC 7217 (stable, semantically opaque; the default) or modified EUI-64
 * (RFC 4291 Appendix A), and temporary addresses per RFC 8981 as an option.
 *
 * RFC 7217 §5: RID = F(Prefix, Net_Iface, Network_ID, DAD_Counter, secret_key),
 * F = SHA-256 here, the interface identifier being its first 64 bits;
 * Net_Iface is the interface name, Network_ID is not used. Identifiers that
 * RFC 5453 reserves are skipped by incrementing DAD_Counter, and a DAD
 * failure retries with the next counter value up to IDGEN_RETRIES times
 * (§6). The secret key is given by the stack's owner (`tap6 up
 * --stable-secret`) or drawn at random at start, in which case addresses
 * are stable only for the life of the process.
 */
import { createHash } from 'node:crypto';
import { formatIn6 } from '../ip6/addr.ts';
import { IN6_IFF, type In6Ifaddr } from '../ip6/ifaddr.ts';
import type { Ip6 } from '../ip6/ip6.ts';
import { prefixMatch } from '../ip6/route.ts';
import type { Ifnet } from '../link/ifnet.ts';
import type { Nd6Stats } from './stats.ts';

export type IfIdMode = 'stable' | 'eui64';

/** RFC 7217 §6. */
export const IDGEN_RETRIES = 3;
/** RFC 8981 §3.8 defaults. */
export const TEMP_VALID_LIFETIME = 2 * 86400;
export const TEMP_PREFERRED_LIFETIME = 86400;
export const TEMP_IDGEN_RETRIES = 3;
/** RFC 4862 §5.5.3(e): the two hours. */
export const TWO_HOURS = 7200;
const INFINITE = 0xffffffff;

export interface SlaacConfig {
  ifid: IfIdMode;
  /** RFC 7217 secret key (at least 16 bytes). */
  secret: Uint8Array;
  /** RFC 8981 temporary addresses. */
  tempAddresses: boolean;
  /** RFC 4429 Optimistic DAD for autoconfigured addresses. */
  optimisticDad: boolean;
}

interface AutoAddr {
  ia: In6Ifaddr;
  prefix: Uint8Array;
  dadCounter: number;
  temporary: boolean;
  /** RFC 8981 DESYNC_FACTOR of a temporary address, seconds (0 for public ones). */
  desync: number;
}

/** RFC 5453 reserved interface identifiers (subnet-router anycast and the reserved anycast range). */
export function isReservedIid(iid: Uint8Array): boolean {
  if (iid.every((x) => x === 0)) return true;
  const head = [0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  return head.every((x, i) => iid[i] === x) && iid[7]! >= 0x80;
}

export class Slaac {
  private readonly auto: AutoAddr[] = [];

  constructor(
    private readonly ip6: Ip6,
    private readonly stats: Nd6Stats,
    public config: SlaacConfig,
  ) {
    if (config.secret.length < 16) throw new RangeError('SLAAC: the stable-privacy secret must be at least 16 bytes');
    ip6.hooks.addrRemoved.push((ia) => {
      const i = this.auto.findIndex((a) => a.ia === ia);
      if (i >= 0) this.auto.splice(i, 1);
    });
  }

  /** RFC 7217 identifier for `prefix` on `ifp`. */
  stableIid(ifp: Ifnet, prefix: Uint8Array, dadCounter: number): Uint8Array {
    for (let c = dadCounter; ; c++) {
      const h = createHash('sha256');
      h.update(prefix.subarray(0, 8));
      h.update(ifp.name);
      h.update(Uint8Array.of(c >>> 24, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff));
      h.update(this.config.secret);
      const iid = new Uint8Array(h.digest().subarray(0, 8));
      if (!isReservedIid(iid)) return iid;
    }
  }

  private iidFor(ifp: Ifnet, prefix: Uint8Array, dadCounter: number): Uint8Array | null {
    if (this.config.ifid === 'eui64') {
      if (!ifp.lladdr) return null;
      const m = ifp.lladdr;
      return Uint8Array.of(m[0]! ^ 0x02, m[1]!, m[2]!, 0xff, 0xfe, m[3]!, m[4]!, m[5]!);
    }
    return this.stableIid(ifp, prefix, dadCounter);
  }

  /** The autoconfigured addresses (for inspection). */
  addresses(): readonly { ia: In6Ifaddr; temporary: boolean }[] {
    return this.auto;
  }

  /**
   * §5.5.3: a Prefix Information option with the A flag. Lifetimes in
   * seconds (0xffffffff = infinity). Returns what was done, for logs and tests.
   */
  onPrefix(ifp: Ifnet, prefix: Uint8Array, plen: number, valid: number, preferred: number): 'ignored' | 'created' | 'updated' {
    const c = this.stats.c;
    // (a) autonomous flag is checked by the caller; (b) link-local prefix; (c) preferred > valid.
    if (prefix[0] === 0xfe && (prefix[1]! & 0xc0) === 0x80) {
      c.pioLinkLocal++;
      return 'ignored';
    }
    if (preferred > valid) {
      c.pioBadLifetimes++;
      return 'ignored';
    }
    // §5.5.3(d): the prefix length plus the identifier length (64 on Ethernet) must be 128.
    if (plen !== 64) {
      c.pioBadPlen++;
      this.ip6.log.log('info', 'nd6', `${ifp.name}: prefix ${formatIn6(prefix)}/${plen}: length is not 64, no address formed`);
      return 'ignored';
    }
    const vl = valid === INFINITE ? Infinity : valid;
    const pl = preferred === INFINITE ? Infinity : preferred;
    const mine = this.auto.filter((a) => a.ia.ifp === ifp && prefixMatch(a.prefix, 0, prefix, 64));
    if (mine.length === 0) {
      if (vl === 0) return 'ignored';
      const made = this.create(ifp, prefix, vl, pl, 0, false);
      if (made && this.config.tempAddresses) this.createTemporary(ifp, prefix, vl, pl);
      return made ? 'created' : 'ignored';
    }
    const now = this.ip6.clock.now();
    for (const a of mine) {
      // (e) the two-hour rule for the valid lifetime; the preferred lifetime is taken as received.
      const remaining = (a.ia.validUntil - now) / 1000;
      let newValid: number;
      if (vl > TWO_HOURS || vl > remaining) newValid = vl;
      else if (remaining <= TWO_HOURS) {
        newValid = remaining;
        c.pioTwoHourRule++;
      } else {
        newValid = TWO_HOURS;
        c.pioTwoHourRule++;
      }
      let newPref = pl;
      if (a.temporary) {
        // RFC 8981 §3.4: a temporary address never outlives its own maximum lifetimes;
        // the preferred one keeps its DESYNC_FACTOR, or a refresh would undo it.
        const age = (now - a.ia.createdAt) / 1000;
        newValid = Math.min(newValid, TEMP_VALID_LIFETIME - age);
        newPref = Math.min(newPref, TEMP_PREFERRED_LIFETIME - a.desync - age);
      }
      this.ip6.setLifetimes(a.ia, Math.max(0, Math.min(newPref, newValid)), Math.max(0, newValid));
    }
    return 'updated';
  }

  private create(ifp: Ifnet, prefix: Uint8Array, vl: number, pl: number, dadCounter: number, temporary: boolean, desync = 0): In6Ifaddr | null {
    const iid = temporary ? this.ip6.rng.fill(new Uint8Array(8)) : this.iidFor(ifp, prefix, dadCounter);
    if (!iid) return null;
    if (temporary) iid[0]! &= ~0x02; // RFC 8981 §3.3.1: the universal/local bit is not meaningful; keep it 0.
    const addr = new Uint8Array(16);
    addr.set(prefix.subarray(0, 8));
    addr.set(iid, 8);
    let flags = IN6_IFF.AUTOCONF | (temporary ? IN6_IFF.TEMPORARY : 0);
    if (this.config.optimisticDad) flags |= IN6_IFF.OPTIMISTIC;
    const r = this.ip6.addAddress(ifp, addr, 64, { vltime: vl, pltime: pl, flags });
    if (!r.ok) {
      this.stats.c.slaacFailed++;
      this.ip6.log.log('warn', 'nd6', `${ifp.name}: SLAAC ${formatIn6(addr)}: ${r.error}`);
      return null;
    }
    this.auto.push({ ia: r.value, prefix: prefix.slice(0, 16), dadCounter, temporary, desync });
    this.stats.c.slaacAddresses++;
    return r.value;
  }

  private createTemporary(ifp: Ifnet, prefix: Uint8Array, vl: number, pl: number): void {
    // RFC 8981 §3.4: DESYNC_FACTOR, a random value below MAX_DESYNC_FACTOR (0.4 × TEMP_PREFERRED_LIFETIME).
    const desync = this.ip6.rng.uniform(0, 0.4 * TEMP_PREFERRED_LIFETIME);
    const tpl = Math.min(pl, TEMP_PREFERRED_LIFETIME - desync);
    const ia = this.create(ifp, prefix, Math.min(vl, TEMP_VALID_LIFETIME), tpl, 0, true, desync);
    if (!ia || tpl === Infinity) return;
    // §3.5: a new temporary address REGEN_ADVANCE before this one is deprecated.
    const st = this.ip6.if6Of(ifp);
    const regenAdvance = 2 + (TEMP_IDGEN_RETRIES * (st?.dadTransmits ?? 1) * (st?.retransTimer ?? 1000)) / 1000;
    if (tpl <= regenAdvance) return;
    this.ip6.clock.timer((tpl - regenAdvance) * 1000, () => this.regenerate(ia));
  }

  /** RFC 8981 §3.5: replaces a temporary address about to be deprecated, while the prefix is still advertised. */
  private regenerate(old: In6Ifaddr): void {
    const a = this.auto.find((x) => x.ia === old);
    if (!a || !this.config.tempAddresses) return;
    const pub = this.auto.find((x) => !x.temporary && x.ia.ifp === old.ifp && prefixMatch(x.prefix, 0, a.prefix, 64));
    if (!pub) return;
    const now = this.ip6.clock.now();
    const vl = (pub.ia.validUntil - now) / 1000;
    const pl = (pub.ia.preferredUntil - now) / 1000;
    if (!(pl > 0)) return;
    this.stats.c.tempRegenerated++;
    this.createTemporary(old.ifp, a.prefix, vl, pl);
  }

  /**
   * RFC 7217 §6: after a DAD failure, try the next DAD_Counter (stable
   * identifiers only), at most IDGEN_RETRIES times; temporary addresses get a
   * fresh random identifier (RFC 8981 §3.4, TEMP_IDGEN_RETRIES).
   */
  onDadFailure(ia: In6Ifaddr): void {
    const a = this.auto.find((x) => x.ia === ia);
    if (!a) return;
    const now = this.ip6.clock.now();
    const vl = (ia.validUntil - now) / 1000;
    const pl = Math.max(0, (ia.preferredUntil - now) / 1000);
    this.ip6.deleteAddress(ia.ifp, ia.addr);
    const next = a.dadCounter + 1;
    const limit = a.temporary ? TEMP_IDGEN_RETRIES : IDGEN_RETRIES;
    if (next > limit || (this.config.ifid === 'eui64' && !a.temporary)) {
      this.stats.c.slaacGaveUp++;
      this.ip6.log.log('warn', 'nd6', `${ia.ifp.name}: giving up autoconfiguration for ${formatIn6(a.prefix)}/64 after ${next} DAD failures`);
      return;
    }
    const made = this.create(ia.ifp, a.prefix, vl, pl, next, a.temporary, a.desync);
    if (made) this.stats.c.slaacRetried++;
  }
}
