/*
 * unit_tests.c - the removal state machine on its own (TAP). Closing line:
 * "statemachine: N passed, M failed".
 *
 * 1. The whole cross-product (machine, state, event, direction, party) is tried: what the
 *    table allows gives its next state, everything else is refused.
 * 2. The table is sound: rules disjoint, states of their machine, every state reachable,
 *    both parties of a message track the machine it moves.
 * 3. Conversations across the three parties (each party its own copy of the machines):
 *    escorted and unescorted happy paths, re-quote, cancellations, decline, escort change,
 *    delay, unsuccessful escorting, premature and impossible messages.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "statemachine.h"

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

/* --- 1. the cross-product ----------------------------------------------------------------- */

/* Independent reading of the table: the rule for (m, s, e), if any. */
static int
table_target(hlsm_machine m, hlsm_state s, hlsm_event e, hlsm_state *to)
{
	size_t n;
	const hlsm_rule *rules = hlsm_rules(&n);
	int found = 0;

	for (size_t i = 0; i < n; i++)
		if (rules[i].machine == m && rules[i].event == e && (rules[i].from_mask & B(s)))
		{
			*to = rules[i].to == HLSM_SAME ? s : rules[i].to;
			found++;
		}
	return found;
}

static int
party_takes_part(hlsm_party p, hlsm_event e, hlsm_direction d)
{
	const hlsm_event_info *ev = hlsm_event_get(e);

	if (ev->message_type == NULL)
		return p == ev->sender && d == HLSM_LOCAL;
	return (p == ev->sender && d == HLSM_OUT) || (p == ev->receiver && d == HLSM_IN);
}

static int
tracks(hlsm_party p, hlsm_machine m)
{
	return p == HLSM_HUB || (p == HLSM_TSP && m == HLSM_TRAVEL) ||
		   (p == HLSM_ESP && m == HLSM_ESCORT);
}

static void
test_cross_product(void)
{
	int allowed = 0, refused = 0, premature = 0;

	for (int m = 0; m < HLSM_N_MACHINES; m++)
		for (int s = 0; s < HLSM_N_STATES; s++)
			for (int e = 0; e < HLSM_N_EVENTS; e++)
				for (int d = 0; d < HLSM_N_DIRECTIONS; d++)
					for (int p = 0; p < HLSM_N_PARTIES; p++)
					{
						hlsm_state to = HLSM_S_NONE;
						int in_machine = hlsm_machine_has_state(m, s);
						int expect = in_machine && tracks(p, m) && party_takes_part(p, e, d) &&
									 table_target(m, s, e, &to) == 1;
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
						if (expect)
						{
							allowed++;
							ok(r.verdict == HLSM_ALLOWED && r.next == to,
							   "allowed: %s %s --%s (%s %s)--> %s", hlsm_machine_name(m),
							   hlsm_state_name(s), what, hlsm_party_name(p), hlsm_direction_name(d),
							   hlsm_state_name(to));
						}
						else
						{
							refused++;
							if (r.verdict == HLSM_PREMATURE)
								premature++;
							ok(r.verdict != HLSM_ALLOWED && r.reason[0] != '\0' &&
								   (r.verdict == HLSM_FORBIDDEN || d == HLSM_IN),
							   "refused (%s): %s %s %s (%s %s): %s", hlsm_verdict_name(r.verdict),
							   hlsm_machine_name(m), hlsm_state_name(s), what, hlsm_party_name(p),
							   hlsm_direction_name(d), r.reason);
						}
					}
	printf("# cross-product: %d allowed, %d refused (%d of them premature)\n", allowed, refused,
		   premature);
	ok(allowed > 100 && refused > 1000, "the cross-product has both allowed and refused entries");
	/* out-of-range input never crashes and is refused */
	ok(hlsm_next(HLSM_N_MACHINES, 0, 0, 0, 0).verdict == HLSM_FORBIDDEN, "unknown machine");
	ok(hlsm_next(0, HLSM_N_STATES, 0, 0, 0).verdict == HLSM_FORBIDDEN, "unknown state");
	ok(hlsm_next(0, 0, HLSM_N_EVENTS, 0, 0).verdict == HLSM_FORBIDDEN, "unknown event");
	ok(hlsm_next(0, 0, 0, HLSM_N_DIRECTIONS, 0).verdict == HLSM_FORBIDDEN, "unknown direction");
	ok(hlsm_next(0, 0, 0, 0, HLSM_N_PARTIES).verdict == HLSM_FORBIDDEN, "unknown party");
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
	test_cross_product();
	printf("1..%d\n", counter);
	printf("statemachine: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
