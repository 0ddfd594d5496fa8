-- The application role and Row Level Security.
--
-- tenant_app (NOLOGIN) is what the application runs as: its login user is granted membership
-- (`GRANT tenant_app TO my_app_user`) or does `SET ROLE tenant_app`. Each request/transaction names
-- its tenant with `SELECT set_config('app.tenant_id', '<tenant uuid>', true)`; every policy compares
-- against that setting, and with no (or an empty) setting the role sees no tenant rows at all.
-- The migration owner is not subject to RLS (not FORCEd), so seeding and the job still see everything.
--
-- Roles are cluster-wide: the role is created idempotently and race-safely (several databases in one
-- cluster may migrate at once) and the down migration only revokes; it never drops the role.
-- Up Migration

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tenant_app') THEN
    BEGIN
      CREATE ROLE tenant_app NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      -- Another session created it between our check and our CREATE: that is the outcome we wanted.
      NULL;
    END;
  END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO tenant_app;

-- Catalog: read-only.
GRANT SELECT ON public.llm_models, public.agents, public.tools, public.agent_tools TO tenant_app;

-- Its own tenant row: read, and edit the descriptive fields (not slug, status or region).
GRANT SELECT ON public.tenants TO tenant_app;
GRANT UPDATE (name, domain, settings) ON public.tenants TO tenant_app;

-- Tenant-owned data the application manages.
GRANT SELECT, INSERT, UPDATE, DELETE
  ON public.users, public.tenant_agents, public.tenant_llm_settings, public.tenant_api_keys, public.agent_tasks
  TO tenant_app;
GRANT SELECT, INSERT, UPDATE ON public.action_logs TO tenant_app;

-- Audit log: append and read own rows only (the trigger refuses changes for everyone anyway).
GRANT SELECT, INSERT ON public.audit_log TO tenant_app;

-- migration_runs: deliberately nothing (ops history, not application data).
REVOKE ALL ON public.migration_runs FROM PUBLIC;

ALTER TABLE public.tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenants_tenant_isolation ON public.tenants
  FOR ALL TO tenant_app
  USING (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE public.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_tenant_isolation ON public.users
  FOR ALL TO tenant_app
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE public.tenant_agents ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_agents_tenant_isolation ON public.tenant_agents
  FOR ALL TO tenant_app
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE public.tenant_llm_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_llm_settings_tenant_isolation ON public.tenant_llm_settings
  FOR ALL TO tenant_app
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE public.tenant_api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_api_keys_tenant_isolation ON public.tenant_api_keys
  FOR ALL TO tenant_app
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE public.action_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY action_logs_tenant_isolation ON public.action_logs
  FOR ALL TO tenant_app
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE public.agent_tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY agent_tasks_tenant_isolation ON public.agent_tasks
  FOR ALL TO tenant_app
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE public.audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_tenant_select ON public.audit_log
  FOR SELECT TO tenant_app
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY audit_log_tenant_insert ON public.audit_log
  FOR INSERT TO tenant_app
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- An inbound API key arrives before the tenant is known, and RLS hides keys of other tenants, so the
-- lookup goes through this narrow SECURITY DEFINER function: prefix + hash in, tenant id (or NULL) out.
-- Keys that are active, pending (not yet confirmed) or retiring (grace period) are valid until expires_at.
CREATE FUNCTION public.tenant_for_api_key(p_prefix text, p_key_hash text) RETURNS uuid
  LANGUAGE sql
  STABLE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT k.tenant_id
  FROM public.tenant_api_keys k
  JOIN public.tenants t ON t.id = k.tenant_id AND t.status = 'active'
  WHERE k.prefix = p_prefix
    AND k.key_hash = p_key_hash
    AND k.status IN ('active', 'pending', 'retiring')
    AND (k.expires_at IS NULL OR k.expires_at > now())
$$;

REVOKE ALL ON FUNCTION public.tenant_for_api_key(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.tenant_for_api_key(text, text) TO tenant_app;

-- Down Migration

DROP FUNCTION public.tenant_for_api_key(text, text);

DROP POLICY audit_log_tenant_insert ON public.audit_log;
DROP POLICY audit_log_tenant_select ON public.audit_log;
ALTER TABLE public.audit_log DISABLE ROW LEVEL SECURITY;
DROP POLICY agent_tasks_tenant_isolation ON public.agent_tasks;
ALTER TABLE public.agent_tasks DISABLE ROW LEVEL SECURITY;
DROP POLICY action_logs_tenant_isolation ON public.action_logs;
ALTER TABLE public.action_logs DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_api_keys_tenant_isolation ON public.tenant_api_keys;
ALTER TABLE public.tenant_api_keys DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_llm_settings_tenant_isolation ON public.tenant_llm_settings;
ALTER TABLE public.tenant_llm_settings DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_agents_tenant_isolation ON public.tenant_agents;
ALTER TABLE public.tenant_agents DISABLE ROW LEVEL SECURITY;
DROP POLICY users_tenant_isolation ON public.users;
ALTER TABLE public.users DISABLE ROW LEVEL SECURITY;
DROP POLICY tenants_tenant_isolation ON public.tenants;
ALTER TABLE public.tenants DISABLE ROW LEVEL SECURITY;

-- The role is cluster-wide and may serve other databases: revoke what this database granted, keep the role.
REVOKE ALL ON public.tenants, public.users, public.tenant_agents, public.tenant_llm_settings,
  public.tenant_api_keys, public.action_logs, public.agent_tasks, public.audit_log,
  public.llm_models, public.agents, public.tools, public.agent_tools
  FROM tenant_app;
REVOKE USAGE ON SCHEMA public FROM tenant_app;
