-- The "one new migration" of the fleet benchmark: a small table and an index, per target.
-- Up Migration
CREATE TABLE public.bench_notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX bench_notes_created_at_idx ON public.bench_notes (created_at);
-- Down Migration
DROP TABLE public.bench_notes;
