/**
 * Collects the items that arrive in one turn of the event loop and hands them over together, in
 * chunks of at most `max`, at the turn's end (setImmediate): the insert path's group commits
 * (libsqlGroupCommit.ts, pgInsertGroups.ts). Each item's promise is settled by the consumer.
 */
export interface Pending<T> { item: T; resolve(): void; reject(err: unknown): void }

export class TurnBatch<T> {
  private queue: Array<Pending<T>> = [];
  private scheduled = false;

  /** `order` sorts a turn's items before they are cut into chunks. */
  constructor(private max: number, private consume: (chunk: Array<Pending<T>>) => void,
    private order?: (a: Pending<T>, b: Pending<T>) => number) {}

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.hand());
    });
  }

  private hand(): void {
    this.scheduled = false;
    const all = this.queue;
    this.queue = [];
    if (this.order && all.length > 1) all.sort(this.order);
    for (let i = 0; i < all.length; i += this.max) this.consume(all.slice(i, i + this.max));
  }
}
