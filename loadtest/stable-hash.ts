/** A stable number in [0, 1) for a string (FNV-1a): the same input gets the same answer in
 * every run, so a "share" of recipients or messages is always the same ones. */
export function unitHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 0x100000000;
}
