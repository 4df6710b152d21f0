/*
 * statemachine_sql.c - the SQL face of the removal state machine (extension/statemachine/).
 *
 * hublink.next_state() returns the next state or raises: SQLSTATE HL001 when the message is
 * impossible in the conversation's state (rejected to the error queue), HL002 when it is
 * premature (a message of the same sender still to be applied may make it possible: retried).
 * hublink.check_transition() answers the same question without raising. The set-returning
 * functions list the table for docs, tests and reports. See docs/state-machine.md.
 */
#include "postgres.h"

#include "fmgr.h"
#include "access/htup_details.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "statemachine/statemachine.h"

#define ERRCODE_HUBLINK_IMPOSSIBLE MAKE_SQLSTATE('H', 'L', '0', '0', '1')
#define ERRCODE_HUBLINK_PREMATURE  MAKE_SQLSTATE('H', 'L', '0', '0', '2')

PG_FUNCTION_INFO_V1(hublink_next_state);
PG_FUNCTION_INFO_V1(hublink_check_transition);
PG_FUNCTION_INFO_V1(hublink_state_machine);
PG_FUNCTION_INFO_V1(hublink_state_machine_states);
PG_FUNCTION_INFO_V1(hublink_state_machine_events);

typedef struct TransitionQuery
{
	hlsm_machine machine;
	hlsm_state state;
	hlsm_event event;
	hlsm_direction direction;
	hlsm_party party;
} TransitionQuery;

static void
unknown(const char *what, const char *value, const char *hint)
{
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("unknown state machine %s \"%s\"", what, value), errhint("%s", hint)));
}

static TransitionQuery
parse_query(FunctionCallInfo fcinfo)
{
	TransitionQuery q;
	char *machine = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char *state = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char *event = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char *direction = text_to_cstring(PG_GETARG_TEXT_PP(3));
	char *party = text_to_cstring(PG_GETARG_TEXT_PP(4));

	if (!hlsm_machine_parse(machine, &q.machine))
		unknown("machine", machine, "The machines are removal, escort and travel.");
	if (!hlsm_state_parse(state, &q.state))
		unknown("state", state, "SELECT * FROM hublink.state_machine_states() lists the states.");
	if (!hlsm_event_parse(event, &q.event))
		unknown("event", event,
				"An event is a message type, or a message type and its variant after a dot "
				"(EscortUpdate.completed); SELECT * FROM hublink.state_machine_events() lists "
				"them.");
	if (!hlsm_direction_parse(direction, &q.direction))
		unknown("direction", direction, "The directions are in, out and local.");
	if (!hlsm_party_parse(party, &q.party))
		unknown("party", party, "The parties are hub, tsp and esp.");
	return q;
}

Datum
hublink_next_state(PG_FUNCTION_ARGS)
{
	TransitionQuery q = parse_query(fcinfo);
	hlsm_result r = hlsm_next(q.machine, q.state, q.event, q.direction, q.party);

	if (r.verdict == HLSM_ALLOWED)
		PG_RETURN_TEXT_P(cstring_to_text(hlsm_state_name(r.next)));
	ereport(ERROR, (errcode(r.verdict == HLSM_PREMATURE ? ERRCODE_HUBLINK_PREMATURE
														: ERRCODE_HUBLINK_IMPOSSIBLE),
					errmsg("%s", r.reason),
					errdetail("Party %s, %s %s, in %s in state \"%s\".", hlsm_party_name(q.party),
							  q.direction == HLSM_IN    ? "receiving"
							  : q.direction == HLSM_OUT ? "sending"
														: "deciding",
							  hlsm_event_get(q.event)->name, hlsm_machine_noun(q.machine),
							  hlsm_state_name(q.state)),
					r.verdict == HLSM_PREMATURE
						? errhint("The message can be applied once the earlier message has been.")
						: errhint("docs/state-machine.md shows what may follow what.")));
	PG_RETURN_NULL();
}

Datum
hublink_check_transition(PG_FUNCTION_ARGS)
{
	TransitionQuery q = parse_query(fcinfo);
	hlsm_result r = hlsm_next(q.machine, q.state, q.event, q.direction, q.party);
	TupleDesc desc;
	Datum values[3];
	bool nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("hublink.check_transition must return a record")));
	desc = BlessTupleDesc(desc);
	values[0] = CStringGetTextDatum(hlsm_verdict_name(r.verdict));
	if (r.verdict == HLSM_ALLOWED)
		values[1] = CStringGetTextDatum(hlsm_state_name(r.next));
	else
		nulls[1] = true;
	values[2] = CStringGetTextDatum(r.reason);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* Every allowed transition: one row per (machine, from state, event). */
Datum
hublink_state_machine(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	size_t n;
	const hlsm_rule *rules = hlsm_rules(&n);

	InitMaterializedSRF(fcinfo, 0);
	for (size_t i = 0; i < n; i++)
		for (int s = 0; s < HLSM_N_STATES; s++)
		{
			const hlsm_event_info *ev = hlsm_event_get(rules[i].event);
			hlsm_state to = rules[i].to == HLSM_SAME ? (hlsm_state) s : rules[i].to;
			Datum values[8];
			bool nulls[8] = {false};

			if ((rules[i].from_mask & (1u << s)) == 0)
				continue;
			values[0] = CStringGetTextDatum(hlsm_machine_name(rules[i].machine));
			values[1] = CStringGetTextDatum(hlsm_state_name(s));
			values[2] = CStringGetTextDatum(ev->name);
			values[3] = text_or_null(ev->message_type, &nulls[3]);
			values[4] = text_or_null(ev->variant, &nulls[4]);
			values[5] = CStringGetTextDatum(hlsm_party_name(ev->sender));
			values[6] =
				text_or_null(ev->message_type ? hlsm_party_name(ev->receiver) : NULL, &nulls[6]);
			values[7] = CStringGetTextDatum(hlsm_state_name(to));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	return (Datum) 0;
}

Datum
hublink_state_machine_states(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int m = 0; m < HLSM_N_MACHINES; m++)
		for (int s = 0; s < HLSM_N_STATES; s++)
		{
			Datum values[6];
			bool nulls[6] = {false};
			StringInfoData trackers;

			if (!hlsm_machine_has_state(m, s))
				continue;
			initStringInfo(&trackers);
			for (int p = 0; p < HLSM_N_PARTIES; p++)
				if (hlsm_party_tracks(p, m))
					appendStringInfo(&trackers, "%s%s", trackers.len ? "," : "",
									 hlsm_party_name(p));
			values[0] = CStringGetTextDatum(hlsm_machine_name(m));
			values[1] = CStringGetTextDatum(hlsm_state_name(s));
			values[2] = BoolGetDatum(hlsm_initial_state(m) == (hlsm_state) s);
			values[3] = BoolGetDatum(hlsm_state_is_terminal(m, s));
			values[4] = CStringGetTextDatum(hlsm_state_description(s));
			values[5] = CStringGetTextDatum(trackers.data);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	return (Datum) 0;
}

Datum
hublink_state_machine_events(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int e = 0; e < HLSM_N_EVENTS; e++)
	{
		const hlsm_event_info *ev = hlsm_event_get(e);
		Datum values[6];
		bool nulls[6] = {false};

		values[0] = CStringGetTextDatum(ev->name);
		values[1] = text_or_null(ev->message_type, &nulls[1]);
		values[2] = text_or_null(ev->variant, &nulls[2]);
		values[3] = CStringGetTextDatum(hlsm_party_name(ev->sender));
		values[4] =
			text_or_null(ev->message_type ? hlsm_party_name(ev->receiver) : NULL, &nulls[4]);
		values[5] = CStringGetTextDatum(ev->description);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
