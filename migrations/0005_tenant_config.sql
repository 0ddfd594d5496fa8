-- Per-tenant configuration: which agents a tenant may use, its LLM settings (provider API keys stored
-- only as KMS ciphertext), and its inbound API keys (hash and prefix only).
-- Up Migration

CREATE TABLE public.tenant_agents (
  tenant_id uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
  -- RESTRICT: removing an agent from the catalog must not silently revoke tenants' access.
  agent_id uuid NOT NULL REFERENCES public.agents (id) ON DELETE RESTRICT,
  enabled boolean NOT NULL DEFAULT true,
  settings jsonb NOT NULL DEFAULT '{}'::jsonb
    CONSTRAINT tenant_agents_settings_is_object CHECK (jsonb_typeof(settings) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tenant_agents_pkey PRIMARY KEY (tenant_id, agent_id)
);

CREATE INDEX tenant_agents_agent_id_idx ON public.tenant_agents (agent_id);

CREATE TRIGGER tenant_agents_set_updated_at
  BEFORE UPDATE ON public.tenant_agents
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

CREATE TABLE public.tenant_llm_settings (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
  -- What the key/model is for, e.g. 'default', 'embeddings'; also the KMS encryption context's purpose.
  purpose text NOT NULL DEFAULT 'default'
    CONSTRAINT tenant_llm_settings_purpose_format CHECK (purpose ~ '^[a-z0-9][a-z0-9_-]*$'),
  model_id uuid NOT NULL REFERENCES public.llm_models (id) ON DELETE RESTRICT,
  temperature numeric
    CONSTRAINT tenant_llm_settings_temperature_range CHECK (temperature >= 0 AND temperature <= 2),
  -- A model limit is small, and an int reads as a JS number (int8 arrives as a string):
  -- squawk-ignore prefer-bigint-over-int
  max_tokens integer CONSTRAINT tenant_llm_settings_max_tokens_positive CHECK (max_tokens > 0),
  -- KMS Encrypt output (CiphertextBlob) under the stage key, context {tenant, purpose}. No plaintext column.
  api_key_ciphertext bytea,
  api_key_kms_key_arn text,
  -- Secrets Manager source of the plaintext: name and the VersionId that was encrypted; a new
  -- VersionId is what triggers re-encryption.
  api_key_secret_name text,
  api_key_secret_version text,
  api_key_encrypted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tenant_llm_settings_tenant_id_purpose_key UNIQUE (tenant_id, purpose),
  -- A ciphertext is useless without the key that can decrypt it, and vice versa.
  CONSTRAINT tenant_llm_settings_ciphertext_has_key
    CHECK ((api_key_ciphertext IS NULL) = (api_key_kms_key_arn IS NULL)),
  CONSTRAINT tenant_llm_settings_ciphertext_not_empty
    CHECK (api_key_ciphertext IS NULL OR octet_length(api_key_ciphertext) > 0),
  CONSTRAINT tenant_llm_settings_version_has_secret
    CHECK (api_key_secret_version IS NULL OR api_key_secret_name IS NOT NULL)
);

COMMENT ON COLUMN public.tenant_llm_settings.api_key_ciphertext IS
  'KMS ciphertext of the provider API key; encryption context {tenant: <tenant id>, purpose: <purpose>}.';

CREATE INDEX tenant_llm_settings_model_id_idx ON public.tenant_llm_settings (model_id);

CREATE TRIGGER tenant_llm_settings_set_updated_at
  BEFORE UPDATE ON public.tenant_llm_settings
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

CREATE TABLE public.tenant_api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
  -- The recognisable, non-secret start of the key; used to find the row when a key is presented.
  prefix text NOT NULL
    CONSTRAINT tenant_api_keys_prefix_format CHECK (prefix ~ '^[A-Za-z0-9_-]{4,128}$'),
  key_hash text NOT NULL CONSTRAINT tenant_api_keys_key_hash_not_blank CHECK (btrim(key_hash) <> ''),
  -- Secrets Manager secret holding the plaintext (per tenant, under the fixed prefix).
  secret_name text,
  status text NOT NULL DEFAULT 'active'
    CONSTRAINT tenant_api_keys_status_valid CHECK (status IN ('active', 'pending', 'retiring', 'revoked')),
  expires_at timestamptz,
  confirmed_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tenant_api_keys_prefix_key UNIQUE (prefix),
  CONSTRAINT tenant_api_keys_revoked_has_time CHECK (status <> 'revoked' OR revoked_at IS NOT NULL)
);

COMMENT ON TABLE public.tenant_api_keys IS
  'Inbound API keys: hash and prefix only. Rotation: new key pending -> active, old active -> retiring (expires_at = grace end) -> revoked.';

-- Rotation keeps at most one active key per tenant (demote the old key before promoting the new one).
CREATE UNIQUE INDEX tenant_api_keys_one_active_per_tenant
  ON public.tenant_api_keys (tenant_id) WHERE status = 'active';
CREATE INDEX tenant_api_keys_tenant_id_idx ON public.tenant_api_keys (tenant_id);

CREATE TRIGGER tenant_api_keys_set_updated_at
  BEFORE UPDATE ON public.tenant_api_keys
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- Down Migration

DROP TABLE public.tenant_api_keys;
DROP TABLE public.tenant_llm_settings;
DROP TABLE public.tenant_agents;
