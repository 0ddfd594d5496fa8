-- audit_log: append-only. A trigger rejects UPDATE, DELETE and TRUNCATE for everyone, owner and
-- superuser included, with SQLSTATE AO001 (class "AO": append-only) so callers can recognise it.
-- No foreign key to tenants on purpose: the audit trail outlives a deleted tenant.
-- Up Migration

CREATE TABLE public.audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid,
  actor text,
  action text NOT NULL CONSTRAINT audit_log_action_not_blank CHECK (btrim(action) <> ''),
  resource_type text,
  resource_id text,
  changes jsonb,
  -- Request context (ip, user agent, request id, run id ...).
  context jsonb NOT NULL DEFAULT '{}'::jsonb
    CONSTRAINT audit_log_context_is_object CHECK (jsonb_typeof(context) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE public.audit_log IS 'Append-only audit trail: UPDATE, DELETE and TRUNCATE raise SQLSTATE AO001.';

CREATE INDEX audit_log_tenant_id_created_at_idx ON public.audit_log (tenant_id, created_at);
CREATE INDEX audit_log_created_at_idx ON public.audit_log (created_at);

CREATE FUNCTION public.audit_log_reject_change() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'AO001',
          HINT = 'Record a correction as a new audit_log row instead.';
END;
$$;

-- Statement level, so even an UPDATE or DELETE that matches no row is refused.
CREATE TRIGGER audit_log_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON public.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION public.audit_log_reject_change();

-- Down Migration

DROP TABLE public.audit_log;
DROP FUNCTION public.audit_log_reject_change();
