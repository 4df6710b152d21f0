/*
 * spi_util.h - saved SPI plans for the worker's statements.
 */
#ifndef HUBLINK_SPI_UTIL_H
#define HUBLINK_SPI_UTIL_H

#include "postgres.h"

#include "executor/spi.h"

/* plan itself when already prepared, else a new saved plan for sql. */
extern SPIPlanPtr hublink_spi_plan(SPIPlanPtr plan, const char *sql, int nargs, Oid *types);

/* Execute plan; raises unless SPI returns expected. */
extern void hublink_spi_run(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only,
							long count, int expected);

#endif /* HUBLINK_SPI_UTIL_H */
