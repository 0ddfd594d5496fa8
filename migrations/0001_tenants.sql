-- Tenants: the root of every tenant-owned row, plus the shared updated_at trigger function.
-- Up Migration

-- One trigger function keeps updated_at honest on every table that has the column. It only bumps
-- the timestamp when the row really changed, so an idempotent re-seed leaves it untouched; an UPDATE
-- that sets updated_at itself (a backfill, a data repair) is respected.
CREATE FUNCTION public.set_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NEW IS DISTINCT FROM OLD AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END;
$$;

COMMENT ON FUNCTION public.set_updated_at() IS 'BEFORE UPDATE trigger: sets updated_at = now() when the row changed.';

CREATE TABLE public.tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Lowercase DNS-label style: the natural key seeds and URLs use.
  slug text NOT NULL
    CONSTRAINT tenants_slug_format CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
  name text NOT NULL CONSTRAINT tenants_name_not_blank CHECK (btrim(name) <> ''),
  domain text,
  region text,
  status text NOT NULL DEFAULT 'active'
    CONSTRAINT tenants_status_valid CHECK (status IN ('active', 'suspended', 'archived')),
  settings jsonb NOT NULL DEFAULT '{}'::jsonb
    CONSTRAINT tenants_settings_is_object CHECK (jsonb_typeof(settings) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tenants_slug_key UNIQUE (slug)
);

COMMENT ON TABLE public.tenants IS 'One row per customer organisation; every tenant-owned table references it.';

CREATE TRIGGER tenants_set_updated_at
  BEFORE UPDATE ON public.tenants
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- Down Migration

DROP TABLE public.tenants;
DROP FUNCTION public.set_updated_at();
