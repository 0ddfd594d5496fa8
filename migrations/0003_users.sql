-- Users of a tenant (admins, supporters, members). Passwords never come from seed files: seeded users
-- have password_hash NULL and invited_at set, and the application completes the invitation.
-- Up Migration

CREATE TABLE public.users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
  email text NOT NULL
    CONSTRAINT users_email_lowercase CHECK (email = lower(email))
    CONSTRAINT users_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
  display_name text,
  role text NOT NULL DEFAULT 'member'
    CONSTRAINT users_role_valid CHECK (role IN ('admin', 'supporter', 'member')),
  password_hash text,
  invited_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- Leads with tenant_id, so it also serves the foreign key.
  CONSTRAINT users_tenant_id_email_key UNIQUE (tenant_id, email)
);

CREATE TRIGGER users_set_updated_at
  BEFORE UPDATE ON public.users
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- Down Migration

DROP TABLE public.users;
