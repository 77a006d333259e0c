/**
 * tap6 — a KAME-style IPv6 stack in userspace on a Linux TAP.
 * The public API: today the core primitives and the link layer.
 */
export * from './core/index.ts';
export * from './link/index.ts';
export { TapDriver } from './link/tapdriver.ts';
export { Stack, type StackOptions, type ScopedAddress } from './stack.ts';
export { TapDevice, TapError, isTapAvailable, type TapOptions, type TapStats } from './link/tap/index.ts';
export * from './ip6/addr.ts';
export * from './ip6/header.ts';
export * from './icmp6/wire.ts';
