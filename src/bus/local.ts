/**
 * The in-process bus, the default: one node, events handed straight to the hub.
 * @module
 */

import type { Bus, BusEvent } from "./bus.ts";

/** A {@linkcode Bus} for a single process. */
export class LocalBus implements Bus {
  readonly node: string = "local";
  #handler: ((event: BusEvent) => void) | null = null;

  /** Delivers the event at once, synchronously. */
  publish(event: BusEvent): void {
    this.#handler?.(event);
  }

  /** {@inheritDoc Bus.subscribe} */
  subscribe(handler: (event: BusEvent) => void): void {
    this.#handler = handler;
  }

  /** One node: the hub's own table is the whole truth. */
  claim(): Promise<boolean> {
    return Promise.resolve(true);
  }

  /** Nothing to give back. */
  release(): void {}

  /** Always ready. */
  ready(): boolean {
    return true;
  }

  /** Nothing to close. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
