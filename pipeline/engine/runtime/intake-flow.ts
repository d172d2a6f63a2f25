import type { PipelineFlow, Source } from '../../core/types.js';

/**
 * Whether intake flows freely, and for how long: connected, not paused for backpressure, and below
 * the source window (at the window the broker holds messages back, as during a sink outage).
 * The runtime hands it to sinks as their {@link PipelineFlow}.
 */
export class IntakeFlow implements PipelineFlow {
  private running = false;
  private paused = false;
  /** Unsettled messages fill the source window: the broker sends nothing more until some settle. */
  private windowFull = false;
  private resumedAtMs = 0;

  constructor(
    private readonly source: Source<unknown>,
    private readonly clock: () => number,
  ) {}

  flowingForMs(): number {
    if (this.paused || this.windowFull || !this.running) return 0;
    const connectedSince = this.source.connectedSinceMs ? this.source.connectedSinceMs() : this.resumedAtMs;
    if (connectedSince === undefined) return 0;
    return Math.max(0, this.clock() - Math.max(connectedSince, this.resumedAtMs));
  }

  get isPaused(): boolean {
    return this.paused;
  }

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    this.running = true;
    this.resumedAtMs = this.clock();
  }

  stop(): void {
    this.running = false;
  }

  /** Backpressure: the source stops reading. */
  pause(): void {
    this.paused = true;
    this.source.pause?.();
  }

  resume(): void {
    this.paused = false;
    this.resumedAtMs = this.clock();
    this.source.resume?.();
  }

  /** Unsettled messages reached the source window. */
  windowFilled(): void {
    this.windowFull = true;
  }

  /** Unsettled messages fell below the source window again. */
  windowFreed(): void {
    if (!this.windowFull) return;
    this.windowFull = false;
    this.resumedAtMs = this.clock();
  }
}
