/** The secrets-where-names-belong detector: what it refuses, and the ordinary names it must let through. */
import { describe, expect, it } from 'vitest';
import { secretLikeKind } from '../../functions/core/secret-like.ts';
import { fakeSecret } from '../seed/helpers.ts';

describe('secretLikeKind', () => {
  it('refuses provider keys, tokens and credential URLs, saying what they look like', () => {
    const cases: [string, 'name' | 'url' | 'text', RegExp][] = [
      [fakeSecret('sk-' + 'proj-', 48), 'name', /OpenAI project/],
      [fakeSecret('sk-' + 'ant-api03-', 40), 'name', /Anthropic/],
      [fakeSecret('sk-', 40), 'name', /provider API key/],
      [`migrator/prod/${fakeSecret('sk-', 30)}`, 'name', /provider API key/],
      [fakeSecret('AK' + 'IA', 16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'), 'name', /AWS access key id/],
      [fakeSecret('AI' + 'za', 35), 'text', /Google API key/],
      [fakeSecret('gh' + 'p_', 36), 'text', /GitHub token/],
      [fakeSecret('xo' + 'xb-', 30), 'text', /Slack token/],
      [fakeSecret('', 40), 'name', /random-looking/],
      [fakeSecret('', 40, '0123456789abcdef'), 'name', /hexadecimal/],
      ['https://svc:hunter2@erp.example.invalid/api', 'url', /URL with credentials/],
      ['postgres://app:pw@db.internal:5432/app', 'text', /URL with credentials/],
      ['https://x.example.invalid/hook?token=abc123', 'url', /query string \(\?token=\.\.\.\)/],
    ];
    for (const [value, field, kind] of cases) {
      const got = secretLikeKind(value, field);
      expect(got, value.slice(0, 6)).toMatch(kind);
      expect(got!.includes(value)).toBe(false);
    }
  });

  it('lets ordinary names, ARNs, aliases and URLs through', () => {
    const fine: [string, 'name' | 'url' | 'text'][] = [
      ['migrator/{stage}/llm/google', 'name'],
      ['migrator/prod/tenants/acme-logistics/api-key', 'name'],
      ['alias/migrator-prod', 'name'],
      ['arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab', 'name'],
      ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:migrator/prod/llm/google-AbCdEf', 'name'],
      ['MyServiceProdKeyPrimary2024', 'name'],
      ['https://erp.example.invalid/api/debt/customer', 'url'],
      ['https://tms.example.invalid/api/shipments/track?page=2&sort=desc', 'url'],
      ['sk-live-123', 'text'],
      ['Retrieval over the tenant knowledge base (RAG).', 'text'],
      ['gemini-2.5-flash', 'text'],
    ];
    for (const [value, field] of fine) expect(secretLikeKind(value, field), value).toBeUndefined();
  });
});
