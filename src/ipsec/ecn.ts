/**
 * ECN and DSCP across an IPsec tunnel (RFC 6040, RFC 2983), with KAME's
 * three modes (ip_ecn.c; sysctl net.inet6.ipsec6.ecn):
 *
 *   allowed   (1, ECN_ALLOWED):   RFC 6040 normal mode. Encapsulation copies
 *             the inner ECN field into the outer header.
 *   forbidden (0, ECN_FORBIDDEN): RFC 6040 compatibility mode. The outer
 *             ECN field is Not-ECT (for decapsulators that predate ECN).
 *   nocare    (-1, ECN_NOCARE):   no consideration to ECN: the traffic class
 *             is copied as it is and the outer ECN field is ignored at
 *             decapsulation.
 *
 * The DSCP is copied to the outer header in every mode (KAME copies the
 * whole traffic class; RFC 2983's uniform model at the ingress). At the
 * egress the inner DSCP is left as it is (RFC 2983's pipe model): the outer
 * DSCP was set by the peer's policy, not the sender's.
 *
 * Decapsulation in modes allowed and forbidden follows RFC 6040 §4.2 (the
 * decapsulator has one behaviour, whatever mode the encapsulator used):
 *
 *                        outer: Not-ECT   ECT(0)    ECT(1)    CE
 *     inner Not-ECT             Not-ECT   Not-ECT!  Not-ECT!  drop!
 *           ECT(0)              ECT(0)    ECT(0)    ECT(1)    CE
 *           ECT(1)              ECT(1)    ECT(1)    ECT(1)    CE
 *           CE                  CE        CE        CE!       CE
 *
 * ('!' marks what §4.2 calls unexpected: counted as an anomaly, the drop
 * as a drop.) Only the inner ECN bits change; the caller drops on 'drop'.
 */
import { IP6_VFC } from '../ip6/header.ts';

export type EcnMode = 'allowed' | 'forbidden' | 'nocare';

export const ECN_NOT_ECT = 0;
export const ECN_ECT1 = 1;
export const ECN_ECT0 = 2;
export const ECN_CE = 3;

/** KAME's numbers (ip_ecn.h): ECN_ALLOWED 1, ECN_FORBIDDEN 0, ECN_NOCARE -1. */
export const ECN_MODE_NUMBER: Readonly<Record<EcnMode, number>> = { allowed: 1, forbidden: 0, nocare: -1 };

/**
 * A mode from a word or KAME's number; also RFC 6040's names (normal,
 * compatibility). Null if it is none of them.
 */
export function parseEcnMode(v: string | number): EcnMode | null {
  switch (typeof v === 'number' ? String(v) : v.trim().toLowerCase()) {
    case 'allowed':
    case 'normal':
    case '1':
      return 'allowed';
    case 'forbidden':
    case 'compatibility':
    case '0':
      return 'forbidden';
    case 'nocare':
    case '-1':
      return 'nocare';
    default:
      return null;
  }
}

/** Traffic class of the IPv6 header at `off` in `b`. */
export function trafficClassAt(b: Uint8Array, off: number): number {
  return ((b[off + IP6_VFC]! & 0x0f) << 4) | (b[off + IP6_VFC + 1]! >>> 4);
}

/** Sets the ECN bits (the traffic class's low two) of the IPv6 header at `off`. */
function setEcnAt(b: Uint8Array, off: number, ecn: number): void {
  const i = off + IP6_VFC + 1;
  b[i] = (b[i]! & 0xcf) | ((ecn & 3) << 4);
}

/** The outer header's traffic class for an inner one (tunnel ingress). */
export function ecnEncapsulate(mode: EcnMode, innerTc: number): number {
  const tc = innerTc & 0xff;
  return mode === 'forbidden' ? tc & 0xfc : tc;
}

/** What decapsulation did to the inner header (the caller counts and acts). */
export type EcnDecap = 'unchanged' | 'ce' | 'ect1' | 'anomaly' | 'drop';

/**
 * Tunnel egress: combines the outer ECN field (of traffic class `outerTc`)
 * into the inner IPv6 header at `b[innerOff]`, in place (RFC 6040 §4.2).
 */
export function ecnDecapsulate(mode: EcnMode, outerTc: number, b: Uint8Array, innerOff: number): EcnDecap {
  if (mode === 'nocare') return 'unchanged';
  const outer = outerTc & 3;
  const inner = trafficClassAt(b, innerOff) & 3;
  if (inner === ECN_NOT_ECT) {
    if (outer === ECN_CE) return 'drop';
    return outer === ECN_NOT_ECT ? 'unchanged' : 'anomaly';
  }
  switch (outer) {
    case ECN_CE:
      if (inner === ECN_CE) return 'unchanged';
      setEcnAt(b, innerOff, ECN_CE);
      return 'ce';
    case ECN_ECT1:
      if (inner === ECN_CE) return 'anomaly';
      if (inner === ECN_ECT0) {
        setEcnAt(b, innerOff, ECN_ECT1);
        return 'ect1';
      }
      return 'unchanged';
    default:
      return 'unchanged';
  }
}
