/** A byte-bounded cache of message bodies, oldest evicted first (Map keeps insertion order). */
export class BodyCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  set(id: string, body: Buffer): void {
    if (body.length > this.maxBytes / 8) return;
    this.delete(id);
    this.entries.set(id, body);
    this.bytes += body.length;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= v.length;
    }
  }

  get(id: string): Buffer | undefined {
    return this.entries.get(id);
  }

  delete(id: string): void {
    const v = this.entries.get(id);
    if (v) {
      this.entries.delete(id);
      this.bytes -= v.length;
    }
  }
}
