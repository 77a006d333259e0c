/**
 * The IPsec state of one stack: SPD, SAD, counters, and the decisions the
 * ip6 hooks ask for (see index.ts for the contract). It is also the
 * `IpsecEnv` that esp.ts and ah.ts take.
 */
import type { Clock } from '../core/clock.ts';
import { err, ok, type Result } from '../core/result.ts';
import type { Rng } from '../core/rng.ts';
import type { CryptoBackend } from './crypto.ts';
import { type EcnMode, parseEcnMode } from './ecn.ts';
import type { IpsecEnv } from './env.ts';
import { Sad, type SecAssoc } from './sad.ts';
import { type Direction, type FlowKey, type Policy, type SocketPolicyLike, Spd, type SpdDefaults } from './spd.ts';
import { type IpsecStats, ipsecCounters } from './stats.ts';

export interface IpsecOptions {
  clock: Clock;
  rng: Rng;
  /** Default node:crypto. */
  backend?: CryptoBackend;
  maxSas?: number;
  maxPolicies?: number;
  defaults?: Partial<SpdDefaults>;
  /** ECN at tunnel encapsulation and decapsulation (ecn.ts; default allowed: RFC 6040 normal mode). */
  ecn?: EcnMode;
}

export type OutputSasError = 'outDiscard' | 'outNoSa';

export class Ipsec implements IpsecEnv {
  readonly stats: IpsecStats = ipsecCounters();
  readonly clock: Clock;
  readonly rng: Rng;
  readonly spd: Spd;
  readonly sad: Sad;
  /** KAME's net.inet6.ipsec6.ecn (ecn.ts); change it through setEcn or assign a checked value. */
  ecn: EcnMode;
  /** Reused result of outputSas (valid until the next call). */
  private readonly chosen: SecAssoc[] = [];

  constructor(o: IpsecOptions) {
    this.clock = o.clock;
    this.rng = o.rng;
    this.spd = new Spd({ maxEntries: o.maxPolicies, defaults: o.defaults });
    this.sad = new Sad({ clock: o.clock, backend: o.backend, maxEntries: o.maxSas });
    const e = parseEcnMode(o.ecn ?? 'allowed');
    if (!e) throw new RangeError(`ipsec: ecn is allowed, forbidden or nocare, not ${String(o.ecn)}`);
    this.ecn = e;
  }

  /** Sets the ECN mode from a word (allowed, forbidden, nocare) or KAME's number (1, 0, -1). */
  setEcn(v: string | number): Result<EcnMode, string> {
    const e = parseEcnMode(v);
    if (!e) return err(`ecn: allowed (1), forbidden (0) or nocare (-1), not ${v}`);
    this.ecn = e;
    return ok(e);
  }

  /** The policy for a flow (with the socket's own policy, if any). */
  policy(dir: Direction, f: FlowKey, sock?: SocketPolicyLike | null): Policy {
    return this.spd.resolve(dir, f, sock);
  }

  /**
   * Output: the SAs to apply for `p` to a packet from `src` to `dst`, in
   * order (innermost first); empty means send in the clear. IPComp SAs are
   * among them (ipsecOutput may still send a payload uncompressed). A `use`
   * request without an SA is skipped; a `require`/`unique` one without an SA drops
   * the packet (outNoSa; the next issue sends an ACQUIRE to the key daemon
   * here). After a tunnel request the following requests see the tunnel's
   * endpoints. The array is reused: consume it before the next call.
   */
  outputSas(p: Policy, src: Uint8Array, dst: Uint8Array): Result<readonly SecAssoc[], OutputSasError> {
    const out = this.chosen;
    out.length = 0;
    if (p.action === 'discard') {
      this.stats.c.outDiscard++;
      return err('outDiscard');
    }
    if (p.action === 'none') {
      this.stats.c.outBypass++;
      return ok(out);
    }
    let s = src;
    let d = dst;
    for (const r of p.requests) {
      if (r.mode === 'tunnel') {
        s = r.src!;
        d = r.dst!;
      }
      const sa = this.sad.lookupOut(r.proto, r.mode, s, d, r.reqid);
      if (sa) {
        out.push(sa);
        continue;
      }
      if (this.spd.levelOf(r) !== 'use') {
        this.stats.c.outNoSa++;
        return err('outNoSa');
      }
    }
    if (out.length === 0) this.stats.c.outBypass++;
    return ok(out);
  }

  /**
   * Input, after the upper layer found its socket (KAME ipsec6_in_reject):
   * may the packet be delivered, given what IPsec applied to it
   * (`pktFlags`: PktFlag.DECRYPTED, PktFlag.AUTHED)? Counts a refusal.
   */
  inputAllowed(f: FlowKey, pktFlags: number, sock?: SocketPolicyLike | null): boolean {
    const p = this.spd.resolve('in', f, sock);
    if (this.spd.inboundAllowed(p, pktFlags)) return true;
    if (p.action === 'discard') this.stats.c.inDiscard++;
    else this.stats.c.inPolvio++;
    return false;
  }
}
