/**
 * What every bundled-handler test sets up and must undo, in one place: the assets it synthesized, its work
 * folder, the simulation, the captured output, and the process environment (restored last, as it was
 * when the scope opened). One `afterAll(() => scope.close())` undoes it all.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthMigratorAsset, type MigratorAsset, type SynthAssetOptions } from './asset.ts';
import { captureOutput, setupSimEnv, type SimEnv } from './sim-env.ts';

export class HandlerTestScope {
  /** The process environment when the scope opened. */
  readonly initialEnv = { ...process.env };
  private readonly undo: (() => unknown)[] = [];

  /** Synthesize an asset (see synthMigratorAsset), removed on close. */
  asset(options: SynthAssetOptions): MigratorAsset {
    const asset = synthMigratorAsset(options);
    this.undo.push(() => asset.cleanup());
    return asset;
  }

  /** A temporary folder, removed on close. */
  work(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.undo.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** The simulated deploy environment (see setupSimEnv), closed on close. */
  async sim(stage = 'staging'): Promise<SimEnv> {
    const sim = await setupSimEnv(stage);
    this.undo.push(() => sim.close());
    return sim;
  }

  /** Capture stdout/stderr from now on (see captureOutput), restored on close. */
  capture(): ReturnType<typeof captureOutput> {
    const output = captureOutput();
    this.undo.push(() => output.restore());
    return output;
  }

  /** Anything else to undo on close (before what was set up earlier). */
  defer(fn: () => unknown): void {
    this.undo.push(fn);
  }

  /** Undo everything in reverse order, then restore the environment; the first failure is thrown after. */
  async close(): Promise<void> {
    let failure: unknown;
    for (const fn of this.undo.splice(0).reverse()) {
      try {
        await fn();
      } catch (error) {
        failure ??= error;
      }
    }
    process.env = this.initialEnv;
    if (failure !== undefined) throw failure;
  }
}
