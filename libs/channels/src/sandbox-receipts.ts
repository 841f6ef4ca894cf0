import type { NormalisedReceipt, ReceiptSink } from './provider.js';

/**
 * What every sandbox provider shares: its simulated delivery reports reach the pipeline through a
 * sink (the same path as a verified webhook's receipts), after a delay, on timers that never keep
 * the process alive and stop with the provider.
 */
export abstract class SandboxReceipts {
  private sink: ReceiptSink | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();

  setReceiptSink(sink: ReceiptSink): void {
    this.sink = sink;
  }

  /** Delivers the receipt `make` builds (when the timer fires) after `delayMs`. */
  protected later(delayMs: number, make: () => NormalisedReceipt): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      void this.sink?.(make()).catch(() => undefined);
    }, delayMs);
    t.unref();
    this.timers.add(t);
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
