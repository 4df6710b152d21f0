/*
 * spi_util.c - saved SPI plans for the worker's statements.
 *
 * The worker runs the same few statements for every message; preparing them once and keeping
 * the plans (SPI_keepplan) saves the parse and plan of each. The plan cache replans them
 * after DDL, so a dropped and re-created extension is picked up.
 */
#include "postgres.h"

#include "executor/spi.h"

#include "spi_util.h"

SPIPlanPtr
hublink_spi_plan(SPIPlanPtr plan, const char *sql, int nargs, Oid *types)
{
	if (plan != NULL)
		return plan;
	plan = SPI_prepare(sql, nargs, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep the plan of \"%s\"", sql);
	return plan;
}

void
hublink_spi_run(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only, long count,
				int expected)
{
	int rc = SPI_execute_plan(plan, values, nulls, read_only, count);

	if (rc != expected)
		elog(ERROR, "SPI_execute_plan returned %s, expected %s", SPI_result_code_string(rc),
			 SPI_result_code_string(expected));
}
