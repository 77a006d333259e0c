/**
 * The parser result convention.
 *
 * Untrusted bytes never make a parser throw: it returns `Ok` with the parsed
 * value or `Err` with a typed reason. Reasons are short stable identifiers that
 * double as counter names, so a caller can write
 *
 *     const r = parseEther(frame);
 *     if (!r.ok) { stats.c[r.error]++; return; }
 *
 * Throwing is reserved for programmer errors (bad arguments from our own code).
 */
export type Ok<T> = { readonly ok: true; readonly value: T };
export type Err<E> = { readonly ok: false; readonly error: E };
export type Result<T, E = string> = Ok<T> | Err<E>;

export function ok<T>(value: T): Ok<T> {
  return { ok: true, value };
}

export function err<E>(error: E): Err<E> {
  return { ok: false, error };
}

/** Unwraps a result in tests and tools; throws with the error reason otherwise. */
export function unwrap<T, E>(r: Result<T, E>): T {
  if (r.ok) return r.value;
  throw new Error(`unwrap: ${String(r.error)}`);
}
