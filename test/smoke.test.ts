import { describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/db.ts';

describe('test database', () => {
  it('is a real, empty PostgreSQL database', async () => {
    const db = await createTestDatabase();
    try {
      const c = await db.client();
      const { rows } = await c.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`);
      expect(rows[0].n).toBe(0);
      expect((await c.query('SHOW server_version_num')).rows[0].server_version_num).toMatch(/^\d+$/);
    } finally {
      await db.drop();
    }
  });
});
