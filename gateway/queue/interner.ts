/**
 * One shared copy of strings that many queued items hold (a pool, a domain, a sender, a
 * last reply): 100 000 items then hold one string, not 100 000 equal ones. Bounded: past
 * `max` distinct strings the table starts again (a bound against a plugin or a sender
 * inventing one per message, not a cache policy).
 */
export class Interner {
  readonly #shared = new Map<string, string>();

  constructor(private readonly max: number) {}

  of(value: string): string {
    const known = this.#shared.get(value);
    if (known !== undefined) return known;
    if (this.#shared.size >= this.max) this.#shared.clear();
    this.#shared.set(value, value);
    return value;
  }
}
