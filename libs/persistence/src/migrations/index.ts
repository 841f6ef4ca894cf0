import { InitialPostgres1764057600000, InitialSqlite1764057600000 } from './initial.js';

/**
 * Every migration, per dialect, in order. A new migration is one file in this folder with a
 * class per dialect (timestamp-named), added at the end of both lists.
 */
export const SQLITE_MIGRATIONS = [InitialSqlite1764057600000];
export const POSTGRES_MIGRATIONS = [InitialPostgres1764057600000];
