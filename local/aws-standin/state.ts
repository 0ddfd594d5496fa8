/**
 * The stand-in's whole state (keys, aliases, secrets) and its optional persistence to one JSON file.
 * Persisting matters: without it, ciphertexts stored in the local database become undecryptable at
 * the next `npm start`, because the key material would be new.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KeyRecord {
  keyId: string;
  arn: string;
  /** 32 random bytes, base64. Plain in the state file: this is a development stand-in, never production. */
  material: string;
  description: string;
  enabled: boolean;
  /** Epoch seconds. */
  creationDate: number;
  /** `AWS` for the stand-in's own `aws/secretsmanager` key, `CUSTOMER` for keys made by CreateKey. */
  keyManager: 'AWS' | 'CUSTOMER';
  tags: Array<{ TagKey: string; TagValue: string }>;
}

export interface AliasRecord {
  aliasName: string;
  targetKeyId: string;
  creationDate: number;
  lastUpdatedDate: number;
}

export interface SecretVersionRecord {
  versionId: string;
  createdDate: number;
  stages: string[];
  kind: 'string' | 'binary';
  /** The value as a KMS ciphertext blob (base64) under `keyId`, context {SecretARN, SecretVersionId}. */
  ciphertext: string;
  keyId: string;
}

export interface SecretRecord {
  name: string;
  arn: string;
  description?: string;
  /** KmsKeyId as the caller gave it (id, ARN or alias); absent means the default `aws/secretsmanager` key. */
  kmsKeyId?: string;
  createdDate: number;
  lastChangedDate: number;
  lastAccessedDate?: number;
  deletedDate?: number;
  tags: Array<{ Key: string; Value: string }>;
  /** Oldest first. */
  versions: SecretVersionRecord[];
}

export interface StandInState {
  version: 1;
  keys: Record<string, KeyRecord>;
  aliases: Record<string, AliasRecord>;
  /** By secret name. */
  secrets: Record<string, SecretRecord>;
}

export function emptyState(): StandInState {
  return { version: 1, keys: {}, aliases: {}, secrets: {} };
}

/** Holds the state and writes it (debounced, atomically) when a mutation marks it dirty. */
export class StateStore {
  private dirty = false;
  private writing: Promise<void> | null = null;
  private lastError: unknown = null;
  private lastWriteMs = 0;

  private constructor(
    readonly state: StandInState,
    private readonly file: string | undefined,
    /** Coalesces bursts of mutations (a seed of 10,000 tenants) into few writes. */
    private readonly debounceMs: number,
  ) {}

  static async open(file: string | undefined, debounceMs = 25): Promise<StateStore> {
    if (!file || !existsSync(file)) return new StateStore(emptyState(), file, debounceMs);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new Error(`AWS stand-in state file ${file} is not valid JSON (${(err as Error).message}); move it away to start afresh`);
    }
    const s = parsed as Partial<StandInState> | null;
    if (!s || s.version !== 1 || typeof s.keys !== 'object' || typeof s.aliases !== 'object' || typeof s.secrets !== 'object') {
      throw new Error(`AWS stand-in state file ${file} has an unknown format (expected version 1 with keys, aliases, secrets)`);
    }
    return new StateStore(s as StandInState, file, debounceMs);
  }

  /** Call after every mutation; a no-op without a state file. */
  markDirty(): void {
    if (!this.file) return;
    this.dirty = true;
    this.writing ??= this.writeLoop();
  }

  /** Resolves when everything marked dirty so far is on disk; rethrows a failed write. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.lastError) {
      const err = this.lastError;
      this.lastError = null;
      throw err;
    }
  }

  private async writeLoop(): Promise<void> {
    try {
      while (this.dirty) {
        // Waiting a few times the last write's duration keeps a large state's writes under ~20% of the time.
        await new Promise((r) => setTimeout(r, Math.max(this.debounceMs, 4 * this.lastWriteMs)));
        this.dirty = false;
        const started = Date.now();
        await this.writeOnce();
        this.lastWriteMs = Date.now() - started;
      }
    } catch (err) {
      this.lastError = err;
    } finally {
      this.writing = null;
    }
  }

  private async writeOnce(): Promise<void> {
    const file = this.file!;
    await mkdir(dirname(file), { recursive: true });
    // Temp file + rename: a crash mid-write leaves the previous state intact, never a torn file.
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(this.state), { mode: 0o600 });
    await rename(tmp, file);
  }
}
