/*
 * statemachine.c - the transition table of a removal conversation and its interpreter.
 * See statemachine.h; docs/state-machine.md is generated from this table.
 */
#include "statemachine.h"

#include <stdio.h>
#include <string.h>

#define B(s) (1u << (s))

static const char *const machine_names[HLSM_N_MACHINES] = {"removal", "escort", "travel"};
static const char *const machine_nouns[HLSM_N_MACHINES] = {"the removal", "the escort booking",
														   "the travel booking"};
static const char *const party_names[HLSM_N_PARTIES] = {"hub", "tsp", "esp"};
static const char *const direction_names[HLSM_N_DIRECTIONS] = {"in", "out", "local"};
static const char *const verdict_names[] = {"allowed", "premature", "forbidden"};

static const struct
{
	const char *name;
	const char *description;
} states[HLSM_N_STATES] = {
	[HLSM_S_NONE] = {"none", "Nothing asked of the provider yet."},
	[HLSM_S_NEW] = {"new", "The removal is created; no request has been sent."},
	[HLSM_S_QUOTING] = {"quoting", "Quote requests are out (escort, then travel, or travel only)."},
	[HLSM_S_QUOTE_REQUESTED] = {"quote_requested", "A quote request was sent; no quote yet."},
	[HLSM_S_QUOTED] = {"quoted", "Quotes were received; the Hub may book one or re-quote."},
	[HLSM_S_NO_QUOTE] = {"no_quote", "The provider answered that it cannot quote."},
	[HLSM_S_BOOKING] = {"booking", "Booking requests are out; not every booking is confirmed."},
	[HLSM_S_BOOKING_REQUESTED] = {"booking_requested",
								  "A booking request was sent; no answer yet."},
	[HLSM_S_DECLINED] = {"declined", "The provider declined the booking request."},
	[HLSM_S_DISRUPTED] = {"disrupted",
						  "A booking was declined or cancelled by its provider; the Hub "
						  "books another quote, re-quotes or cancels."},
	[HLSM_S_BOOKED] = {"booked", "Confirmed."},
	[HLSM_S_AMENDED] = {"amended", "An amendment was sent and waits for its outcome."},
	[HLSM_S_PROVIDER_CANCELLED] = {"provider_cancelled", "The provider cancelled the booking."},
	[HLSM_S_CANCELLED] = {"cancelled", "The Hub cancelled it."},
	[HLSM_S_UNSUCCESSFUL] = {"unsuccessful", "The escorting started and was abandoned."},
	[HLSM_S_COMPLETED] = {"completed", "Carried out."},
};

#define EV(id, name, type, variant, from, to, text) [id] = {name, type, variant, from, to, text}

static const hlsm_event_info events[HLSM_N_EVENTS] = {
	EV(HLSM_E_ESCORT_QUOTE_REQUEST, "EscortQuoteRequest", "EscortQuoteRequest", NULL, HLSM_HUB,
	   HLSM_ESP, "4.1: the Hub asks the ESP for escort options (also a re-quote, 4.5)."),
	EV(HLSM_E_ESCORT_QUOTE_RESPONSE, "EscortQuoteResponse", "EscortQuoteResponse", NULL, HLSM_ESP,
	   HLSM_HUB, "4.2: the ESP's escort quotes, one per date."),
	EV(HLSM_E_TRAVEL_QUOTE_REQUEST, "TravelQuoteRequest", "TravelQuoteRequest", NULL, HLSM_HUB,
	   HLSM_TSP, "4.3: the Hub asks the TSP for travel quotes (also a re-quote, 4.5)."),
	EV(HLSM_E_TRAVEL_QUOTE_RESPONSE_QUOTED, "TravelQuoteResponse.quoted", "TravelQuoteResponse",
	   "quoted", HLSM_TSP, HLSM_HUB, "4.4: the TSP's travel quotes (at least one)."),
	EV(HLSM_E_TRAVEL_QUOTE_RESPONSE_NO_QUOTE, "TravelQuoteResponse.no-quote", "TravelQuoteResponse",
	   "no-quote", HLSM_TSP, HLSM_HUB,
	   "4.4: the TSP cannot offer travel (an empty list with noQuoteReason)."),
	EV(HLSM_E_ESCORT_BOOKING_REQUEST, "EscortBookingRequest", "EscortBookingRequest", NULL,
	   HLSM_HUB, HLSM_ESP, "4.5: the Hub books one escort quote."),
	EV(HLSM_E_ESCORT_BOOKING_RESPONSE_ACCEPTED, "EscortBookingResponse.accepted",
	   "EscortBookingResponse", "accepted", HLSM_ESP, HLSM_HUB,
	   "4.6: the ESP confirms the escort booking."),
	EV(HLSM_E_ESCORT_BOOKING_RESPONSE_DECLINED, "EscortBookingResponse.declined",
	   "EscortBookingResponse", "declined", HLSM_ESP, HLSM_HUB,
	   "4.6: the ESP declines the escort booking, with a reason."),
	EV(HLSM_E_TRAVEL_BOOKING_REQUEST, "TravelBookingRequest", "TravelBookingRequest", NULL,
	   HLSM_HUB, HLSM_TSP, "4.7: the Hub books one travel quote."),
	EV(HLSM_E_TRAVEL_BOOKING_RESPONSE_ACCEPTED, "TravelBookingResponse.accepted",
	   "TravelBookingResponse", "accepted", HLSM_TSP, HLSM_HUB,
	   "4.8: the TSP confirms the booking, with tickets."),
	EV(HLSM_E_TRAVEL_BOOKING_RESPONSE_DECLINED, "TravelBookingResponse.declined",
	   "TravelBookingResponse", "declined", HLSM_TSP, HLSM_HUB,
	   "4.8: the TSP declines the booking, with a reason."),
	EV(HLSM_E_ESCORT_AMENDMENT, "EscortAmendment", "EscortAmendment", NULL, HLSM_HUB, HLSM_ESP,
	   "4.9: the Hub asks to change a confirmed escort booking."),
	EV(HLSM_E_ESCORT_UPDATE_COMPLETED, "EscortUpdate.completed", "EscortUpdate", "completed",
	   HLSM_ESP, HLSM_HUB, "4.10: the escorting was completed."),
	EV(HLSM_E_ESCORT_UPDATE_CANCELLED, "EscortUpdate.cancelled", "EscortUpdate", "cancelled",
	   HLSM_ESP, HLSM_HUB, "4.10: the ESP aborts the escorting before it starts."),
	EV(HLSM_E_ESCORT_UPDATE_UNSUCCESSFUL, "EscortUpdate.unsuccessful", "EscortUpdate",
	   "unsuccessful", HLSM_ESP, HLSM_HUB, "4.10: the escorting started and was abandoned."),
	EV(HLSM_E_ESCORT_UPDATE_AMENDMENT_OUTCOME, "EscortUpdate.amendment-outcome", "EscortUpdate",
	   "amendment-outcome", HLSM_ESP, HLSM_HUB, "4.10: the consequence of an escort amendment."),
	EV(HLSM_E_ESCORT_UPDATE_DELAYED, "EscortUpdate.delayed", "EscortUpdate", "delayed", HLSM_ESP,
	   HLSM_HUB, "4.10: the escort is delayed; new segment times."),
	EV(HLSM_E_ESCORT_UPDATE_ESCORT_CHANGE, "EscortUpdate.escort-change", "EscortUpdate",
	   "escort-change", HLSM_ESP, HLSM_HUB, "4.10: an escort is replaced on some segments."),
	EV(HLSM_E_ESCORT_UPDATE_DETAILS, "EscortUpdate.details", "EscortUpdate", "details", HLSM_ESP,
	   HLSM_HUB, "4.10: new or later escort details (e.g. passport numbers)."),
	EV(HLSM_E_ESCORT_UPDATE_FINANCIAL, "EscortUpdate.financial", "EscortUpdate", "financial",
	   HLSM_ESP, HLSM_HUB, "4.10/4.14: the financial consequence of a change or cancellation."),
	EV(HLSM_E_TRAVEL_AMENDMENT, "TravelAmendment", "TravelAmendment", NULL, HLSM_HUB, HLSM_TSP,
	   "4.11: the Hub asks to change a confirmed travel booking."),
	EV(HLSM_E_TRAVEL_UPDATE_COMPLETED, "TravelUpdate.completed", "TravelUpdate", "completed",
	   HLSM_TSP, HLSM_HUB, "4.12: the travel took place."),
	EV(HLSM_E_TRAVEL_UPDATE_CANCELLED, "TravelUpdate.cancelled", "TravelUpdate", "cancelled",
	   HLSM_TSP, HLSM_HUB, "4.12: flights cancelled (by the carrier or the TSP)."),
	EV(HLSM_E_TRAVEL_UPDATE_AMENDMENT_OUTCOME, "TravelUpdate.amendment-outcome", "TravelUpdate",
	   "amendment-outcome", HLSM_TSP, HLSM_HUB, "4.12: the outcome of a travel amendment."),
	EV(HLSM_E_TRAVEL_UPDATE_FLIGHT_CHANGE, "TravelUpdate.flight-change", "TravelUpdate",
	   "flight-change", HLSM_TSP, HLSM_HUB, "4.12: a flight is retimed, delayed or changed."),
	EV(HLSM_E_TRAVEL_UPDATE_FINANCIAL, "TravelUpdate.financial", "TravelUpdate", "financial",
	   HLSM_TSP, HLSM_HUB, "4.12/4.13: refund or fees for a requested change or cancellation."),
	EV(HLSM_E_TRAVEL_UPDATE_OTHER, "TravelUpdate.other", "TravelUpdate", "other", HLSM_TSP,
	   HLSM_HUB, "4.12: an exception in free text."),
	EV(HLSM_E_TRAVEL_CANCELLATION, "TravelCancellation", "TravelCancellation", NULL, HLSM_HUB,
	   HLSM_TSP, "4.13: the Hub cancels the travel (before or after booking)."),
	EV(HLSM_E_ESCORT_CANCELLATION, "EscortCancellation", "EscortCancellation", NULL, HLSM_HUB,
	   HLSM_ESP, "4.14: the Hub cancels the escort (before or after booking)."),
	EV(HLSM_E_BOOKINGS_CONFIRMED, "BookingsConfirmed", NULL, NULL, HLSM_HUB, HLSM_HUB,
	   "Hub decision: every booking the removal needs is confirmed."),
};

/* --- the table -------------------------------------------------------------------------- */

/* Booking machines (escort and travel share most of their shape). */
#define BK_REQUOTABLE                                                                              \
	(B(HLSM_S_NONE) | B(HLSM_S_QUOTE_REQUESTED) | B(HLSM_S_QUOTED) | B(HLSM_S_NO_QUOTE) |          \
	 B(HLSM_S_DECLINED) | B(HLSM_S_PROVIDER_CANCELLED))
#define BK_LIVE  (B(HLSM_S_BOOKED) | B(HLSM_S_AMENDED))
#define BK_AFTER (B(HLSM_S_CANCELLED) | B(HLSM_S_PROVIDER_CANCELLED) | B(HLSM_S_COMPLETED))
#define BK_CANCELS                                                                                 \
	(B(HLSM_S_QUOTE_REQUESTED) | B(HLSM_S_QUOTED) | B(HLSM_S_NO_QUOTE) |                           \
	 B(HLSM_S_BOOKING_REQUESTED) | B(HLSM_S_DECLINED) | BK_LIVE | B(HLSM_S_PROVIDER_CANCELLED))
/* Removal machine. */
#define RM_BUSY  (B(HLSM_S_BOOKING) | B(HLSM_S_BOOKED) | B(HLSM_S_DISRUPTED))
#define RM_ENDED (B(HLSM_S_CANCELLED) | B(HLSM_S_UNSUCCESSFUL) | B(HLSM_S_COMPLETED))

static const hlsm_rule rules[] = {
	/* ---- escort booking (hub and esp) ---- */
	{HLSM_ESCORT, HLSM_E_ESCORT_QUOTE_REQUEST, BK_REQUOTABLE & ~B(HLSM_S_NO_QUOTE),
	 HLSM_S_QUOTE_REQUESTED},
	{HLSM_ESCORT, HLSM_E_ESCORT_QUOTE_RESPONSE, B(HLSM_S_QUOTE_REQUESTED) | B(HLSM_S_QUOTED),
	 HLSM_S_QUOTED},
	{HLSM_ESCORT, HLSM_E_ESCORT_QUOTE_RESPONSE, B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_ESCORT, HLSM_E_ESCORT_BOOKING_REQUEST, B(HLSM_S_QUOTED) | B(HLSM_S_DECLINED),
	 HLSM_S_BOOKING_REQUESTED},
	{HLSM_ESCORT, HLSM_E_ESCORT_BOOKING_RESPONSE_ACCEPTED, B(HLSM_S_BOOKING_REQUESTED),
	 HLSM_S_BOOKED},
	{HLSM_ESCORT, HLSM_E_ESCORT_BOOKING_RESPONSE_ACCEPTED, B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_ESCORT, HLSM_E_ESCORT_BOOKING_RESPONSE_DECLINED, B(HLSM_S_BOOKING_REQUESTED),
	 HLSM_S_DECLINED},
	{HLSM_ESCORT, HLSM_E_ESCORT_BOOKING_RESPONSE_DECLINED, B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_ESCORT, HLSM_E_ESCORT_AMENDMENT, BK_LIVE, HLSM_S_AMENDED},
	{HLSM_ESCORT, HLSM_E_ESCORT_UPDATE_AMENDMENT_OUTCOME, BK_LIVE, HLSM_S_BOOKED},
	{HLSM_ESCORT, HLSM_E_ESCORT_UPDATE_DELAYED, BK_LIVE, HLSM_SAME},
	{HLSM_ESCORT, HLSM_E_ESCORT_UPDATE_ESCORT_CHANGE, BK_LIVE, HLSM_SAME},
	{HLSM_ESCORT, HLSM_E_ESCORT_UPDATE_DETAILS, BK_LIVE, HLSM_SAME},
	{HLSM_ESCORT, HLSM_E_ESCORT_UPDATE_FINANCIAL, BK_LIVE | BK_AFTER | B(HLSM_S_UNSUCCESSFUL),
	 HLSM_SAME},
	{HLSM_ESCORT, HLSM_E_ESCORT_UPDATE_COMPLETED, BK_LIVE, HLSM_S_COMPLETED},
	{HLSM_ESCORT, HLSM_E_ESCORT_UPDATE_CANCELLED, BK_LIVE, HLSM_S_PROVIDER_CANCELLED},
	{HLSM_ESCORT, HLSM_E_ESCORT_UPDATE_CANCELLED, B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_ESCORT, HLSM_E_ESCORT_UPDATE_UNSUCCESSFUL, BK_LIVE, HLSM_S_UNSUCCESSFUL},
	{HLSM_ESCORT, HLSM_E_ESCORT_CANCELLATION, BK_CANCELS & ~B(HLSM_S_NO_QUOTE), HLSM_S_CANCELLED},

	/* ---- travel booking (hub and tsp) ---- */
	{HLSM_TRAVEL, HLSM_E_TRAVEL_QUOTE_REQUEST, BK_REQUOTABLE, HLSM_S_QUOTE_REQUESTED},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_QUOTE_RESPONSE_QUOTED,
	 B(HLSM_S_QUOTE_REQUESTED) | B(HLSM_S_QUOTED) | B(HLSM_S_NO_QUOTE), HLSM_S_QUOTED},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_QUOTE_RESPONSE_QUOTED, B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_QUOTE_RESPONSE_NO_QUOTE,
	 B(HLSM_S_QUOTE_REQUESTED) | B(HLSM_S_QUOTED) | B(HLSM_S_NO_QUOTE), HLSM_S_NO_QUOTE},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_QUOTE_RESPONSE_NO_QUOTE, B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_BOOKING_REQUEST, B(HLSM_S_QUOTED) | B(HLSM_S_DECLINED),
	 HLSM_S_BOOKING_REQUESTED},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_BOOKING_RESPONSE_ACCEPTED, B(HLSM_S_BOOKING_REQUESTED),
	 HLSM_S_BOOKED},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_BOOKING_RESPONSE_ACCEPTED, B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_BOOKING_RESPONSE_DECLINED, B(HLSM_S_BOOKING_REQUESTED),
	 HLSM_S_DECLINED},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_BOOKING_RESPONSE_DECLINED, B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_AMENDMENT, BK_LIVE, HLSM_S_AMENDED},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_UPDATE_AMENDMENT_OUTCOME, BK_LIVE, HLSM_S_BOOKED},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_UPDATE_FLIGHT_CHANGE, BK_LIVE, HLSM_SAME},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_UPDATE_FINANCIAL, BK_LIVE | BK_AFTER, HLSM_SAME},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_UPDATE_OTHER, BK_LIVE | BK_AFTER, HLSM_SAME},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_UPDATE_COMPLETED, BK_LIVE, HLSM_S_COMPLETED},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_UPDATE_CANCELLED, BK_LIVE, HLSM_S_PROVIDER_CANCELLED},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_UPDATE_CANCELLED, B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_TRAVEL, HLSM_E_TRAVEL_CANCELLATION, BK_CANCELS, HLSM_S_CANCELLED},

	/* ---- the removal (hub only) ---- */
	{HLSM_REMOVAL, HLSM_E_ESCORT_QUOTE_REQUEST,
	 B(HLSM_S_NEW) | B(HLSM_S_QUOTING) | B(HLSM_S_QUOTED) | B(HLSM_S_DISRUPTED), HLSM_S_QUOTING},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_QUOTE_REQUEST,
	 B(HLSM_S_NEW) | B(HLSM_S_QUOTING) | B(HLSM_S_QUOTED) | B(HLSM_S_DISRUPTED), HLSM_S_QUOTING},
	{HLSM_REMOVAL, HLSM_E_ESCORT_QUOTE_RESPONSE, B(HLSM_S_QUOTING) | B(HLSM_S_QUOTED), HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_ESCORT_QUOTE_RESPONSE, B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_QUOTE_RESPONSE_QUOTED, B(HLSM_S_QUOTING) | B(HLSM_S_QUOTED),
	 HLSM_S_QUOTED},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_QUOTE_RESPONSE_QUOTED, B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_QUOTE_RESPONSE_NO_QUOTE,
	 B(HLSM_S_QUOTING) | B(HLSM_S_QUOTED) | B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_ESCORT_BOOKING_REQUEST,
	 B(HLSM_S_QUOTED) | B(HLSM_S_BOOKING) | B(HLSM_S_DISRUPTED), HLSM_S_BOOKING},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_BOOKING_REQUEST,
	 B(HLSM_S_QUOTED) | B(HLSM_S_BOOKING) | B(HLSM_S_DISRUPTED), HLSM_S_BOOKING},
	{HLSM_REMOVAL, HLSM_E_ESCORT_BOOKING_RESPONSE_ACCEPTED,
	 B(HLSM_S_BOOKING) | B(HLSM_S_DISRUPTED) | B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_BOOKING_RESPONSE_ACCEPTED,
	 B(HLSM_S_BOOKING) | B(HLSM_S_DISRUPTED) | B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_ESCORT_BOOKING_RESPONSE_DECLINED, B(HLSM_S_BOOKING) | B(HLSM_S_DISRUPTED),
	 HLSM_S_DISRUPTED},
	{HLSM_REMOVAL, HLSM_E_ESCORT_BOOKING_RESPONSE_DECLINED, B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_BOOKING_RESPONSE_DECLINED, B(HLSM_S_BOOKING) | B(HLSM_S_DISRUPTED),
	 HLSM_S_DISRUPTED},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_BOOKING_RESPONSE_DECLINED, B(HLSM_S_CANCELLED), HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_BOOKINGS_CONFIRMED, B(HLSM_S_BOOKING), HLSM_S_BOOKED},
	{HLSM_REMOVAL, HLSM_E_ESCORT_AMENDMENT, RM_BUSY, HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_AMENDMENT, RM_BUSY, HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_ESCORT_UPDATE_AMENDMENT_OUTCOME, RM_BUSY, HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_ESCORT_UPDATE_DELAYED, RM_BUSY, HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_ESCORT_UPDATE_ESCORT_CHANGE, RM_BUSY, HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_ESCORT_UPDATE_DETAILS, RM_BUSY, HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_ESCORT_UPDATE_FINANCIAL, RM_BUSY | RM_ENDED, HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_UPDATE_AMENDMENT_OUTCOME, RM_BUSY, HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_UPDATE_FLIGHT_CHANGE, RM_BUSY, HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_UPDATE_FINANCIAL, RM_BUSY | RM_ENDED, HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_UPDATE_OTHER, RM_BUSY | RM_ENDED, HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_ESCORT_UPDATE_COMPLETED, B(HLSM_S_BOOKED) | B(HLSM_S_COMPLETED),
	 HLSM_S_COMPLETED},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_UPDATE_COMPLETED, B(HLSM_S_BOOKED) | B(HLSM_S_COMPLETED),
	 HLSM_S_COMPLETED},
	{HLSM_REMOVAL, HLSM_E_ESCORT_UPDATE_UNSUCCESSFUL, B(HLSM_S_BOOKED), HLSM_S_UNSUCCESSFUL},
	{HLSM_REMOVAL, HLSM_E_ESCORT_UPDATE_CANCELLED, RM_BUSY, HLSM_S_DISRUPTED},
	{HLSM_REMOVAL, HLSM_E_ESCORT_UPDATE_CANCELLED, B(HLSM_S_CANCELLED) | B(HLSM_S_UNSUCCESSFUL),
	 HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_UPDATE_CANCELLED, RM_BUSY, HLSM_S_DISRUPTED},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_UPDATE_CANCELLED, B(HLSM_S_CANCELLED) | B(HLSM_S_UNSUCCESSFUL),
	 HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_ESCORT_CANCELLATION,
	 B(HLSM_S_QUOTING) | B(HLSM_S_QUOTED) | RM_BUSY | B(HLSM_S_CANCELLED), HLSM_S_CANCELLED},
	{HLSM_REMOVAL, HLSM_E_ESCORT_CANCELLATION, B(HLSM_S_UNSUCCESSFUL), HLSM_SAME},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_CANCELLATION,
	 B(HLSM_S_QUOTING) | B(HLSM_S_QUOTED) | RM_BUSY | B(HLSM_S_CANCELLED), HLSM_S_CANCELLED},
	{HLSM_REMOVAL, HLSM_E_TRAVEL_CANCELLATION, B(HLSM_S_UNSUCCESSFUL), HLSM_SAME},
};

static const unsigned int machine_states[HLSM_N_MACHINES] = {
	[HLSM_REMOVAL] = B(HLSM_S_NEW) | B(HLSM_S_QUOTING) | B(HLSM_S_QUOTED) | B(HLSM_S_BOOKING) |
					 B(HLSM_S_DISRUPTED) | B(HLSM_S_BOOKED) | B(HLSM_S_CANCELLED) |
					 B(HLSM_S_UNSUCCESSFUL) | B(HLSM_S_COMPLETED),
	[HLSM_ESCORT] = B(HLSM_S_NONE) | B(HLSM_S_QUOTE_REQUESTED) | B(HLSM_S_QUOTED) |
					B(HLSM_S_BOOKING_REQUESTED) | B(HLSM_S_DECLINED) | B(HLSM_S_BOOKED) |
					B(HLSM_S_AMENDED) | B(HLSM_S_PROVIDER_CANCELLED) | B(HLSM_S_CANCELLED) |
					B(HLSM_S_UNSUCCESSFUL) | B(HLSM_S_COMPLETED),
	[HLSM_TRAVEL] = B(HLSM_S_NONE) | B(HLSM_S_QUOTE_REQUESTED) | B(HLSM_S_QUOTED) |
					B(HLSM_S_NO_QUOTE) | B(HLSM_S_BOOKING_REQUESTED) | B(HLSM_S_DECLINED) |
					B(HLSM_S_BOOKED) | B(HLSM_S_AMENDED) | B(HLSM_S_PROVIDER_CANCELLED) |
					B(HLSM_S_CANCELLED) | B(HLSM_S_COMPLETED),
};

/* --- names ------------------------------------------------------------------------------ */

const char *
hlsm_machine_name(hlsm_machine m)
{
	return (unsigned) m < HLSM_N_MACHINES ? machine_names[m] : NULL;
}

const char *
hlsm_machine_noun(hlsm_machine m)
{
	return (unsigned) m < HLSM_N_MACHINES ? machine_nouns[m] : NULL;
}

const char *
hlsm_party_name(hlsm_party p)
{
	return (unsigned) p < HLSM_N_PARTIES ? party_names[p] : NULL;
}

const char *
hlsm_direction_name(hlsm_direction d)
{
	return (unsigned) d < HLSM_N_DIRECTIONS ? direction_names[d] : NULL;
}

const char *
hlsm_state_name(hlsm_state s)
{
	return (unsigned) s < HLSM_N_STATES ? states[s].name : NULL;
}

const char *
hlsm_state_description(hlsm_state s)
{
	return (unsigned) s < HLSM_N_STATES ? states[s].description : NULL;
}

const char *
hlsm_verdict_name(hlsm_verdict v)
{
	return (unsigned) v <= HLSM_FORBIDDEN ? verdict_names[v] : NULL;
}

const hlsm_event_info *
hlsm_event_get(hlsm_event e)
{
	return (unsigned) e < HLSM_N_EVENTS ? &events[e] : NULL;
}

static bool
lookup(const char *name, const char *const *names, int n, int *out)
{
	if (name == NULL)
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
		{
			*out = i;
			return true;
		}
	return false;
}

bool
hlsm_machine_parse(const char *name, hlsm_machine *out)
{
	int i;

	if (!lookup(name, machine_names, HLSM_N_MACHINES, &i))
		return false;
	*out = (hlsm_machine) i;
	return true;
}

bool
hlsm_party_parse(const char *name, hlsm_party *out)
{
	int i;

	if (!lookup(name, party_names, HLSM_N_PARTIES, &i))
		return false;
	*out = (hlsm_party) i;
	return true;
}

bool
hlsm_direction_parse(const char *name, hlsm_direction *out)
{
	int i;

	if (!lookup(name, direction_names, HLSM_N_DIRECTIONS, &i))
		return false;
	*out = (hlsm_direction) i;
	return true;
}

bool
hlsm_state_parse(const char *name, hlsm_state *out)
{
	if (name == NULL)
		return false;
	for (int i = 0; i < HLSM_N_STATES; i++)
		if (strcmp(name, states[i].name) == 0)
		{
			*out = (hlsm_state) i;
			return true;
		}
	return false;
}

bool
hlsm_event_parse(const char *name, hlsm_event *out)
{
	int found = -1, matches = 0;

	if (name == NULL)
		return false;
	for (int i = 0; i < HLSM_N_EVENTS; i++)
	{
		if (strcmp(name, events[i].name) == 0)
		{
			*out = (hlsm_event) i;
			return true;
		}
		if (events[i].message_type != NULL && strcmp(name, events[i].message_type) == 0)
		{
			found = i;
			matches++;
		}
	}
	if (matches != 1)
		return false;
	*out = (hlsm_event) found;
	return true;
}

/* --- what the table implies -------------------------------------------------------------- */

const hlsm_rule *
hlsm_rules(size_t *n)
{
	*n = sizeof(rules) / sizeof(rules[0]);
	return rules;
}

hlsm_state
hlsm_initial_state(hlsm_machine m)
{
	return m == HLSM_REMOVAL ? HLSM_S_NEW : HLSM_S_NONE;
}

bool
hlsm_machine_has_state(hlsm_machine m, hlsm_state s)
{
	return (unsigned) m < HLSM_N_MACHINES && (unsigned) s < HLSM_N_STATES &&
		   (machine_states[m] & B(s)) != 0;
}

bool
hlsm_party_tracks(hlsm_party p, hlsm_machine m)
{
	switch (p)
	{
		case HLSM_HUB:
			return (unsigned) m < HLSM_N_MACHINES;
		case HLSM_TSP:
			return m == HLSM_TRAVEL;
		case HLSM_ESP:
			return m == HLSM_ESCORT;
		default:
			return false;
	}
}

bool
hlsm_event_concerns(hlsm_machine m, hlsm_event e)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].machine == m && rules[i].event == e)
			return true;
	return false;
}

bool
hlsm_party_direction(hlsm_party p, hlsm_event e, hlsm_direction *out)
{
	const hlsm_event_info *ev = hlsm_event_get(e);

	if (ev == NULL)
		return false;
	if (ev->message_type == NULL)
	{
		if (p != ev->sender)
			return false;
		*out = HLSM_LOCAL;
		return true;
	}
	if (p == ev->sender)
		*out = HLSM_OUT;
	else if (p == ev->receiver)
		*out = HLSM_IN;
	else
		return false;
	return true;
}

/* The rule for (m, s, e), or NULL. */
static const hlsm_rule *
find_rule(hlsm_machine m, hlsm_state s, hlsm_event e)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].machine == m && rules[i].event == e && (rules[i].from_mask & B(s)) != 0)
			return &rules[i];
	return NULL;
}

static hlsm_state
target(const hlsm_rule *r, hlsm_state from)
{
	return r->to == HLSM_SAME ? from : r->to;
}

bool
hlsm_state_is_terminal(hlsm_machine m, hlsm_state s)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].machine == m && (rules[i].from_mask & B(s)) != 0 && target(&rules[i], s) != s)
			return false;
	return true;
}

/* The states of m from which e is allowed. */
static unsigned int
allowed_from(hlsm_machine m, hlsm_event e)
{
	unsigned int mask = 0;

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].machine == m && rules[i].event == e)
			mask |= rules[i].from_mask;
	return mask;
}

/*
 * The states reachable from s by events that `sender` sends, or that the tracking party
 * decides locally: what messages of that sender still on their way (or retried) could do.
 * Our own outbound messages are applied when they are sent, so they are never "on the way".
 */
static unsigned int
reachable_by_sender(hlsm_machine m, hlsm_state s, hlsm_party sender, hlsm_party self)
{
	unsigned int seen = B(s), frontier = B(s);

	while (frontier != 0)
	{
		unsigned int next = 0;

		for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		{
			const hlsm_rule *r = &rules[i];
			const hlsm_event_info *ev = &events[r->event];
			bool local = ev->message_type == NULL;

			if (r->machine != m || (r->from_mask & frontier) == 0)
				continue;
			if (!(local ? ev->sender == self : ev->sender == sender && ev->receiver == self))
				continue;
			for (int st = 0; st < HLSM_N_STATES; st++)
				if ((r->from_mask & frontier & B(st)) != 0)
					next |= B(target(r, (hlsm_state) st));
		}
		frontier = next & ~seen;
		seen |= next;
	}
	return seen;
}

static void
append_states(char *buf, size_t size, unsigned int mask)
{
	size_t len = strlen(buf);
	bool first = true;

	for (int st = 0; st < HLSM_N_STATES && len < size; st++)
		if ((mask & B(st)) != 0)
		{
			len += (size_t) snprintf(buf + len, size - len, "%s%s", first ? "" : ", ",
									 states[st].name);
			first = false;
		}
	if (first && len < size)
		snprintf(buf + len, size - len, "no state");
}

hlsm_result
hlsm_next(hlsm_machine m, hlsm_state s, hlsm_event e, hlsm_direction d, hlsm_party p)
{
	hlsm_result r;
	const hlsm_event_info *ev = hlsm_event_get(e);
	hlsm_direction expected;
	const hlsm_rule *rule;
	unsigned int from;

	memset(&r, 0, sizeof(r));
	r.verdict = HLSM_FORBIDDEN;
	r.next = s;
	if ((unsigned) m >= HLSM_N_MACHINES || (unsigned) p >= HLSM_N_PARTIES || ev == NULL ||
		(unsigned) d >= HLSM_N_DIRECTIONS || (unsigned) s >= HLSM_N_STATES)
	{
		snprintf(r.reason, sizeof(r.reason), "unknown machine, state, event, direction or party");
		return r;
	}
	if (!hlsm_party_tracks(p, m))
	{
		snprintf(r.reason, sizeof(r.reason), "party %s does not track %s", party_names[p],
				 machine_nouns[m]);
		return r;
	}
	if (!hlsm_machine_has_state(m, s))
	{
		snprintf(r.reason, sizeof(r.reason), "%s has no state \"%s\"", machine_nouns[m],
				 states[s].name);
		return r;
	}
	if (!hlsm_party_direction(p, e, &expected))
	{
		if (ev->message_type == NULL)
			snprintf(r.reason, sizeof(r.reason), "%s is a decision of party %s, not of %s",
					 ev->name, party_names[ev->sender], party_names[p]);
		else
			snprintf(r.reason, sizeof(r.reason),
					 "%s goes from %s to %s: party %s neither sends nor receives it",
					 ev->message_type, party_names[ev->sender], party_names[ev->receiver],
					 party_names[p]);
		return r;
	}
	if (expected != d)
	{
		snprintf(r.reason, sizeof(r.reason), "party %s %s %s, direction \"%s\" is impossible",
				 party_names[p],
				 expected == HLSM_IN    ? "receives"
				 : expected == HLSM_OUT ? "sends"
										: "decides",
				 ev->name, direction_names[d]);
		return r;
	}
	if (!hlsm_event_concerns(m, e))
	{
		snprintf(r.reason, sizeof(r.reason), "%s does not concern %s", ev->name, machine_nouns[m]);
		return r;
	}
	rule = find_rule(m, s, e);
	if (rule != NULL)
	{
		r.verdict = HLSM_ALLOWED;
		r.next = target(rule, s);
		snprintf(r.reason, sizeof(r.reason), "%s takes %s from %s to %s", ev->name,
				 machine_nouns[m], states[s].name, states[r.next].name);
		return r;
	}
	from = allowed_from(m, e);
	if (d == HLSM_IN && (reachable_by_sender(m, s, ev->sender, p) & from) != 0)
	{
		r.verdict = HLSM_PREMATURE;
		snprintf(r.reason, sizeof(r.reason),
				 "%s is not yet possible: %s is %s; an earlier message from %s still to be "
				 "applied may make it possible (it is possible in: ",
				 ev->name, machine_nouns[m], states[s].name, party_names[ev->sender]);
	}
	else
		snprintf(r.reason, sizeof(r.reason),
				 "%s is impossible: %s is %s (it is possible in: ", ev->name, machine_nouns[m],
				 states[s].name);
	append_states(r.reason, sizeof(r.reason), from);
	if (strlen(r.reason) + 1 < sizeof(r.reason))
		strcat(r.reason, ")");
	return r;
}
