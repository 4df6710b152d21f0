/*
 * statemachine.h - the process flow of a removal conversation (Schedule R Appendix A and B):
 * which message may follow which, for each party. Pure C11, no PostgreSQL headers, so it is
 * unit-tested and fuzzed on its own (test/unit/statemachine/); extension/statemachine_sql.c
 * binds it to SQL.
 *
 * Three machines: the removal (tracked by the Hub only), the escort booking (Hub and ESP) and
 * the travel booking (Hub and TSP). An event is a message type, or a message type with a
 * variant after a dot where the message's content changes the flow ("EscortUpdate.completed",
 * "TravelBookingResponse.declined"), or a local decision of the Hub ("BookingsConfirmed").
 * The table gives, for each (machine, event), the states it may arrive in and the state it
 * leads to. Everything else is forbidden; a forbidden inbound message is "premature" when a
 * message of the same sender still to be applied could make it possible (the queues of one
 * conversation are consumed independently), and "impossible" otherwise.
 */
#ifndef HUBLINK_STATEMACHINE_H
#define HUBLINK_STATEMACHINE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum hlsm_machine
{
	HLSM_REMOVAL,
	HLSM_ESCORT,
	HLSM_TRAVEL,
	HLSM_N_MACHINES
} hlsm_machine;

typedef enum hlsm_party
{
	HLSM_HUB,
	HLSM_TSP,
	HLSM_ESP,
	HLSM_N_PARTIES
} hlsm_party;

typedef enum hlsm_direction
{
	HLSM_IN,    /* the party receives the message */
	HLSM_OUT,   /* the party sends the message */
	HLSM_LOCAL, /* a decision of the party itself, no message */
	HLSM_N_DIRECTIONS
} hlsm_direction;

typedef enum hlsm_state
{
	HLSM_S_NONE,               /* nothing asked yet */
	HLSM_S_NEW,                /* removal created, no request sent */
	HLSM_S_QUOTING,            /* removal: quote requests out */
	HLSM_S_QUOTE_REQUESTED,    /* booking: quote request sent */
	HLSM_S_QUOTED,             /* quotes received */
	HLSM_S_NO_QUOTE,           /* travel: the TSP could not quote */
	HLSM_S_BOOKING,            /* removal: booking requests out */
	HLSM_S_BOOKING_REQUESTED,  /* booking: booking request sent */
	HLSM_S_DECLINED,           /* booking: the provider declined the booking */
	HLSM_S_DISRUPTED,          /* removal: a booking was declined or cancelled by its provider */
	HLSM_S_BOOKED,             /* confirmed */
	HLSM_S_AMENDED,            /* booking: an amendment waits for its outcome */
	HLSM_S_PROVIDER_CANCELLED, /* booking: cancelled by the provider */
	HLSM_S_CANCELLED,          /* cancelled by the Hub */
	HLSM_S_UNSUCCESSFUL,       /* escorting started and was abandoned */
	HLSM_S_COMPLETED,          /* carried out */
	HLSM_N_STATES
} hlsm_state;

typedef enum hlsm_event
{
	HLSM_E_ESCORT_QUOTE_REQUEST,
	HLSM_E_ESCORT_QUOTE_RESPONSE,
	HLSM_E_TRAVEL_QUOTE_REQUEST,
	HLSM_E_TRAVEL_QUOTE_RESPONSE_QUOTED,
	HLSM_E_TRAVEL_QUOTE_RESPONSE_NO_QUOTE,
	HLSM_E_ESCORT_BOOKING_REQUEST,
	HLSM_E_ESCORT_BOOKING_RESPONSE_ACCEPTED,
	HLSM_E_ESCORT_BOOKING_RESPONSE_DECLINED,
	HLSM_E_TRAVEL_BOOKING_REQUEST,
	HLSM_E_TRAVEL_BOOKING_RESPONSE_ACCEPTED,
	HLSM_E_TRAVEL_BOOKING_RESPONSE_DECLINED,
	HLSM_E_ESCORT_AMENDMENT,
	HLSM_E_ESCORT_UPDATE_COMPLETED,
	HLSM_E_ESCORT_UPDATE_CANCELLED,
	HLSM_E_ESCORT_UPDATE_UNSUCCESSFUL,
	HLSM_E_ESCORT_UPDATE_AMENDMENT_OUTCOME,
	HLSM_E_ESCORT_UPDATE_DELAYED,
	HLSM_E_ESCORT_UPDATE_ESCORT_CHANGE,
	HLSM_E_ESCORT_UPDATE_DETAILS,
	HLSM_E_ESCORT_UPDATE_FINANCIAL,
	HLSM_E_TRAVEL_AMENDMENT,
	HLSM_E_TRAVEL_UPDATE_COMPLETED,
	HLSM_E_TRAVEL_UPDATE_CANCELLED,
	HLSM_E_TRAVEL_UPDATE_AMENDMENT_OUTCOME,
	HLSM_E_TRAVEL_UPDATE_FLIGHT_CHANGE,
	HLSM_E_TRAVEL_UPDATE_FINANCIAL,
	HLSM_E_TRAVEL_UPDATE_OTHER,
	HLSM_E_TRAVEL_CANCELLATION,
	HLSM_E_ESCORT_CANCELLATION,
	HLSM_E_BOOKINGS_CONFIRMED,
	HLSM_N_EVENTS
} hlsm_event;

typedef enum hlsm_verdict
{
	HLSM_ALLOWED,   /* the transition is in the table */
	HLSM_PREMATURE, /* not yet: a message of the same sender may still make it possible */
	HLSM_FORBIDDEN  /* impossible: wrong party, wrong direction, or never from this state */
} hlsm_verdict;

/* Marks a rule whose target is the state it came from. */
#define HLSM_SAME HLSM_N_STATES

typedef struct hlsm_event_info
{
	const char *name;         /* "EscortUpdate.completed", "BookingsConfirmed" */
	const char *message_type; /* "EscortUpdate"; NULL for a local event */
	const char *variant;      /* "completed"; NULL when the type has no variants */
	hlsm_party sender;
	hlsm_party receiver; /* == sender for a local event */
	const char *description;
} hlsm_event_info;

/* One row of the table: in machine, event moves each state of from_mask to `to`. */
typedef struct hlsm_rule
{
	hlsm_machine machine;
	hlsm_event event;
	unsigned int from_mask; /* bit (1u << state) */
	hlsm_state to;          /* HLSM_SAME: stays where it is */
} hlsm_rule;

typedef struct hlsm_result
{
	hlsm_verdict verdict;
	hlsm_state next; /* valid when verdict == HLSM_ALLOWED */
	char reason[400];
} hlsm_result;

/* Names, for SQL and docs; NULL for an out-of-range value. */
const char *hlsm_machine_name(hlsm_machine m);
const char *hlsm_machine_noun(hlsm_machine m); /* "an escort booking" */
const char *hlsm_party_name(hlsm_party p);
const char *hlsm_direction_name(hlsm_direction d);
const char *hlsm_state_name(hlsm_state s);
const char *hlsm_state_description(hlsm_state s);
const char *hlsm_verdict_name(hlsm_verdict v);
const hlsm_event_info *hlsm_event_get(hlsm_event e);

/* Parsers: false when the name is unknown. */
bool hlsm_machine_parse(const char *name, hlsm_machine *out);
bool hlsm_party_parse(const char *name, hlsm_party *out);
bool hlsm_direction_parse(const char *name, hlsm_direction *out);
bool hlsm_state_parse(const char *name, hlsm_state *out);
/* Accepts an event name, or a bare message type when that type has a single event. */
bool hlsm_event_parse(const char *name, hlsm_event *out);

/* The table itself, and what it implies. */
const hlsm_rule *hlsm_rules(size_t *n);
hlsm_state hlsm_initial_state(hlsm_machine m);
bool hlsm_machine_has_state(hlsm_machine m, hlsm_state s);
bool hlsm_party_tracks(hlsm_party p, hlsm_machine m);
bool hlsm_event_concerns(hlsm_machine m, hlsm_event e);
bool hlsm_state_is_terminal(hlsm_machine m, hlsm_state s); /* no way out but self-loops */
/* The direction in which party p takes part in event e; false when it takes no part. */
bool hlsm_party_direction(hlsm_party p, hlsm_event e, hlsm_direction *out);

/*
 * The heart of it: what event e (seen by party p in direction d) does to machine m in state s.
 * Never fails: the verdict says allowed, premature or forbidden, with a readable reason.
 */
hlsm_result hlsm_next(hlsm_machine m, hlsm_state s, hlsm_event e, hlsm_direction d, hlsm_party p);

#endif /* HUBLINK_STATEMACHINE_H */
