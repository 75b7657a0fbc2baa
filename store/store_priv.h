/*
 * For the store_*.c files only: the connection and a cache of prepared
 * statements keyed by the address of their (static) SQL text, so each table
 * family can live in its own file without touching store.c's catalog.
 */
#ifndef T0_STORE_PRIV_H
#define T0_STORE_PRIV_H

#include <sqlite3.h>

struct store;

#define STORE_MAX_EXT_STMTS 64

sqlite3 *store_sqlite(struct store *st);
/* Prepared once on first use (sql must be a string constant); NULL on failure (logged). */
sqlite3_stmt *store_ext_stmt(struct store *st, const char *sql);
/* Reset and unbind after every use, so no statement keeps a read snapshot. */
void store_ext_done(sqlite3_stmt *s);

#endif
