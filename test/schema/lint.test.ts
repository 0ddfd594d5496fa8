/**
 * The schema's migrations pass `migrator lint` (squawk) with no finding: every exception is acknowledged
 * in the migration itself with a reason (see the squawk-ignore comments in migrations/).
 */
import { describe, expect, it } from 'vitest';
import { lint } from '../../functions/core/migrate/index.ts';
import { MIGRATIONS_DIR } from './support.ts';

describe('migrations lint', () => {
  it('has no squawk finding in any migration', async () => {
    const result = await lint({ dir: MIGRATIONS_DIR }, { all: true });
    expect(result.checked.length).toBeGreaterThanOrEqual(8);
    expect(result.findings).toEqual([]);
  });
});
