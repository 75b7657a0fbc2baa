/* The ordered schema migrations of the store (private to store/). */
#ifndef T0_STORE_MIGRATIONS_H
#define T0_STORE_MIGRATIONS_H

/* Number of migrations; the schema version of a fully migrated database. */
int store_migration_count(void);
/* SQL taking a database from from_version to from_version + 1, or NULL. Borrowed. */
const char *store_migration_sql(int from_version);

#endif
