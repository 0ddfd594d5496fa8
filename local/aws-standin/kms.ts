/**
 * The KMS half of the stand-in (`TrentService.*`): symmetric keys with real AES-256-GCM, aliases,
 * enable/disable, and AWS's error names for every failure the callers handle.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { AwsError } from './errors.ts';
import { open, parseBlob, seal, type EncryptionContext } from './crypto.ts';
import { epochSeconds, optInt, optList, optString, optStringMap, reqBlob, reqString, type Input } from './input.ts';
import type { AliasRecord, KeyRecord, StateStore } from './state.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]+$/;
/** The AWS managed key Secrets Manager uses when a secret names none. */
export const SECRETS_MANAGER_DEFAULT_ALIAS = 'alias/aws/secretsmanager';

export type Handler = (input: Input) => unknown;

export class KmsService {
  constructor(
    private readonly store: StateStore,
    readonly region: string,
    readonly account: string,
  ) {}

  private get keys(): Record<string, KeyRecord> {
    return this.store.state.keys;
  }
  private get aliases(): Record<string, AliasRecord> {
    return this.store.state.aliases;
  }

  keyArn(keyId: string): string {
    return `arn:aws:kms:${this.region}:${this.account}:key/${keyId}`;
  }
  aliasArn(aliasName: string): string {
    return `arn:aws:kms:${this.region}:${this.account}:${aliasName}`;
  }

  /** Resolves a key id, key ARN, alias name or alias ARN; NotFoundException otherwise. */
  resolve(ref: string, opts: { allowAlias?: boolean } = {}): KeyRecord {
    const allowAlias = opts.allowAlias ?? true;
    let rest = ref;
    if (ref.startsWith('arn:')) {
      const m = /^arn:aws:kms:([^:]*):([^:]*):((?:key|alias)\/.+)$/.exec(ref);
      if (!m || m[1] !== this.region || m[2] !== this.account) throw new AwsError('NotFoundException', `Invalid arn ${ref}`);
      rest = m[3]!;
    }
    if (rest.startsWith('alias/')) {
      if (!allowAlias) throw new AwsError('NotFoundException', `Invalid keyId ${ref}`);
      const alias = this.aliases[rest];
      if (!alias) throw new AwsError('NotFoundException', `Alias ${this.aliasArn(rest)} is not found.`);
      const key = this.keys[alias.targetKeyId];
      if (!key) throw new AwsError('NotFoundException', `Alias ${this.aliasArn(rest)} is not found.`);
      return key;
    }
    const id = rest.startsWith('key/') ? rest.slice(4) : rest;
    if (!UUID.test(id)) throw new AwsError('NotFoundException', `Invalid keyId '${ref}'`);
    const key = this.keys[id];
    if (!key) throw new AwsError('NotFoundException', `Key '${this.keyArn(id)}' does not exist`);
    return key;
  }

  private usable(key: KeyRecord): KeyRecord {
    if (!key.enabled) throw new AwsError('DisabledException', `${key.arn} is disabled.`);
    return key;
  }

  /** Creates a key record (CreateKey, and the stand-in's own AWS managed key). */
  createKeyRecord(description: string, keyManager: KeyRecord['keyManager'], tags: KeyRecord['tags'] = []): KeyRecord {
    const keyId = randomUUID();
    const key: KeyRecord = {
      keyId,
      arn: this.keyArn(keyId),
      material: randomBytes(32).toString('base64'),
      description,
      enabled: true,
      creationDate: epochSeconds(),
      keyManager,
      tags,
    };
    this.keys[keyId] = key;
    this.store.markDirty();
    return key;
  }

  /** The `aws/secretsmanager` key, created on first use as AWS does. */
  secretsManagerDefaultKey(): KeyRecord {
    const alias = this.aliases[SECRETS_MANAGER_DEFAULT_ALIAS];
    const existing = alias && this.keys[alias.targetKeyId];
    if (existing) return existing;
    const key = this.createKeyRecord('Default key that protects my Secrets Manager data when no other key is defined', 'AWS');
    const now = epochSeconds();
    this.aliases[SECRETS_MANAGER_DEFAULT_ALIAS] = { aliasName: SECRETS_MANAGER_DEFAULT_ALIAS, targetKeyId: key.keyId, creationDate: now, lastUpdatedDate: now };
    this.store.markDirty();
    return key;
  }

  /** Encrypt for in-process callers (Secrets Manager); same checks as the Encrypt operation. */
  encryptWith(key: KeyRecord, plaintext: Buffer, context: EncryptionContext | undefined): Buffer {
    this.usable(key);
    return seal(key.keyId, Buffer.from(key.material, 'base64'), plaintext, context);
  }

  /** Decrypt for in-process callers; throws the same AwsErrors as the Decrypt operation. */
  decryptBlob(blob: Buffer, context: EncryptionContext | undefined, expectedKey?: KeyRecord): { key: KeyRecord; plaintext: Buffer } {
    const parsed = parseBlob(blob);
    if (!parsed) throw new AwsError('InvalidCiphertextException', 'The ciphertext is invalid or was not produced by this KMS.');
    const key = this.keys[parsed.keyId];
    if (!key) {
      // Typically a database outliving the stand-in's state file (deleted, or tests without one).
      throw new AwsError('InvalidCiphertextException', `The ciphertext refers to a KMS key that does not exist here (${this.keyArn(parsed.keyId)}); was the stand-in's state file removed?`);
    }
    if (expectedKey && expectedKey.keyId !== key.keyId) {
      throw new AwsError('IncorrectKeyException', 'The key ID in the request does not identify a KMS key that can perform this operation.');
    }
    this.usable(key);
    const plaintext = open(parsed, Buffer.from(key.material, 'base64'), context);
    if (!plaintext) throw new AwsError('InvalidCiphertextException', 'The ciphertext could not be decrypted: it was altered, or the encryption context does not match.');
    return { key, plaintext };
  }

  private metadata(key: KeyRecord): Record<string, unknown> {
    return {
      AWSAccountId: this.account,
      KeyId: key.keyId,
      Arn: key.arn,
      CreationDate: key.creationDate,
      Enabled: key.enabled,
      Description: key.description,
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeyState: key.enabled ? 'Enabled' : 'Disabled',
      Origin: 'AWS_KMS',
      KeyManager: key.keyManager,
      CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
      MultiRegion: false,
    };
  }

  private checkAlgorithm(input: Input): void {
    const algorithm = optString(input, 'EncryptionAlgorithm');
    if (algorithm !== undefined && algorithm !== 'SYMMETRIC_DEFAULT') {
      throw new AwsError('InvalidKeyUsageException', `The operation failed because the KMS key does not support ${algorithm}; symmetric keys support SYMMETRIC_DEFAULT only.`);
    }
  }

  private dataKeyLength(input: Input, op: string): number {
    const spec = optString(input, 'KeySpec');
    const bytes = optInt(input, 'NumberOfBytes', 1, 1024);
    if (spec !== undefined && bytes !== undefined) throw new AwsError('ValidationException', 'Please specify either number of bytes or key spec.');
    if (spec === 'AES_256') return 32;
    if (spec === 'AES_128') return 16;
    if (spec !== undefined) throw new AwsError('ValidationException', `1 validation error detected: Value '${spec}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]`);
    if (bytes === undefined) throw new AwsError('ValidationException', `${op}: please specify either number of bytes or key spec.`);
    return bytes;
  }

  readonly handlers: Record<string, Handler> = {
    CreateKey: (input) => {
      const description = optString(input, 'Description', { max: 8192 }) ?? '';
      const usage = optString(input, 'KeyUsage') ?? 'ENCRYPT_DECRYPT';
      const spec = optString(input, 'KeySpec') ?? optString(input, 'CustomerMasterKeySpec') ?? 'SYMMETRIC_DEFAULT';
      if (usage !== 'ENCRYPT_DECRYPT' || spec !== 'SYMMETRIC_DEFAULT') {
        throw new AwsError('UnsupportedOperationException', `The AWS stand-in supports symmetric ENCRYPT_DECRYPT keys only (got ${usage}/${spec}).`);
      }
      const tags = optList(input, 'Tags', (t) => {
        const tag = t as { TagKey?: unknown; TagValue?: unknown };
        if (typeof tag?.TagKey !== 'string' || typeof tag.TagValue !== 'string') throw new AwsError('ValidationException', 'Tags need TagKey and TagValue strings');
        return { TagKey: tag.TagKey, TagValue: tag.TagValue };
      });
      return { KeyMetadata: this.metadata(this.createKeyRecord(description, 'CUSTOMER', tags)) };
    },

    DescribeKey: (input) => ({ KeyMetadata: this.metadata(this.resolve(reqString(input, 'KeyId', { max: 2048 }))) }),

    CreateAlias: (input) => {
      const aliasName = reqString(input, 'AliasName', { max: 256, pattern: ALIAS_NAME });
      if (aliasName.startsWith('alias/aws/')) throw new AwsError('NotAuthorizedException', 'Alias names beginning with alias/aws/ are reserved for AWS managed keys.');
      const key = this.resolve(reqString(input, 'TargetKeyId', { max: 2048 }), { allowAlias: false });
      if (this.aliases[aliasName]) throw new AwsError('AlreadyExistsException', `An alias with the name ${this.aliasArn(aliasName)} already exists`);
      const now = epochSeconds();
      this.aliases[aliasName] = { aliasName, targetKeyId: key.keyId, creationDate: now, lastUpdatedDate: now };
      this.store.markDirty();
      return {};
    },

    ListAliases: (input) => {
      const keyRef = optString(input, 'KeyId');
      const only = keyRef === undefined ? undefined : this.resolve(keyRef, { allowAlias: false }).keyId;
      const all = Object.values(this.aliases)
        .filter((a) => only === undefined || a.targetKeyId === only)
        .sort((a, b) => a.aliasName.localeCompare(b.aliasName))
        .map((a) => ({
          AliasName: a.aliasName,
          AliasArn: this.aliasArn(a.aliasName),
          TargetKeyId: a.targetKeyId,
          CreationDate: a.creationDate,
          LastUpdatedDate: a.lastUpdatedDate,
        }));
      return page(all, input, 'Aliases');
    },

    EnableKey: (input) => {
      this.resolve(reqString(input, 'KeyId', { max: 2048 }), { allowAlias: false }).enabled = true;
      this.store.markDirty();
      return {};
    },

    DisableKey: (input) => {
      this.resolve(reqString(input, 'KeyId', { max: 2048 }), { allowAlias: false }).enabled = false;
      this.store.markDirty();
      return {};
    },

    Encrypt: (input) => {
      const key = this.resolve(reqString(input, 'KeyId', { max: 2048 }));
      const plaintext = reqBlob(input, 'Plaintext', 1, 4096);
      this.checkAlgorithm(input);
      const blob = this.encryptWith(key, plaintext, optStringMap(input, 'EncryptionContext'));
      return { CiphertextBlob: blob.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },

    Decrypt: (input) => {
      const blob = reqBlob(input, 'CiphertextBlob', 1, 6144);
      const keyRef = optString(input, 'KeyId', { max: 2048 });
      const expected = keyRef === undefined ? undefined : this.resolve(keyRef);
      this.checkAlgorithm(input);
      const { key, plaintext } = this.decryptBlob(blob, optStringMap(input, 'EncryptionContext'), expected);
      return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },

    GenerateDataKey: (input) => {
      const key = this.resolve(reqString(input, 'KeyId', { max: 2048 }));
      const dataKey = randomBytes(this.dataKeyLength(input, 'GenerateDataKey'));
      const blob = this.encryptWith(key, dataKey, optStringMap(input, 'EncryptionContext'));
      return { CiphertextBlob: blob.toString('base64'), Plaintext: dataKey.toString('base64'), KeyId: key.arn };
    },

  };
}

/** KMS-style paging: Limit + Marker in, Truncated + NextMarker out. */
function page<T>(all: T[], input: Input, member: string): Record<string, unknown> {
  const limit = optInt(input, 'Limit', 1, 1000) ?? 100;
  const marker = optString(input, 'Marker');
  const start = marker === undefined ? 0 : Number.parseInt(marker, 10);
  if (!Number.isInteger(start) || start < 0) throw new AwsError('InvalidMarkerException', 'The request was rejected because the marker is not valid.');
  const items = all.slice(start, start + limit);
  const truncated = start + limit < all.length;
  return { [member]: items, Truncated: truncated, ...(truncated ? { NextMarker: String(start + limit) } : {}) };
}
