/**
 * The Secrets Manager half of the stand-in (`secretsmanager.*`). Every secret value is stored
 * encrypted under the secret's KMS key (default: the `aws/secretsmanager` key), with the context
 * {SecretARN, SecretVersionId} as AWS uses, so a disabled key makes reads fail as in AWS.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { AwsError } from './errors.ts';
import { epochSeconds, optBool, optInt, optList, optString, reqString, type Input } from './input.ts';
import type { KmsService, Handler } from './kms.ts';
import type { KeyRecord, SecretRecord, SecretVersionRecord, StateStore } from './state.ts';

const NAME = /^[a-zA-Z0-9/_+=.@-]+$/;
const MAX_VALUE_BYTES = 65_536;
/** Versions that lost all their labels are dropped beyond this many, as AWS deprecates them. */
const MAX_UNLABELLED_VERSIONS = 100;

interface SecretValue {
  kind: 'string' | 'binary';
  bytes: Buffer;
}

export class SecretsService {
  constructor(
    private readonly store: StateStore,
    private readonly kms: KmsService,
    readonly region: string,
    readonly account: string,
  ) {}

  private get secrets(): Record<string, SecretRecord> {
    return this.store.state.secrets;
  }

  /** By name, full ARN, or partial ARN (without the six random characters AWS appends). */
  private find(secretId: string, opts: { includeDeleted?: boolean } = {}): SecretRecord {
    let secret: SecretRecord | undefined;
    const arn = /^arn:aws:secretsmanager:[^:]*:[^:]*:secret:(.+)$/.exec(secretId);
    if (arn) {
      // A full ARN ends in "-" plus six characters after the name; a partial ARN stops at the name.
      const full = this.secrets[arn[1]!.slice(0, -7)];
      const partial = this.secrets[arn[1]!];
      secret = full?.arn === secretId ? full : partial && partial.arn.slice(0, -7) === secretId ? partial : undefined;
    } else {
      secret = this.secrets[secretId];
    }
    if (!secret) throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    if (secret.deletedDate !== undefined && !opts.includeDeleted) {
      throw new AwsError('InvalidRequestException', "You can't perform this operation on the secret because it was marked for deletion.");
    }
    return secret;
  }

  private keyFor(secret: { kmsKeyId?: string }): KeyRecord {
    if (secret.kmsKeyId === undefined) return this.kms.secretsManagerDefaultKey();
    try {
      return this.kms.resolve(secret.kmsKeyId);
    } catch (err) {
      throw encryptionFailure(err);
    }
  }

  private readValue(input: Input): SecretValue | undefined {
    const str = input.SecretString;
    const bin = input.SecretBinary;
    if (str !== undefined && str !== null && bin !== undefined && bin !== null) {
      throw new AwsError('InvalidParameterException', "You can't specify both a binary secret value and a string secret value in the same secret.");
    }
    let value: SecretValue | undefined;
    if (str !== undefined && str !== null) {
      if (typeof str !== 'string') throw new AwsError('SerializationException', 'SecretString must be a string');
      value = { kind: 'string', bytes: Buffer.from(str, 'utf8') };
    } else if (bin !== undefined && bin !== null) {
      if (typeof bin !== 'string') throw new AwsError('SerializationException', 'SecretBinary must be base64');
      value = { kind: 'binary', bytes: Buffer.from(bin, 'base64') };
    }
    if (value && value.bytes.length > MAX_VALUE_BYTES) {
      throw new AwsError('ValidationException', `1 validation error detected: Value at 'secret${value.kind === 'string' ? 'String' : 'Binary'}' failed to satisfy constraint: Member must have length less than or equal to ${MAX_VALUE_BYTES}`);
    }
    return value;
  }

  private token(input: Input): string | undefined {
    return optString(input, 'ClientRequestToken', { min: 32, max: 64 });
  }

  private context(secret: SecretRecord, versionId: string): Record<string, string> {
    return { SecretARN: secret.arn, SecretVersionId: versionId };
  }

  private decrypt(secret: SecretRecord, version: SecretVersionRecord): SecretValue {
    try {
      const { plaintext } = this.kms.decryptBlob(Buffer.from(version.ciphertext, 'base64'), this.context(secret, version.versionId));
      return { kind: version.kind, bytes: plaintext };
    } catch (err) {
      throw decryptionFailure(err);
    }
  }

  /** Adds a version and moves its labels; AWSCURRENT's previous holder becomes AWSPREVIOUS. */
  private addVersion(secret: SecretRecord, versionId: string, value: SecretValue, stages: string[]): SecretVersionRecord {
    const key = this.keyFor(secret);
    let blob: Buffer;
    try {
      blob = this.kms.encryptWith(key, value.bytes, this.context(secret, versionId));
    } catch (err) {
      throw encryptionFailure(err);
    }
    for (const stage of stages) {
      for (const other of secret.versions) {
        if (!other.stages.includes(stage)) continue;
        other.stages = other.stages.filter((s) => s !== stage);
        if (stage === 'AWSCURRENT') {
          for (const v of secret.versions) v.stages = v.stages.filter((s) => s !== 'AWSPREVIOUS');
          other.stages.push('AWSPREVIOUS');
        }
      }
    }
    const version: SecretVersionRecord = { versionId, createdDate: epochSeconds(), stages: [...stages], kind: value.kind, ciphertext: blob.toString('base64'), keyId: key.keyId };
    secret.versions.push(version);
    const unlabelled = secret.versions.filter((v) => v.stages.length === 0);
    if (unlabelled.length > MAX_UNLABELLED_VERSIONS) {
      const drop = new Set(unlabelled.slice(0, unlabelled.length - MAX_UNLABELLED_VERSIONS));
      secret.versions = secret.versions.filter((v) => !drop.has(v));
    }
    secret.lastChangedDate = epochSeconds();
    this.store.markDirty();
    return version;
  }

  /** An existing version with the request's token: the same value is a harmless retry, another is refused. */
  private retried(secret: SecretRecord, token: string | undefined, value: SecretValue | undefined): SecretVersionRecord | undefined {
    if (token === undefined) return undefined;
    const existing = secret.versions.find((v) => v.versionId === token);
    if (!existing) return undefined;
    const stored = this.decrypt(secret, existing);
    const same = value !== undefined && stored.kind === value.kind && stored.bytes.length === value.bytes.length && timingSafeEqual(stored.bytes, value.bytes);
    if (!same) throw new AwsError('ResourceExistsException', "You can't modify an existing version, you can only create a new version.");
    return existing;
  }

  private describe(secret: SecretRecord): Record<string, unknown> {
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description !== undefined ? { Description: secret.description } : {}),
      ...(secret.kmsKeyId !== undefined ? { KmsKeyId: secret.kmsKeyId } : {}),
      RotationEnabled: false,
      LastChangedDate: secret.lastChangedDate,
      ...(secret.lastAccessedDate !== undefined ? { LastAccessedDate: secret.lastAccessedDate } : {}),
      ...(secret.deletedDate !== undefined ? { DeletedDate: secret.deletedDate } : {}),
      ...(secret.tags.length > 0 ? { Tags: secret.tags } : {}),
      VersionIdsToStages: Object.fromEntries(secret.versions.filter((v) => v.stages.length > 0).map((v) => [v.versionId, v.stages])),
      CreatedDate: secret.createdDate,
    };
  }

  readonly handlers: Record<string, Handler> = {
    CreateSecret: (input) => {
      const name = reqString(input, 'Name', { max: 512, pattern: NAME });
      const token = this.token(input);
      const value = this.readValue(input);
      const existing = this.secrets[name];
      if (existing) {
        if (existing.deletedDate !== undefined) {
          throw new AwsError('InvalidRequestException', "You can't create this secret because a secret with this name is already scheduled for deletion.");
        }
        const retry = this.retried(existing, token, value);
        if (retry) return { ARN: existing.arn, Name: existing.name, VersionId: retry.versionId };
        throw new AwsError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
      }
      const kmsKeyId = optString(input, 'KmsKeyId', { max: 2048 });
      const description = optString(input, 'Description', { max: 2048 });
      const now = epochSeconds();
      const secret: SecretRecord = {
        name,
        arn: `arn:aws:secretsmanager:${this.region}:${this.account}:secret:${name}-${randomSuffix()}`,
        ...(description !== undefined ? { description } : {}),
        ...(kmsKeyId !== undefined ? { kmsKeyId } : {}),
        createdDate: now,
        lastChangedDate: now,
        tags: readTags(input),
        versions: [],
      };
      // Check the key before storing anything: a failed create leaves no secret behind.
      const key = this.keyFor(secret);
      if (!key.enabled) throw encryptionFailure(new AwsError('DisabledException', `${key.arn} is disabled.`));
      let version: SecretVersionRecord | undefined;
      if (value) version = this.addVersion(secret, token ?? randomUUID(), value, ['AWSCURRENT']);
      this.secrets[name] = secret;
      this.store.markDirty();
      return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.versionId } : {}), ReplicationStatus: [] };
    },

    PutSecretValue: (input) => {
      const secret = this.find(reqString(input, 'SecretId', { max: 2048 }));
      const token = this.token(input);
      const value = this.readValue(input);
      if (!value) throw new AwsError('InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
      const stages = optList(input, 'VersionStages', (s) => {
        if (typeof s !== 'string' || s.length === 0 || s.length > 256) throw new AwsError('ValidationException', 'VersionStages entries must be strings of 1 to 256 characters');
        return s;
      }) ?? ['AWSCURRENT'];
      const version = this.retried(secret, token, value) ?? this.addVersion(secret, token ?? randomUUID(), value, stages);
      return { ARN: secret.arn, Name: secret.name, VersionId: version.versionId, VersionStages: version.stages };
    },

    UpdateSecret: (input) => {
      const secret = this.find(reqString(input, 'SecretId', { max: 2048 }));
      const token = this.token(input);
      const value = this.readValue(input);
      const description = optString(input, 'Description', { max: 2048 });
      const kmsKeyId = optString(input, 'KmsKeyId', { max: 2048 });
      if (kmsKeyId !== undefined) {
        // Validate the new key before changing anything.
        this.keyFor({ kmsKeyId });
      }
      const retry = value ? this.retried(secret, token, value) : undefined;
      if (description !== undefined) secret.description = description;
      if (kmsKeyId !== undefined) secret.kmsKeyId = kmsKeyId;
      const version = retry ?? (value ? this.addVersion(secret, token ?? randomUUID(), value, ['AWSCURRENT']) : undefined);
      secret.lastChangedDate = epochSeconds();
      this.store.markDirty();
      return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.versionId } : {}) };
    },

    GetSecretValue: (input) => {
      const secret = this.find(reqString(input, 'SecretId', { max: 2048 }));
      const versionId = optString(input, 'VersionId', { min: 32, max: 64 });
      const stage = optString(input, 'VersionStage', { min: 1, max: 256 });
      let version: SecretVersionRecord | undefined;
      if (versionId !== undefined) {
        version = secret.versions.find((v) => v.versionId === versionId);
        if (!version) throw new AwsError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`);
        if (stage !== undefined && !version.stages.includes(stage)) {
          throw new AwsError('InvalidRequestException', `You provided a VersionStage that is not associated to the provided VersionId.`);
        }
      } else {
        const label = stage ?? 'AWSCURRENT';
        version = secret.versions.find((v) => v.stages.includes(label));
        if (!version) throw new AwsError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for staging label: ${label}`);
      }
      const value = this.decrypt(secret, version);
      const today = new Date();
      today.setUTCHours(0, 0, 0, 0);
      if (secret.lastAccessedDate !== epochSeconds(today.getTime())) {
        secret.lastAccessedDate = epochSeconds(today.getTime());
        this.store.markDirty();
      }
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.versionId,
        ...(value.kind === 'string' ? { SecretString: value.bytes.toString('utf8') } : { SecretBinary: value.bytes.toString('base64') }),
        VersionStages: version.stages,
        CreatedDate: version.createdDate,
      };
    },

    DescribeSecret: (input) => this.describe(this.find(reqString(input, 'SecretId', { max: 2048 }), { includeDeleted: true })),

    ListSecrets: (input) => {
      const includeDeleted = optBool(input, 'IncludePlannedDeletion') ?? false;
      const max = optInt(input, 'MaxResults', 1, 100) ?? 100;
      const next = optString(input, 'NextToken');
      const filters = optList(input, 'Filters', (f) => {
        const filter = f as { Key?: unknown; Values?: unknown };
        if (typeof filter?.Key !== 'string' || !Array.isArray(filter.Values)) throw new AwsError('ValidationException', 'Filters need Key and Values');
        return { key: filter.Key, values: filter.Values.map(String) };
      }) ?? [];
      for (const f of filters) {
        if (f.key !== 'name' && f.key !== 'description' && f.key !== 'all') {
          throw new AwsError('InvalidParameterException', `The AWS stand-in filters secrets by name, description or all only (got ${f.key}).`);
        }
      }
      const matches = (s: SecretRecord): boolean =>
        filters.every((f) =>
          f.values.some((v) => {
            if (f.key === 'name') return s.name.startsWith(v);
            if (f.key === 'description') return (s.description ?? '').startsWith(v);
            return s.name.startsWith(v) || (s.description ?? '').startsWith(v);
          }),
        );
      const all = Object.values(this.secrets)
        .filter((s) => (includeDeleted || s.deletedDate === undefined) && matches(s))
        .sort((a, b) => a.name.localeCompare(b.name));
      const start = next === undefined ? 0 : Number.parseInt(next, 10);
      if (!Number.isInteger(start) || start < 0) throw new AwsError('InvalidNextTokenException', 'The NextToken value is invalid.');
      const items = all.slice(start, start + max).map((s) => {
        const { VersionIdsToStages, ...rest } = this.describe(s);
        return { ...rest, SecretVersionsToStages: VersionIdsToStages };
      });
      return { SecretList: items, ...(start + max < all.length ? { NextToken: String(start + max) } : {}) };
    },

    DeleteSecret: (input) => {
      const secret = this.find(reqString(input, 'SecretId', { max: 2048 }), { includeDeleted: true });
      const force = optBool(input, 'ForceDeleteWithoutRecovery') ?? false;
      const days = optInt(input, 'RecoveryWindowInDays', 7, 30);
      if (force && days !== undefined) {
        throw new AwsError('InvalidParameterException', "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
      }
      const deletionDate = epochSeconds(Date.now() + (force ? 0 : (days ?? 30) * 86_400_000));
      if (force) delete this.secrets[secret.name];
      else secret.deletedDate = epochSeconds();
      this.store.markDirty();
      return { ARN: secret.arn, Name: secret.name, DeletionDate: deletionDate };
    },

  };
}

function randomSuffix(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  return Array.from(randomBytes(6), (b) => alphabet[b % alphabet.length]).join('');
}

function readTags(input: Input): SecretRecord['tags'] {
  return (
    optList(input, 'Tags', (t) => {
      const tag = t as { Key?: unknown; Value?: unknown };
      if (typeof tag?.Key !== 'string' || typeof tag.Value !== 'string') throw new AwsError('ValidationException', 'Tags need Key and Value strings');
      return { Key: tag.Key, Value: tag.Value };
    }) ?? []
  );
}

/** Why KMS refused, kept in the message (it names the key, never the value). */
function reason(err: unknown): string {
  return err instanceof AwsError ? `${err.type}: ${err.message}` : 'KMS failed';
}

// AWS documents these two for a KMS key that is missing, disabled or otherwise unusable.
function encryptionFailure(err: unknown): AwsError {
  return new AwsError('EncryptionFailure', `Secrets Manager can't encrypt the protected secret text using the provided KMS key. Check that the KMS key is available, enabled, and not in an invalid state. (${reason(err)})`);
}

function decryptionFailure(err: unknown): AwsError {
  return new AwsError('DecryptionFailure', `Secrets Manager can't decrypt the protected secret text using the provided KMS key. (${reason(err)})`);
}
