-- Sample tenant-database schema for the sample app's fleet stage (DatabaseFleetMigrations): every tenant
-- database gets the same migrations, from this folder.
-- Up Migration
CREATE TABLE public.notes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  body text NOT NULL CONSTRAINT notes_body_not_blank CHECK (btrim(body) <> ''),
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Down Migration
DROP TABLE public.notes;
