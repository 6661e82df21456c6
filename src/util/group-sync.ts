/**
 * Group commit for fsyncs of one path (a directory after renames in it): callers that ask while
 * an fsync of the path is running share the next one, which starts when the running one ends
 * and so covers every change they made before asking. N concurrent callers cost at most two
 * fsyncs instead of N, and no caller returns before an fsync that began after its request.
 */
export class GroupSync {
  private readonly running = new Map<string, Promise<void>>();
  private readonly queued = new Map<string, Promise<void>>();

  constructor(private readonly syncPath: (path: string) => Promise<void>) {}

  sync(path: string): Promise<void> {
    const queued = this.queued.get(path);
    if (queued) return queued;
    const running = this.running.get(path);
    if (!running) return this.start(path);
    // The running fsync may have begun before this caller's change: wait for the next one.
    const next: Promise<void> = running.then(
      (): Promise<void> => this.startQueued(path, next),
      (): Promise<void> => this.startQueued(path, next),
    );
    this.queued.set(path, next);
    return next;
  }

  private startQueued(path: string, self: Promise<void>): Promise<void> {
    if (this.queued.get(path) === self) this.queued.delete(path);
    return this.start(path);
  }

  private start(path: string): Promise<void> {
    const run = this.syncPath(path).finally(() => {
      if (this.running.get(path) === run) this.running.delete(path);
    });
    this.running.set(path, run);
    return run;
  }
}
