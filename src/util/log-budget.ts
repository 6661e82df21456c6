/**
 * A budget of log lines per time window, for events a client can cause at will (connections
 * closed for abuse): past the budget, lines are counted instead of written, and the next line
 * written says how many were left out. An attacker then cannot flood the log.
 */
export class LogBudget {
  private windowStart = 0;
  private used = 0;
  private suppressed = 0;

  constructor(
    private readonly linesPerWindow: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `write` with the number of lines left out since the last one written, or counts this one. */
  spend(write: (suppressed: number) => void): void {
    const now = this.now();
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used >= this.linesPerWindow) {
      this.suppressed += 1;
      return;
    }
    this.used += 1;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    write(suppressed);
  }
}
