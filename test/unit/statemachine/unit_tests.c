/*
 * unit_tests.c - the removal state machine on its own (TAP). Closing line:
 * "statemachine: N passed, M failed".
 *
 * 1. The table against a golden list written by hand from Appendix A/B
 *    (golden_transitions.h): the same transitions, no more, no fewer; then the whole
 *    cross-product (machine, state, event, direction, party) is tried: what the golden list
 *    allows gives its next state, every other inbound message is "premature" exactly when the
 *    golden list says a message of its sender still to come could make it possible, and
 *    everything else is "forbidden".
 * 2. The table is sound: rules disjoint, states of their machine, every state reachable,
 *    both parties of a message track the machine it moves.
 * 3. Conversations across the three parties (each party its own copy of the machines):
 *    escorted and unescorted happy paths, re-quote, cancellations, decline, escort change,
 *    delay, unsuccessful escorting, premature and impossible messages.
 */
#define _POSIX_C_SOURCE 200809L /* strtok_r */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "statemachine.h"

#include "golden_transitions.h"

static int passed, failed, counter;

static void
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	counter++;
	printf("%s %d - ", cond ? "ok" : "not ok", counter);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (cond)
		passed++;
	else
		failed++;
}

#define B(s) (1u << (s))

/* --- 1. the cross-product, against the golden list ---------------------------------------- */

/*
 * golden[m][s][e]: the state the hand-written list (golden_transitions.h) says event e takes
 * machine m to from state s, or -1 when it is not allowed. Filled once from the list; the
 * table of statemachine.c is not read here.
 */
static int golden[HLSM_N_MACHINES][HLSM_N_STATES][HLSM_N_EVENTS];
static int golden_sender[HLSM_N_EVENTS], golden_receiver[HLSM_N_EVENTS];
static int golden_count; /* transitions in the list (a row with n from-states is n) */

static int
party_of(const char *name)
{
	hlsm_party p;

	return hlsm_party_parse(name, &p) ? (int) p : -1;
}

/* Reads the golden list; every name in it must be known, every transition listed once. */
static void
load_golden(void)
{
	int bad_names = 0, duplicates = 0, events_named = 0;

	for (int m = 0; m < HLSM_N_MACHINES; m++)
		for (int s = 0; s < HLSM_N_STATES; s++)
			for (int e = 0; e < HLSM_N_EVENTS; e++)
				golden[m][s][e] = -1;
	for (int e = 0; e < HLSM_N_EVENTS; e++)
		golden_sender[e] = golden_receiver[e] = -1;
	for (size_t i = 0; i < sizeof(golden_events) / sizeof(golden_events[0]); i++)
	{
		hlsm_event e;

		if (!hlsm_event_parse(golden_events[i].event, &e) ||
			strcmp(hlsm_event_get(e)->name, golden_events[i].event) != 0 ||
			party_of(golden_events[i].sender) < 0 || party_of(golden_events[i].receiver) < 0)
		{
			printf("# golden: unknown event or party in \"%s\"\n", golden_events[i].event);
			bad_names++;
			continue;
		}
		golden_sender[e] = party_of(golden_events[i].sender);
		golden_receiver[e] = party_of(golden_events[i].receiver);
		events_named++;
	}
	ok(bad_names == 0 && events_named == HLSM_N_EVENTS,
	   "the golden list names the sender and receiver of each of the %d events (%d named, %d "
	   "unknown)",
	   HLSM_N_EVENTS, events_named, bad_names);
	for (int e = 0; e < HLSM_N_EVENTS; e++)
	{
		const hlsm_event_info *ev = hlsm_event_get(e);

		ok(golden_sender[e] >= 0 && ev->sender == (hlsm_party) golden_sender[e] &&
			   ev->receiver == (hlsm_party) golden_receiver[e] &&
			   (ev->message_type == NULL) == (golden_sender[e] == golden_receiver[e]),
		   "%s goes from %s to %s, as Appendix A says", ev->name,
		   golden_sender[e] >= 0 ? hlsm_party_name(golden_sender[e]) : "?",
		   golden_receiver[e] >= 0 ? hlsm_party_name(golden_receiver[e]) : "?");
	}

	for (size_t i = 0; i < sizeof(golden_transitions) / sizeof(golden_transitions[0]); i++)
	{
		const golden_transition *g = &golden_transitions[i];
		hlsm_machine m;
		hlsm_event e;
		hlsm_state to = HLSM_S_NONE, from;
		bool same = strcmp(g->to, "=") == 0;
		char buf[256], *tok, *save = NULL;

		if (!hlsm_machine_parse(g->machine, &m) || !hlsm_event_parse(g->event, &e) ||
			strcmp(hlsm_event_get(e)->name, g->event) != 0 ||
			(!same && !hlsm_state_parse(g->to, &to)))
		{
			printf("# golden: unknown name in row %zu (%s %s -> %s)\n", i, g->machine, g->event,
				   g->to);
			bad_names++;
			continue;
		}
		snprintf(buf, sizeof(buf), "%s", g->from);
		for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		{
			if (!hlsm_state_parse(tok, &from))
			{
				printf("# golden: unknown state \"%s\" in row %zu\n", tok, i);
				bad_names++;
				continue;
			}
			if (golden[m][from][e] >= 0)
			{
				printf("# golden: %s %s %s listed twice\n", g->machine, tok, g->event);
				duplicates++;
			}
			golden[m][from][e] = same ? (int) from : (int) to;
			golden_count++;
		}
	}
	ok(bad_names == 0 && duplicates == 0,
	   "the golden list reads: %d transitions, no unknown name (%d), none listed twice (%d)",
	   golden_count, bad_names, duplicates);
}

/* The C table, expanded, equals the golden list: the same transitions, no more, no fewer. */
static void
test_table_is_golden(void)
{
	size_t n;
	const hlsm_rule *rules = hlsm_rules(&n);
	int in_table = 0, not_golden = 0, wrong_target = 0, missing = 0;
	static int seen[HLSM_N_MACHINES][HLSM_N_STATES][HLSM_N_EVENTS];

	for (size_t i = 0; i < n; i++)
		for (int s = 0; s < HLSM_N_STATES; s++)
			if (rules[i].from_mask & B(s))
			{
				int to = rules[i].to == HLSM_SAME ? s : (int) rules[i].to;
				int want = golden[rules[i].machine][s][rules[i].event];

				in_table++;
				seen[rules[i].machine][s][rules[i].event] = 1;
				if (want < 0)
				{
					printf("# in the table, not in the golden list: %s %s --%s--> %s\n",
						   hlsm_machine_name(rules[i].machine), hlsm_state_name(s),
						   hlsm_event_get(rules[i].event)->name, hlsm_state_name(to));
					not_golden++;
				}
				else if (want != to)
				{
					printf("# %s %s --%s--> %s in the table, %s in the golden list\n",
						   hlsm_machine_name(rules[i].machine), hlsm_state_name(s),
						   hlsm_event_get(rules[i].event)->name, hlsm_state_name(to),
						   hlsm_state_name(want));
					wrong_target++;
				}
			}
	for (int m = 0; m < HLSM_N_MACHINES; m++)
		for (int s = 0; s < HLSM_N_STATES; s++)
			for (int e = 0; e < HLSM_N_EVENTS; e++)
				if (golden[m][s][e] >= 0 && !seen[m][s][e])
				{
					printf("# in the golden list, not in the table: %s %s --%s--> %s\n",
						   hlsm_machine_name(m), hlsm_state_name(s), hlsm_event_get(e)->name,
						   hlsm_state_name(golden[m][s][e]));
					missing++;
				}
	ok(not_golden == 0, "every transition of the table is in the golden list (%d are not)",
	   not_golden);
	ok(wrong_target == 0, "each leads where the golden list says (%d do not)", wrong_target);
	ok(missing == 0, "every transition of the golden list is in the table (%d missing)", missing);
	ok(in_table == golden_count, "the table has %d transitions, the golden list %d", in_table,
	   golden_count);
}

static int
tracks(hlsm_party p, hlsm_machine m)
{
	return p == HLSM_HUB || (p == HLSM_TSP && m == HLSM_TRAVEL) ||
		   (p == HLSM_ESP && m == HLSM_ESCORT);
}

/* The direction in which p takes part in e by the golden list, or -1. */
static int
golden_direction(hlsm_party p, hlsm_event e)
{
	if (golden_sender[e] == golden_receiver[e])
		return (int) p == golden_sender[e] ? HLSM_LOCAL : -1;
	if ((int) p == golden_sender[e])
		return HLSM_OUT;
	if ((int) p == golden_receiver[e])
		return HLSM_IN;
	return -1;
}

/*
 * Premature, by the golden list: from s, the messages that `sender` sends to p (still on their
 * queues) and p's own decisions reach a state where e is allowed.
 */
static bool
golden_premature(hlsm_machine m, hlsm_state s, hlsm_event e, hlsm_party p)
{
	bool reached[HLSM_N_STATES] = {false};
	bool grew = true;
	int sender = golden_sender[e];

	reached[s] = true;
	while (grew)
	{
		grew = false;
		for (int st = 0; st < HLSM_N_STATES; st++)
			if (reached[st])
				for (int ev = 0; ev < HLSM_N_EVENTS; ev++)
				{
					int to = golden[m][st][ev];
					bool local = golden_sender[ev] == golden_receiver[ev];

					if (to < 0 || reached[to])
						continue;
					if (local ? golden_sender[ev] == (int) p
							  : golden_sender[ev] == sender && golden_receiver[ev] == (int) p)
					{
						reached[to] = true;
						grew = true;
					}
				}
	}
	for (int st = 0; st < HLSM_N_STATES; st++)
		if (reached[st] && golden[m][st][e] >= 0)
			return true;
	return false;
}

static void
test_cross_product(void)
{
	int allowed = 0, premature = 0, forbidden = 0;

	for (int m = 0; m < HLSM_N_MACHINES; m++)
		for (int s = 0; s < HLSM_N_STATES; s++)
			for (int e = 0; e < HLSM_N_EVENTS; e++)
				for (int d = 0; d < HLSM_N_DIRECTIONS; d++)
					for (int p = 0; p < HLSM_N_PARTIES; p++)
					{
						int in_machine = hlsm_machine_has_state(m, s);
						int takes_part = tracks(p, m) && golden_direction(p, e) == d;
						int to = golden[m][s][e];
						hlsm_verdict want;
						hlsm_result r = hlsm_next(m, s, e, d, p);
						const char *what = hlsm_event_get(e)->name;

						if (!in_machine)
						{
							/* not a state of this machine: one check per pair is enough */
							if (e == 0 && d == 0 && p == 0)
								ok(r.verdict == HLSM_FORBIDDEN && strstr(r.reason, "no state"),
								   "%s has no state %s: refused", hlsm_machine_name(m),
								   hlsm_state_name(s));
							continue;
						}
						if (takes_part && to >= 0)
						{
							allowed++;
							ok(r.verdict == HLSM_ALLOWED && (int) r.next == to,
							   "allowed: %s %s --%s (%s %s)--> %s", hlsm_machine_name(m),
							   hlsm_state_name(s), what, hlsm_party_name(p), hlsm_direction_name(d),
							   hlsm_state_name(to));
							continue;
						}
						want = takes_part && d == HLSM_IN && golden_premature(m, s, e, p)
								   ? HLSM_PREMATURE
								   : HLSM_FORBIDDEN;
						if (want == HLSM_PREMATURE)
							premature++;
						else
							forbidden++;
						ok(r.verdict == want && r.reason[0] != '\0',
						   "%s: %s %s %s (%s %s), got %s: %s", hlsm_verdict_name(want),
						   hlsm_machine_name(m), hlsm_state_name(s), what, hlsm_party_name(p),
						   hlsm_direction_name(d), hlsm_verdict_name(r.verdict), r.reason);
					}
	printf("# cross-product: %d allowed, %d premature, %d forbidden\n", allowed, premature,
		   forbidden);
	/* each transition is allowed for the hub and, on a booking, for its provider */
	ok(allowed > golden_count && premature > 0 && forbidden > 0,
	   "the cross-product has allowed, premature and forbidden entries");
	/* out-of-range input never crashes and is refused */
	ok(hlsm_next(HLSM_N_MACHINES, 0, 0, 0, 0).verdict == HLSM_FORBIDDEN, "unknown machine");
	ok(hlsm_next(0, HLSM_N_STATES, 0, 0, 0).verdict == HLSM_FORBIDDEN, "unknown state");
	ok(hlsm_next(0, 0, HLSM_N_EVENTS, 0, 0).verdict == HLSM_FORBIDDEN, "unknown event");
	ok(hlsm_next(0, 0, 0, HLSM_N_DIRECTIONS, 0).verdict == HLSM_FORBIDDEN, "unknown direction");
	ok(hlsm_next(0, 0, 0, 0, HLSM_N_PARTIES).verdict == HLSM_FORBIDDEN, "unknown party");
}

/* The refusals written out by hand in golden_transitions.h. */
static void
test_golden_refusals(void)
{
	for (size_t i = 0; i < sizeof(golden_refusals) / sizeof(golden_refusals[0]); i++)
	{
		const golden_refusal *g = &golden_refusals[i];
		hlsm_machine m;
		hlsm_state s;
		hlsm_event e;
		hlsm_party p;
		hlsm_direction d;
		hlsm_result r;

		if (!hlsm_machine_parse(g->machine, &m) || !hlsm_state_parse(g->state, &s) ||
			!hlsm_event_parse(g->event, &e) || !hlsm_party_parse(g->party, &p) ||
			golden_direction(p, e) < 0)
		{
			ok(0, "golden refusal %zu names something unknown", i);
			continue;
		}
		d = (hlsm_direction) golden_direction(p, e);
		r = hlsm_next(m, s, e, d, p);
		ok(strcmp(hlsm_verdict_name(r.verdict), g->verdict) == 0,
		   "%s: %s %s, %s receives %s (%s): %s", g->verdict, g->machine, g->state, g->party,
		   g->event, g->why, r.reason);
	}
}

/* --- 2. soundness of the table ---------------------------------------------------------- */

static void
test_table(void)
{
	size_t n;
	const hlsm_rule *rules = hlsm_rules(&n);
	int overlaps = 0, foreign = 0, wrong_tracker = 0;

	for (size_t i = 0; i < n; i++)
	{
		const hlsm_event_info *ev = hlsm_event_get(rules[i].event);

		for (size_t j = i + 1; j < n; j++)
			if (rules[i].machine == rules[j].machine && rules[i].event == rules[j].event &&
				(rules[i].from_mask & rules[j].from_mask))
				overlaps++;
		for (int s = 0; s < HLSM_N_STATES; s++)
			if ((rules[i].from_mask & B(s)) && !hlsm_machine_has_state(rules[i].machine, s))
				foreign++;
		if (rules[i].to != HLSM_SAME && !hlsm_machine_has_state(rules[i].machine, rules[i].to))
			foreign++;
		if (rules[i].from_mask == 0)
			foreign++;
		/* the removal is the hub's own view; a booking is shared by the hub and its provider */
		if (rules[i].machine != HLSM_REMOVAL &&
			(!tracks(ev->sender, rules[i].machine) || !tracks(ev->receiver, rules[i].machine)))
			wrong_tracker++;
	}
	ok(overlaps == 0, "no two rules of a machine and event share a from-state (%d)", overlaps);
	ok(foreign == 0, "every rule names states of its own machine (%d)", foreign);
	ok(wrong_tracker == 0, "both parties of a message track the machine it moves (%d)",
	   wrong_tracker);

	for (int e = 0; e < HLSM_N_EVENTS; e++)
	{
		int any = 0;

		for (int m = 0; m < HLSM_N_MACHINES; m++)
			any |= hlsm_event_concerns(m, e);
		ok(any, "event %s concerns some machine", hlsm_event_get(e)->name);
	}

	for (int m = 0; m < HLSM_N_MACHINES; m++)
	{
		unsigned int seen = B(hlsm_initial_state(m)), before = 0;

		while (seen != before)
		{
			before = seen;
			for (size_t i = 0; i < n; i++)
				if (rules[i].machine == (hlsm_machine) m && (rules[i].from_mask & seen) &&
					rules[i].to != HLSM_SAME)
					seen |= B(rules[i].to);
		}
		for (int s = 0; s < HLSM_N_STATES; s++)
			if (hlsm_machine_has_state(m, s))
				ok((seen & B(s)) != 0, "%s: state %s is reachable from %s", hlsm_machine_name(m),
				   hlsm_state_name(s), hlsm_state_name(hlsm_initial_state(m)));
	}
	ok(hlsm_state_is_terminal(HLSM_ESCORT, HLSM_S_CANCELLED),
	   "a cancelled escort booking is final");
	ok(hlsm_state_is_terminal(HLSM_TRAVEL, HLSM_S_COMPLETED),
	   "a completed travel booking is final");
	ok(!hlsm_state_is_terminal(HLSM_TRAVEL, HLSM_S_PROVIDER_CANCELLED),
	   "a travel booking cancelled by the TSP can be re-quoted");
	ok(hlsm_state_is_terminal(HLSM_REMOVAL, HLSM_S_COMPLETED), "a completed removal is final");
}

/* --- names ------------------------------------------------------------------------------- */

static void
test_names(void)
{
	hlsm_event e;
	hlsm_machine m;
	hlsm_state s;
	hlsm_party p;
	hlsm_direction d;
	int round = 1;

	for (int i = 0; i < HLSM_N_EVENTS; i++)
		round &= hlsm_event_parse(hlsm_event_get(i)->name, &e) && e == (hlsm_event) i;
	for (int i = 0; i < HLSM_N_STATES; i++)
		round &= hlsm_state_parse(hlsm_state_name(i), &s) && s == (hlsm_state) i;
	for (int i = 0; i < HLSM_N_MACHINES; i++)
		round &= hlsm_machine_parse(hlsm_machine_name(i), &m) && m == (hlsm_machine) i;
	for (int i = 0; i < HLSM_N_PARTIES; i++)
		round &= hlsm_party_parse(hlsm_party_name(i), &p) && p == (hlsm_party) i;
	for (int i = 0; i < HLSM_N_DIRECTIONS; i++)
		round &= hlsm_direction_parse(hlsm_direction_name(i), &d) && d == (hlsm_direction) i;
	ok(round, "every name parses back to its value");
	ok(hlsm_event_parse("EscortQuoteRequest", &e) && e == HLSM_E_ESCORT_QUOTE_REQUEST,
	   "a message type with one event names it");
	ok(!hlsm_event_parse("EscortUpdate", &e), "a message type with variants needs its variant");
	ok(!hlsm_event_parse("EscortUpdate.bogus", &e), "an unknown variant is refused");
	ok(!hlsm_event_parse(NULL, &e) && !hlsm_state_parse("", &s) && !hlsm_machine_parse("x", &m) &&
		   !hlsm_party_parse("HUB", &p) && !hlsm_direction_parse("IN", &d),
	   "unknown names are refused");
	ok(hlsm_machine_name(HLSM_N_MACHINES) == NULL && hlsm_state_name(HLSM_N_STATES) == NULL &&
		   hlsm_event_get(HLSM_N_EVENTS) == NULL,
	   "out-of-range values have no name");
}

/* --- 3. conversations across the three parties ------------------------------------------ */

typedef struct world
{
	hlsm_state hub[HLSM_N_MACHINES];
	hlsm_state esp, tsp; /* the escort machine at the ESP, the travel machine at the TSP */
} world;

static void
world_init(world *w)
{
	for (int m = 0; m < HLSM_N_MACHINES; m++)
		w->hub[m] = hlsm_initial_state(m);
	w->esp = w->tsp = HLSM_S_NONE;
}

static hlsm_state *
slot(world *w, hlsm_party p, hlsm_machine m)
{
	if (p == HLSM_HUB)
		return &w->hub[m];
	if (p == HLSM_ESP && m == HLSM_ESCORT)
		return &w->esp;
	if (p == HLSM_TSP && m == HLSM_TRAVEL)
		return &w->tsp;
	return NULL;
}

/*
 * Apply event e at one party (every machine it tracks that e concerns). Returns the worst
 * verdict; on anything but allowed nothing changes.
 */
static hlsm_verdict
apply_at(world *w, hlsm_party p, hlsm_event e, char *why, size_t whylen)
{
	hlsm_direction d;
	hlsm_state next[HLSM_N_MACHINES];
	hlsm_verdict worst = HLSM_ALLOWED;

	if (!hlsm_party_direction(p, e, &d))
		return HLSM_ALLOWED; /* not this party's business */
	for (int m = 0; m < HLSM_N_MACHINES; m++)
	{
		hlsm_state *st = slot(w, p, m);
		hlsm_result r;

		next[m] = st ? *st : HLSM_S_NONE;
		if (st == NULL || !hlsm_event_concerns(m, e))
			continue;
		r = hlsm_next(m, *st, e, d, p);
		if (r.verdict > worst)
		{
			worst = r.verdict;
			snprintf(why, whylen, "%s", r.reason);
		}
		next[m] = r.next;
	}
	if (worst == HLSM_ALLOWED)
		for (int m = 0; m < HLSM_N_MACHINES; m++)
			if (slot(w, p, m))
				*slot(w, p, m) = next[m];
	return worst;
}

/* The message goes out at its sender and is applied at its receiver. */
static void
send_ok(world *w, hlsm_event e)
{
	const hlsm_event_info *ev = hlsm_event_get(e);
	char why[512] = "";
	hlsm_verdict out = apply_at(w, ev->sender, e, why, sizeof(why));
	hlsm_verdict in = HLSM_ALLOWED;

	if (ev->message_type != NULL && out == HLSM_ALLOWED)
		in = apply_at(w, ev->receiver, e, why, sizeof(why));
	ok(out == HLSM_ALLOWED && in == HLSM_ALLOWED, "%s %s -> %s %s", ev->name,
	   hlsm_party_name(ev->sender), hlsm_party_name(ev->receiver), why);
}

/* The sender may not even send it. */
static void
send_refused(world *w, hlsm_event e)
{
	const hlsm_event_info *ev = hlsm_event_get(e);
	char why[512] = "";
	world before = *w;
	hlsm_verdict v = apply_at(w, ev->sender, e, why, sizeof(why));

	ok(v == HLSM_FORBIDDEN && memcmp(&before, w, sizeof(before)) == 0,
	   "%s cannot be sent by %s: %s", ev->name, hlsm_party_name(ev->sender), why);
}

/* Receiver-side verdict of e in the receiver's current state (nothing changes when refused). */
static void
receive_expect(world *w, hlsm_event e, hlsm_verdict expect)
{
	const hlsm_event_info *ev = hlsm_event_get(e);
	char why[512] = "";
	hlsm_verdict v = apply_at(w, ev->receiver, e, why, sizeof(why));

	ok(v == expect, "%s received by %s: %s (%s)", ev->name, hlsm_party_name(ev->receiver),
	   hlsm_verdict_name(v), why);
}

static void
expect_states(world *w, const char *label, hlsm_state removal, hlsm_state escort, hlsm_state travel)
{
	ok(w->hub[HLSM_REMOVAL] == removal && w->hub[HLSM_ESCORT] == escort &&
		   w->hub[HLSM_TRAVEL] == travel && w->esp == escort && w->tsp == travel,
	   "%s: hub removal %s (want %s), escort hub %s esp %s (want %s), travel hub %s tsp %s "
	   "(want %s)",
	   label, hlsm_state_name(w->hub[HLSM_REMOVAL]), hlsm_state_name(removal),
	   hlsm_state_name(w->hub[HLSM_ESCORT]), hlsm_state_name(w->esp), hlsm_state_name(escort),
	   hlsm_state_name(w->hub[HLSM_TRAVEL]), hlsm_state_name(w->tsp), hlsm_state_name(travel));
}

/* Quote and book an escorted removal up to "booked". */
static void
escorted_to_booked(world *w)
{
	send_ok(w, HLSM_E_ESCORT_QUOTE_REQUEST);
	expect_states(w, "escort quote requested", HLSM_S_QUOTING, HLSM_S_QUOTE_REQUESTED, HLSM_S_NONE);
	send_ok(w, HLSM_E_ESCORT_QUOTE_RESPONSE);
	send_ok(w, HLSM_E_TRAVEL_QUOTE_REQUEST);
	expect_states(w, "travel quote requested for the escort's dates", HLSM_S_QUOTING, HLSM_S_QUOTED,
				  HLSM_S_QUOTE_REQUESTED);
	send_ok(w, HLSM_E_TRAVEL_QUOTE_RESPONSE_QUOTED);
	expect_states(w, "quoted", HLSM_S_QUOTED, HLSM_S_QUOTED, HLSM_S_QUOTED);
	send_ok(w, HLSM_E_ESCORT_BOOKING_REQUEST);
	send_ok(w, HLSM_E_TRAVEL_BOOKING_REQUEST);
	expect_states(w, "both booking requests sent", HLSM_S_BOOKING, HLSM_S_BOOKING_REQUESTED,
				  HLSM_S_BOOKING_REQUESTED);
	send_ok(w, HLSM_E_ESCORT_BOOKING_RESPONSE_ACCEPTED);
	send_ok(w, HLSM_E_TRAVEL_BOOKING_RESPONSE_ACCEPTED);
	expect_states(w, "both confirmed", HLSM_S_BOOKING, HLSM_S_BOOKED, HLSM_S_BOOKED);
	send_ok(w, HLSM_E_BOOKINGS_CONFIRMED);
	expect_states(w, "booked", HLSM_S_BOOKED, HLSM_S_BOOKED, HLSM_S_BOOKED);
}

static void
test_escorted_happy_path(void)
{
	world w;

	printf("# escorted removal, all fourteen message types\n");
	world_init(&w);
	escorted_to_booked(&w);
	send_ok(&w, HLSM_E_ESCORT_AMENDMENT);
	expect_states(&w, "escort amendment pending", HLSM_S_BOOKED, HLSM_S_AMENDED, HLSM_S_BOOKED);
	send_ok(&w, HLSM_E_ESCORT_UPDATE_AMENDMENT_OUTCOME);
	send_ok(&w, HLSM_E_ESCORT_UPDATE_ESCORT_CHANGE);
	send_ok(&w, HLSM_E_TRAVEL_AMENDMENT);
	expect_states(&w, "travel amendment pending", HLSM_S_BOOKED, HLSM_S_BOOKED, HLSM_S_AMENDED);
	send_ok(&w, HLSM_E_TRAVEL_UPDATE_AMENDMENT_OUTCOME);
	send_ok(&w, HLSM_E_TRAVEL_UPDATE_FINANCIAL);
	send_ok(&w, HLSM_E_TRAVEL_UPDATE_FLIGHT_CHANGE);
	send_ok(&w, HLSM_E_ESCORT_UPDATE_DELAYED);
	send_ok(&w, HLSM_E_ESCORT_UPDATE_DETAILS);
	expect_states(&w, "after the changes", HLSM_S_BOOKED, HLSM_S_BOOKED, HLSM_S_BOOKED);
	send_ok(&w, HLSM_E_TRAVEL_UPDATE_COMPLETED);
	send_ok(&w, HLSM_E_ESCORT_UPDATE_COMPLETED);
	expect_states(&w, "completed", HLSM_S_COMPLETED, HLSM_S_COMPLETED, HLSM_S_COMPLETED);
	send_refused(&w, HLSM_E_TRAVEL_AMENDMENT);
	send_refused(&w, HLSM_E_ESCORT_CANCELLATION);
	receive_expect(&w, HLSM_E_ESCORT_UPDATE_DELAYED, HLSM_FORBIDDEN);
	/* the two message types not used above: cancellations, on a second removal */
	world_init(&w);
	escorted_to_booked(&w);
	send_ok(&w, HLSM_E_TRAVEL_CANCELLATION);
	send_ok(&w, HLSM_E_ESCORT_CANCELLATION);
	expect_states(&w, "cancelled after booking", HLSM_S_CANCELLED, HLSM_S_CANCELLED,
				  HLSM_S_CANCELLED);
	send_ok(&w, HLSM_E_TRAVEL_UPDATE_FINANCIAL);
	send_ok(&w, HLSM_E_ESCORT_UPDATE_FINANCIAL);
	send_refused(&w, HLSM_E_ESCORT_AMENDMENT);
	send_refused(&w, HLSM_E_TRAVEL_BOOKING_REQUEST);
}

static void
test_unescorted_happy_path(void)
{
	world w;

	printf("# unescorted removal\n");
	world_init(&w);
	send_ok(&w, HLSM_E_TRAVEL_QUOTE_REQUEST);
	expect_states(&w, "travel quote requested", HLSM_S_QUOTING, HLSM_S_NONE,
				  HLSM_S_QUOTE_REQUESTED);
	send_ok(&w, HLSM_E_TRAVEL_QUOTE_RESPONSE_QUOTED);
	send_ok(&w, HLSM_E_TRAVEL_BOOKING_REQUEST);
	send_ok(&w, HLSM_E_TRAVEL_BOOKING_RESPONSE_ACCEPTED);
	send_ok(&w, HLSM_E_BOOKINGS_CONFIRMED);
	expect_states(&w, "booked", HLSM_S_BOOKED, HLSM_S_NONE, HLSM_S_BOOKED);
	send_ok(&w, HLSM_E_TRAVEL_UPDATE_COMPLETED);
	expect_states(&w, "completed", HLSM_S_COMPLETED, HLSM_S_NONE, HLSM_S_COMPLETED);
	send_refused(&w, HLSM_E_ESCORT_BOOKING_REQUEST);
}

static void
test_requote_loop(void)
{
	world w;

	printf("# re-quote (4.5): the returnee's risk changed before booking\n");
	world_init(&w);
	send_ok(&w, HLSM_E_ESCORT_QUOTE_REQUEST);
	send_ok(&w, HLSM_E_ESCORT_QUOTE_RESPONSE);
	send_ok(&w, HLSM_E_TRAVEL_QUOTE_REQUEST);
	send_ok(&w, HLSM_E_TRAVEL_QUOTE_RESPONSE_QUOTED);
	send_ok(&w, HLSM_E_ESCORT_QUOTE_REQUEST);
	expect_states(&w, "back to message 1", HLSM_S_QUOTING, HLSM_S_QUOTE_REQUESTED, HLSM_S_QUOTED);
	send_refused(&w, HLSM_E_ESCORT_BOOKING_REQUEST);
	send_ok(&w, HLSM_E_ESCORT_QUOTE_RESPONSE);
	send_ok(&w, HLSM_E_TRAVEL_QUOTE_REQUEST);
	send_ok(&w, HLSM_E_TRAVEL_QUOTE_RESPONSE_NO_QUOTE);
	expect_states(&w, "no travel for the new dates", HLSM_S_QUOTING, HLSM_S_QUOTED,
				  HLSM_S_NO_QUOTE);
	send_refused(&w, HLSM_E_TRAVEL_BOOKING_REQUEST);
	send_ok(&w, HLSM_E_TRAVEL_QUOTE_REQUEST);
	send_ok(&w, HLSM_E_TRAVEL_QUOTE_RESPONSE_QUOTED);
	expect_states(&w, "quoted again", HLSM_S_QUOTED, HLSM_S_QUOTED, HLSM_S_QUOTED);
	send_ok(&w, HLSM_E_ESCORT_BOOKING_REQUEST);
	send_ok(&w, HLSM_E_TRAVEL_BOOKING_REQUEST);
	send_ok(&w, HLSM_E_ESCORT_BOOKING_RESPONSE_ACCEPTED);
	send_ok(&w, HLSM_E_TRAVEL_BOOKING_RESPONSE_DECLINED);
	expect_states(&w, "travel declined", HLSM_S_DISRUPTED, HLSM_S_BOOKED, HLSM_S_DECLINED);
	send_ok(&w, HLSM_E_TRAVEL_BOOKING_REQUEST);
	send_ok(&w, HLSM_E_TRAVEL_BOOKING_RESPONSE_ACCEPTED);
	send_ok(&w, HLSM_E_BOOKINGS_CONFIRMED);
	expect_states(&w, "another quote booked", HLSM_S_BOOKED, HLSM_S_BOOKED, HLSM_S_BOOKED);
	send_refused(&w, HLSM_E_ESCORT_QUOTE_REQUEST);
}

static void
test_cancellation_before_booking(void)
{
	world w;

	printf("# cancellation before booking\n");
	world_init(&w);
	send_ok(&w, HLSM_E_ESCORT_QUOTE_REQUEST);
	send_ok(&w, HLSM_E_ESCORT_QUOTE_RESPONSE);
	send_ok(&w, HLSM_E_ESCORT_CANCELLATION);
	expect_states(&w, "escort request withdrawn", HLSM_S_CANCELLED, HLSM_S_CANCELLED, HLSM_S_NONE);
	send_refused(&w, HLSM_E_ESCORT_AMENDMENT);
	send_refused(&w, HLSM_E_ESCORT_BOOKING_REQUEST);
	send_refused(&w, HLSM_E_TRAVEL_QUOTE_REQUEST);
	/* a quote response that crossed the cancellation is recorded, not an error */
	receive_expect(&w, HLSM_E_ESCORT_QUOTE_RESPONSE, HLSM_ALLOWED);
}

static void
test_escort_change_delay_unsuccessful(void)
{
	world w;

	printf("# escort change, flight delay, unsuccessful escorting\n");
	world_init(&w);
	escorted_to_booked(&w);
	send_ok(&w, HLSM_E_ESCORT_UPDATE_ESCORT_CHANGE);
	send_ok(&w, HLSM_E_TRAVEL_AMENDMENT); /* the name change on the ticket */
	send_ok(&w, HLSM_E_TRAVEL_UPDATE_AMENDMENT_OUTCOME);
	send_ok(&w, HLSM_E_TRAVEL_UPDATE_FLIGHT_CHANGE); /* the flight delay */
	expect_states(&w, "still booked", HLSM_S_BOOKED, HLSM_S_BOOKED, HLSM_S_BOOKED);
	send_ok(&w, HLSM_E_ESCORT_UPDATE_UNSUCCESSFUL);
	expect_states(&w, "escorting abandoned", HLSM_S_UNSUCCESSFUL, HLSM_S_UNSUCCESSFUL,
				  HLSM_S_BOOKED);
	send_ok(&w, HLSM_E_TRAVEL_CANCELLATION);
	expect_states(&w, "travel cancelled after it", HLSM_S_UNSUCCESSFUL, HLSM_S_UNSUCCESSFUL,
				  HLSM_S_CANCELLED);
	send_ok(&w, HLSM_E_TRAVEL_UPDATE_FINANCIAL);
	send_refused(&w, HLSM_E_ESCORT_CANCELLATION);

	printf("# the TSP cancels the flight: re-quote the travel\n");
	world_init(&w);
	escorted_to_booked(&w);
	send_ok(&w, HLSM_E_TRAVEL_UPDATE_CANCELLED);
	expect_states(&w, "flight cancelled", HLSM_S_DISRUPTED, HLSM_S_BOOKED,
				  HLSM_S_PROVIDER_CANCELLED);
	send_ok(&w, HLSM_E_TRAVEL_QUOTE_REQUEST);
	send_ok(&w, HLSM_E_TRAVEL_QUOTE_RESPONSE_QUOTED);
	send_ok(&w, HLSM_E_TRAVEL_BOOKING_REQUEST);
	send_ok(&w, HLSM_E_TRAVEL_BOOKING_RESPONSE_ACCEPTED);
	send_ok(&w, HLSM_E_BOOKINGS_CONFIRMED);
	expect_states(&w, "rebooked", HLSM_S_BOOKED, HLSM_S_BOOKED, HLSM_S_BOOKED);
}

static void
test_premature_and_impossible(void)
{
	world w;
	hlsm_result r;

	printf("# premature (retry) versus impossible (reject)\n");
	world_init(&w);
	send_ok(&w, HLSM_E_ESCORT_QUOTE_REQUEST);
	send_ok(&w, HLSM_E_ESCORT_QUOTE_RESPONSE);
	receive_expect(&w, HLSM_E_ESCORT_UPDATE_COMPLETED, HLSM_FORBIDDEN);
	receive_expect(&w, HLSM_E_ESCORT_BOOKING_RESPONSE_ACCEPTED, HLSM_FORBIDDEN);
	send_refused(&w, HLSM_E_ESCORT_BOOKING_REQUEST); /* no travel quote to go with it yet */
	send_ok(&w, HLSM_E_TRAVEL_QUOTE_REQUEST);
	send_ok(&w, HLSM_E_TRAVEL_QUOTE_RESPONSE_QUOTED);
	send_ok(&w, HLSM_E_ESCORT_BOOKING_REQUEST);
	/* the hub has not yet applied the ESP's booking response that came on another queue */
	receive_expect(&w, HLSM_E_ESCORT_UPDATE_DELAYED, HLSM_PREMATURE);

	r = hlsm_next(HLSM_ESCORT, HLSM_S_NONE, HLSM_E_ESCORT_BOOKING_REQUEST, HLSM_IN, HLSM_ESP);
	ok(r.verdict == HLSM_FORBIDDEN, "a booking for a quote never issued is impossible: %s",
	   r.reason);
	r = hlsm_next(HLSM_ESCORT, HLSM_S_NONE, HLSM_E_ESCORT_CANCELLATION, HLSM_IN, HLSM_ESP);
	ok(r.verdict == HLSM_PREMATURE, "a cancellation before its quote request is premature: %s",
	   r.reason);
	r = hlsm_next(HLSM_TRAVEL, HLSM_S_CANCELLED, HLSM_E_TRAVEL_AMENDMENT, HLSM_IN, HLSM_TSP);
	ok(r.verdict == HLSM_FORBIDDEN, "an amendment after cancellation is impossible: %s", r.reason);
	r = hlsm_next(HLSM_ESCORT, HLSM_S_QUOTE_REQUESTED, HLSM_E_ESCORT_QUOTE_RESPONSE, HLSM_IN,
				  HLSM_TSP);
	ok(r.verdict == HLSM_FORBIDDEN && strstr(r.reason, "does not track"),
	   "a response from the wrong party is impossible: %s", r.reason);
	r = hlsm_next(HLSM_TRAVEL, HLSM_S_QUOTE_REQUESTED, HLSM_E_ESCORT_QUOTE_RESPONSE, HLSM_IN,
				  HLSM_HUB);
	ok(r.verdict == HLSM_FORBIDDEN && strstr(r.reason, "does not concern"),
	   "an escort message does not move a travel booking: %s", r.reason);
	r = hlsm_next(HLSM_ESCORT, HLSM_S_QUOTE_REQUESTED, HLSM_E_ESCORT_QUOTE_RESPONSE, HLSM_OUT,
				  HLSM_HUB);
	ok(r.verdict == HLSM_FORBIDDEN && strstr(r.reason, "receives"),
	   "the hub cannot send an escort quote response: %s", r.reason);
	r = hlsm_next(HLSM_REMOVAL, HLSM_S_BOOKING, HLSM_E_BOOKINGS_CONFIRMED, HLSM_LOCAL, HLSM_HUB);
	ok(r.verdict == HLSM_ALLOWED && r.next == HLSM_S_BOOKED, "the hub confirms the removal");
	r = hlsm_next(HLSM_REMOVAL, HLSM_S_QUOTED, HLSM_E_BOOKINGS_CONFIRMED, HLSM_LOCAL, HLSM_HUB);
	ok(r.verdict == HLSM_FORBIDDEN, "not before the bookings were requested: %s", r.reason);
}

int
main(int argc, char **argv)
{
	(void) argc;
	(void) argv;
	test_names();
	test_table();
	test_escorted_happy_path();
	test_unescorted_happy_path();
	test_requote_loop();
	test_cancellation_before_booking();
	test_escort_change_delay_unsuccessful();
	test_premature_and_impossible();
	load_golden();
	test_table_is_golden();
	test_golden_refusals();
	test_cross_product();
	printf("1..%d\n", counter);
	printf("statemachine: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
