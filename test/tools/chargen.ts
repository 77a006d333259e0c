/**
 * The RFC 864 pattern check shared by the UDP and TCP chargen tests:
 * printable ASCII (32..126) rotating; each line 72 characters plus CR LF,
 * the next line starting one character later. The text may end in the
 * middle of a line (a datagram's or a stream's end).
 */
export function checkChargen(s: string): string | null {
  const lines = s.split('\r\n');
  let prevFirst = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (i < lines.length - 1 && line.length !== 72) return `line ${i} has ${line.length} characters`;
    if (line.length > 72) return `line ${i} too long`;
    for (let k = 0; k < line.length; k++) {
      const c = line.charCodeAt(k);
      if (c < 32 || c > 126) return `unprintable ${c}`;
      if (k > 0 && c - 32 !== (line.charCodeAt(k - 1) - 32 + 1) % 95) return `line ${i} breaks the rotation at ${k}`;
    }
    if (line.length > 0) {
      const first = line.charCodeAt(0) - 32;
      if (prevFirst >= 0 && first !== (prevFirst + 1) % 95) return `line ${i} does not start one character later`;
      prevFirst = first;
    }
  }
  return null;
}
