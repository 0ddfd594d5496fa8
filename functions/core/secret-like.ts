/**
 * Recognises secrets written where a name or a plain URL belongs (a provider key pasted into
 * `apiKeySecret`, `https://user:pass@host` in an endpoint). Each check returns what the value *looks
 * like* ("an OpenAI project API key (sk-proj-...)"), never the value, so callers can refuse it with a
 * message that is safe to print, log and store. Used by the seed loader; meant for any input file.
 */

/** Known provider key shapes, most specific first. Matched anywhere in the value. */
const PROVIDER_KEYS: readonly { kind: string; re: RegExp }[] = [
  { kind: 'an Anthropic API key (sk-ant-...)', re: /sk-ant-[A-Za-z0-9_-]{16,}/ },
  { kind: 'an OpenAI project API key (sk-proj-...)', re: /sk-proj-[A-Za-z0-9_-]{16,}/ },
  { kind: 'a provider API key (sk-...)', re: /(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{20,}/ },
  { kind: 'a Stripe key (sk_live_/rk_live_...)', re: /(?<![A-Za-z0-9])[sr]k_(?:live|test)_[A-Za-z0-9]{16,}/ },
  { kind: 'an AWS access key id (AKIA.../ASIA...)', re: /(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/ },
  { kind: 'a Google API key (AIza...)', re: /AIza[0-9A-Za-z_-]{35}/ },
  { kind: 'a GitHub token (ghp_/gho_/ghs_/github_pat_...)', re: /(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})/ },
  { kind: 'a Slack token (xox...)', re: /xox[abposr]-[A-Za-z0-9-]{10,}/ },
  { kind: 'a Hugging Face token (hf_...)', re: /(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}/ },
  { kind: 'a JSON Web Token (eyJ...)', re: /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\./ },
  { kind: 'a private key (-----BEGIN ... PRIVATE KEY-----)', re: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
];

/** Query parameters that carry a credential. */
const SECRET_QUERY = /^(?:api[_-]?key|key|token|access[_-]?token|auth|secret|client[_-]?secret|password|passwd|pwd|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token)$/i;

/** What a value looks like when it holds a known provider key shape; undefined otherwise. */
export function providerKeyKind(value: string): string | undefined {
  return PROVIDER_KEYS.find((p) => p.re.test(value))?.kind;
}

/** Why a URL carries a credential (user info, or a key/token query parameter); undefined when it does not. */
export function urlCredentialKind(value: string): string | undefined {
  if (!value.includes('://')) return undefined;
  // Any scheme://userinfo@ anywhere in the text, even when the whole text is not a URL.
  if (/[a-z][a-z0-9+.-]*:\/\/[^\s/?#@]+@/i.test(value)) return 'a URL with credentials in it (user:password@host)';
  if (!/^\s*[a-z][a-z0-9+.-]*:\/\//i.test(value) || !value.includes('?')) return undefined;
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return undefined;
  }
  for (const [name, v] of url.searchParams) {
    if (v && SECRET_QUERY.test(name)) return `a URL with a credential in its query string (?${name}=...)`;
  }
  return undefined;
}

/**
 * A long random-looking token: a segment of 20+ characters that mixes upper case, lower case and digits
 * with frequent switches between them (words and CamelCase names switch rarely), or 32+ hex digits.
 * Only for fields that hold names (where such a token is never legitimate).
 */
export function randomTokenKind(value: string): string | undefined {
  const segments = value.split(/[/._:@,;{}\s-]+/);
  for (const s of segments) {
    if (s.length >= 32 && /^[0-9a-f]+$/i.test(s) && /\d/.test(s) && /[a-f]/i.test(s)) return 'a long hexadecimal token (like an API key)';
    if (s.length < 20 || !/[a-z]/.test(s) || !/[A-Z]/.test(s) || !/\d/.test(s)) continue;
    let switches = 0;
    for (let i = 1; i < s.length; i++) if (charClass(s[i]!) !== charClass(s[i - 1]!)) switches++;
    if (switches / s.length >= 0.45 && entropy(s) >= 3.5) return 'a long random-looking string (like an API key or token)';
  }
  return undefined;
}

function charClass(c: string): number {
  return /[a-z]/.test(c) ? 0 : /[A-Z]/.test(c) ? 1 : /\d/.test(c) ? 2 : 3;
}

/** Shannon entropy in bits per character. */
function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}

/** The kinds of field a value can sit in: the stricter the field, the more is refused. */
export type FieldKind =
  /** Holds the NAME of a secret, key or prefix (apiKeySecret, kmsKeyId, secretPrefix). */
  | 'name'
  /** Holds a URL (endpoint). */
  | 'url'
  /** Any other text (descriptions, settings): only unmistakable secrets are refused. */
  | 'text';

/** What `value` looks like if it is a secret that must not be in a field of `field` kind; undefined if fine. */
export function secretLikeKind(value: string, field: FieldKind): string | undefined {
  return urlCredentialKind(value) ?? providerKeyKind(value) ?? (field === 'name' ? randomTokenKind(value) : undefined);
}
