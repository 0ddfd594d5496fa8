/**
 * The migration and seed locks are a row lock on row 1 of their lock table. A row someone deleted must not
 * turn the lock into no lock at all (a FOR UPDATE of no row succeeds for everyone): lockRow puts it back,
 * and two sessions still exclude each other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { lockRow } from '../../functions/core/lock-row.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
let a: pg.Client;
let b: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase('lockrow');
  a = await db.client();
  b = await db.client();
  await a.query('CREATE TABLE lk (id int PRIMARY KEY CHECK (id = 1))');
});
afterAll(async () => {
  await db?.drop();
});

describe('lockRow', () => {
  it('with the row deleted, a second session still waits for the first (and gives up at its lock timeout)', async () => {
    // What a bare FOR UPDATE does on an empty table: both "hold" the lock.
    await a.query('BEGIN');
    await b.query('BEGIN');
    expect((await a.query('SELECT 1 FROM lk WHERE id = 1 FOR UPDATE')).rowCount).toBe(0);
    expect((await b.query('SELECT 1 FROM lk WHERE id = 1 FOR UPDATE')).rowCount).toBe(0);
    await a.query('ROLLBACK');
    await b.query('ROLLBACK');

    await a.query('BEGIN');
    await lockRow(a, 'lk');
    await b.query('BEGIN');
    await b.query("SET LOCAL lock_timeout = '300ms'");
    await expect(lockRow(b, 'lk')).rejects.toMatchObject({ code: '55P03' });
    await b.query('ROLLBACK');
    await a.query('COMMIT');

    // Once the first is done, the second takes it (the row is there again).
    await b.query('BEGIN');
    await lockRow(b, 'lk', { nowait: true });
    await b.query('COMMIT');
    expect((await a.query('SELECT count(*)::int AS n FROM lk')).rows[0].n).toBe(1);
  });
});
