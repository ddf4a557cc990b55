import { print } from "./print.ts";

/** Prints each check as it completes: ✓ passed, ! worth attention, ✗ failed (exit 1). */
export class DoctorReport {
  #failures = 0;

  pass(label: string, detail: string): void {
    print(`✓ ${label}: ${detail}`);
  }

  warn(label: string, detail: string): void {
    print(`! ${label}: ${detail}`);
  }

  fail(label: string, detail: string): void {
    this.#failures += 1;
    print(`✗ ${label}: ${detail}`);
  }

  get failures(): number {
    return this.#failures;
  }

  finish(): number {
    print(this.#failures === 0 ? "All checks passed." : `${this.#failures} problem(s) found.`);
    return this.#failures === 0 ? 0 : 1;
  }
}
