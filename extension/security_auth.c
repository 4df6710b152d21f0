/*
 * security_auth.c - logons: recorded in the security ring, lock-out, login warning.
 */
#include "postgres.h"

#include "security.h"

Size
hublink_security_auth_size(void)
{
	return 0;
}

void
hublink_security_auth_attach(void)
{
}

void
hublink_security_auth_install(void)
{
}
