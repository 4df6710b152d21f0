/*
 * security_utility.c - role and audit-store DDL recorded as security events.
 */
#include "postgres.h"

#include "security.h"

void
hublink_security_utility_install(void)
{
}
