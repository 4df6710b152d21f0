/*
 * log_privacy.c - no personal data in the server log, whatever its settings (issue 12 section 4;
 * docs/security-crypto.md "Personal data and the server log").
 *
 * Removal data reaches the server as arguments of hublink's functions (create_removal's
 * returnees, a message for send_message), written into the text of the statement or bound as
 * its parameters. PostgreSQL copies both into the server log in ways a DBA may turn on: the
 * STATEMENT line of an error (log_min_error_statement, on for errors by default),
 * log_statement, log_min_duration_statement and its sampling, auto_explain's query text, and
 * the bind parameters (log_parameter_max_length, log_parameter_max_length_on_error). Built-in
 * errors quote the values they choke on, too: a bad date or JSON token (class 22), a
 * duplicate key or a failing row (class 23).
 *
 * An emit_log_hook withholds all of these for every statement that names hublink (its schema
 * or its roles), runs with hublink on its search_path, or was found by the parser to call a
 * function of schema hublink:
 *   - an error's STATEMENT line (hide_stmt) and its "extended query with parameters" context;
 *   - a LOG line that quotes the statement (log_statement, durations, auto_explain): its text is
 *     replaced by a note and its DETAIL (the bind parameters) dropped;
 *   - for class 22 and 23 errors that PostgreSQL itself raised (not hublink's own RAISE, whose
 *     texts are written to carry no personal data): the DETAIL and CONTEXT are dropped and
 *     quoted values in the message are withheld.
 * The hook sees each report before it is written; only the last change above also reaches the
 * client (PostgreSQL gives the hook one report for both).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"
#include "utils/lsyscache.h"

#include "log_privacy.h"

static emit_log_hook_type prev_emit_log_hook = NULL;

#define WITHHELD_NOTE                                                                              \
	"statement withheld: it names hublink and may carry personal data (docs/security-crypto.md)"

/* Whether s contains "hublink", in any case. */
static bool
mentions_hublink(const char *s)
{
	static const char word[] = "hublink";

	if (s == NULL)
		return false;
	for (; *s; s++)
	{
		size_t i = 0;

		while (word[i] != '\0' && s[i] != '\0' && pg_ascii_tolower((unsigned char) s[i]) == word[i])
			i++;
		if (word[i] == '\0')
			return true;
	}
	return false;
}

static bool
starts_with(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * The LOG lines whose text is the statement: log_statement ("statement: ", "execute <name>: "),
 * log_min_duration_statement ("duration: ... statement: ", "... parse <name>: ", "... bind ...",
 * "... execute ..."), auto_explain ("duration: ... plan:" with its Query Text).
 */
static bool
quotes_statement(const char *message)
{
	return starts_with(message, "statement: ") || starts_with(message, "execute ") ||
		   starts_with(message, "parse ") || starts_with(message, "bind ") ||
		   starts_with(message, "duration: ");
}

/* Errors raised by hublink itself (PL/pgSQL RAISE or its C code), not by a type or a constraint. */
static bool
raised_by_hublink(const ErrorData *edata)
{
	const char *f = edata->filename;

	if (f == NULL)
		return false;
	return strstr(f, "pl_exec.c") != NULL || strstr(f, "extension/") != NULL ||
		   strstr(f, "bgworker/") != NULL;
}

/* s with the text between each pair of double quotes replaced by "...". */
static char *
withhold_quoted(const char *s)
{
	StringInfoData buf;
	bool inside = false;

	initStringInfo(&buf);
	for (; *s; s++)
	{
		if (*s == '"')
		{
			appendStringInfoChar(&buf, '"');
			if (!inside)
				appendStringInfoString(&buf, "...");
			inside = !inside;
		}
		else if (!inside)
			appendStringInfoChar(&buf, *s);
	}
	return buf.data;
}

/*
 * A statement that calls a function of schema hublink without naming it (search_path hublink):
 * found when it is parsed, remembered by a hash of its text, since its error comes while
 * hublink's function runs under its own search_path. Nested statements (PL/pgSQL) are parsed
 * too; they mark the statement that runs them, which is what the log would show.
 */
static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;
static uint32 calls_hublink_hash = 0;
static bool calls_hublink_valid = false;

static uint32
text_hash(const char *s)
{
	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

static bool
calls_hublink_walker(Node *node, Oid *nsp)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && get_func_namespace(((FuncExpr *) node)->funcid) == *nsp)
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, calls_hublink_walker, nsp, 0);
	return expression_tree_walker(node, calls_hublink_walker, nsp);
}

static void
log_privacy_post_parse(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jstate);
	if (debug_query_string != NULL && IsTransactionState())
	{
		Oid nsp = get_namespace_oid("hublink", true);

		if (OidIsValid(nsp) && calls_hublink_walker((Node *) query, &nsp))
		{
			calls_hublink_hash = text_hash(debug_query_string);
			calls_hublink_valid = true;
		}
	}
}

/* Whether the statement running (or being logged) may carry hublink's personal data. */
static bool
statement_is_sensitive(void)
{
	if (debug_query_string == NULL)
		return false;
	return mentions_hublink(debug_query_string) || mentions_hublink(namespace_search_path) ||
		   (calls_hublink_valid && text_hash(debug_query_string) == calls_hublink_hash);
}

/* context without its lines of bind parameters ("... portal ... with parameters: ..."). */
static char *
without_parameters(const char *context)
{
	StringInfoData buf;
	const char *line = context;

	initStringInfo(&buf);
	while (*line)
	{
		const char *end = strchr(line, '\n');
		int len = end ? (int) (end - line) : (int) strlen(line);
		char *copy = pnstrdup(line, len);

		if (strstr(copy, "with parameters: ") == NULL && strstr(copy, "portal parameter $") == NULL)
		{
			if (buf.len > 0)
				appendStringInfoChar(&buf, '\n');
			appendStringInfoString(&buf, copy);
		}
		line += len;
		if (*line == '\n')
			line++;
	}
	return buf.len > 0 ? buf.data : NULL;
}

static void
log_privacy_hook(ErrorData *edata)
{
	bool sensitive = statement_is_sensitive();

	if (edata->elevel == LOG || edata->elevel == LOG_SERVER_ONLY)
	{
		if (quotes_statement(edata->message) && (sensitive || mentions_hublink(edata->message)))
		{
			if (starts_with(edata->message, "duration: "))
			{
				const char *ms = strstr(edata->message, " ms");
				int keep = ms ? (int) (ms - edata->message) + 3 : 0;

				edata->message = psprintf("%.*s  %s", keep, edata->message, WITHHELD_NOTE);
			}
			else
				edata->message = pstrdup(WITHHELD_NOTE);
			edata->detail = NULL;
			edata->detail_log = NULL;
			edata->hide_stmt = true;
		}
		/* Any other LOG line of such a statement (a lock wait, a temporary file): no STATEMENT. */
		if (sensitive)
		{
			edata->hide_stmt = true;
			if (edata->context != NULL)
				edata->context = without_parameters(edata->context);
		}
	}
	else if (sensitive)
	{
		edata->hide_stmt = true;
		if (edata->context != NULL)
			edata->context = without_parameters(edata->context);
		if ((ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_DATA_EXCEPTION ||
			 ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION) &&
			!raised_by_hublink(edata))
		{
			if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_DATA_EXCEPTION &&
				edata->message != NULL)
				edata->message = withhold_quoted(edata->message);
			edata->detail = NULL;
			edata->detail_log = NULL;
			edata->context = NULL;
		}
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
hublink_log_privacy_install(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = log_privacy_hook;
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = log_privacy_post_parse;
}
