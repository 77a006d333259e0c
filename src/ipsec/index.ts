/**
 * IPsec for tap6 (RFC 4301, 4302, 4303, 3173, 6040): the data plane — SPD,
 * SAD, ESP, AH, IPComp and their transforms, tunnel ECN — as hooks to ip6
 * input and output, KAME-style.
 *
 *   crypto.ts  transforms behind a backend interface: node:crypto (default, fast),
 *              @noble (portable, ~8x slower: never the default)
 *   replay.ts  anti-replay window with ESN inference (RFC 4303 §3.4.3, App. A)
 *   esp.ts     ESP encapsulation/decapsulation on byte buffers (RFC 4303)
 *   ah.ts      AH with the mutable-field rules of IPv6 (RFC 4302)
 *   ipcomp.ts  IPComp with DEFLATE from node:zlib (RFC 3173, RFC 2394)
 *   ecn.ts     ECN and DSCP at tunnel ends, KAME's three modes (RFC 6040)
 *   sad.ts     SAs: inbound by (SPI, dst, proto) or (CPI, dst), outbound newest-usable
 *   spd.ts     policies: selectors, deterministic order, KAME defaults, socket policy
 *   ipsec.ts   the per-stack object (SPD + SAD + ipsecstat + rng/clock) and its decisions
 *   input.ts   protocol-switch input routines for next headers 50, 51, 108 (and 41
 *              from an IPComp tunnel's far end)
 *   output.ts  the whole-packet output step for ip6_output
 *   hooks.ts   the ip6 hooks (Ip6Security) and the protocol-switch registration
 *   stats.ts   ipsecstat
 *
 * ============================ Integration ============================
 *
 *   hooks.ts   `attachIpsec(ip6, ipsec, { defer? })`, called by src/stack.ts:
 *              sets `ip6.ipsec` (the `Ip6Security` interface of
 *              src/ip6/security.ts, so ip6 imports nothing from here) and
 *              registers ESP (50), AH (51), IPComp (108) and IPv6-in-IPv6
 *              (41, IPComp tunnels only) in the protocol switch. With
 *              `defer` the input routines return PENDING and resume the loop
 *              through `ip6.resume` (asynchronous crypto).
 *
 * Output (src/ip6/output.ts): after route, source and checksum, before
 * Hop-by-Hop framing and fragmentation, and only when
 * `ip6.ipsec.spd.active` or the socket's policy (Ip6OutputOpts.ipsecPolicy,
 * filled by UDP and TCP) is 'ipsec': `IpsecHooks.output` resolves the
 * policy (ND/MLD bypass), chooses the SAs (`Ipsec.outputSas`) and builds the
 * packet (`ipsecOutput`); ip6 adopts it, routes a tunnel's packet to the
 * far end and fragments the result if needed. Transports size segments by
 * the path MTU less `IpsecHooks.overhead`.
 *
 * Input: ESP/AH run in the next-header loop; a tunnel's inner packet goes
 * through ip6 input again (flags DECRYPTED/AUTHED kept, at most MAX_NESTING
 * deep). The inbound policy check (RFC 4301 §5.2, KAME's ipsec6_in_reject),
 * `IpsecHooks.inputAllowed(ctx, proto, sockPolicy)`, is made by UDP after
 * demultiplexing, by TCP at segment arrival and by ICMPv6 before echo
 * handling (ND, MLD and ICMPv6 errors exempt); it counts inPolvio/inDiscard.
 *
 * Counters: every drop inside esp.ts/ah.ts/input.ts/ipsec.ts increments one
 * ipsecstat counter (the returned reason is its name); the lead counts
 * nothing twice. Per-SA counters (replay, tooOld, authFail, badPad) and
 * lifetime counts (bytes, packets, addedAt, usedAt) live on the SA.
 *
 * Key management: tools/setkey*.ts maps setkey statements onto
 * Sad.add/get/delete/flush/list and Spd.add/findExact/delete/flush/list;
 * parseRequest/formatRequest read and print requests in setkey's syntax. SA
 * state and lifetime fields exist; the expiry policy and ACQUIRE (at
 * outNoSa) are the next issue's.
 */
export * from './crypto.ts';
export * from './replay.ts';
export * from './esp.ts';
export * from './ah.ts';
export * from './ipcomp.ts';
export * from './ecn.ts';
export * from './sad.ts';
export * from './spd.ts';
export * from './stats.ts';
export * from './env.ts';
export * from './ipsec.ts';
export * from './input.ts';
export * from './output.ts';
export * from './hooks.ts';
