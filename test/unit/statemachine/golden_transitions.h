/*
 * golden_transitions.h - the allowed transitions of a removal conversation, written by hand
 * from Schedule R Appendix A (messages 4.1-4.14) and Appendix B (4.18, 4.20), independently
 * of the table in extension/statemachine/statemachine.c. unit_tests.c compares the C table
 * and hlsm_next() with this list; a wrong rule in the table fails there. Edit this file only
 * when the requirement (or our reading of it, marked "hublink:") changes, never to follow
 * the table.
 *
 * Each row: machine, the states it may be in (space-separated), the event, the state it
 * goes to ("=" stays where it is), and the requirement's words. A row with n from-states is n
 * transitions. Names are those of docs/state-machine.md.
 */
#ifndef HUBLINK_GOLDEN_TRANSITIONS_H
#define HUBLINK_GOLDEN_TRANSITIONS_H

typedef struct golden_event
{
	const char *event;
	const char *sender;
	const char *receiver; /* == sender for a decision of that party */
	const char *words;
} golden_event;

/* Who sends each message (Appendix A), and the Hub's own decision. */
static const golden_event golden_events[] = {
	{"EscortQuoteRequest", "hub", "esp",
	 "4.1: a request sent from the Home Office case worker to the Escort Service Provider"},
	{"EscortQuoteResponse", "esp", "hub",
	 "4.2: the Escort Service Provider will respond to an escort request"},
	{"TravelQuoteRequest", "hub", "tsp",
	 "4.3: a request sent to the Travel Service Provider about what travel is needed"},
	{"TravelQuoteResponse.quoted", "tsp", "hub",
	 "4.4: the Travel Service Provider's response to a travel request"},
	{"TravelQuoteResponse.no-quote", "tsp", "hub",
	 "4.4: the Travel Service Provider's response to a travel request"},
	{"EscortBookingRequest", "hub", "esp",
	 "4.5: the message from The Home Office to the Escort Service Provider requesting to book"},
	{"EscortBookingResponse.accepted", "esp", "hub",
	 "4.6: message from the Escort Service Provider to confirm a booking"},
	{"EscortBookingResponse.declined", "esp", "hub",
	 "4.6: ... or when it can't be confirmed then why"},
	{"TravelBookingRequest", "hub", "tsp",
	 "4.7: message from The Home Office to the Travel Service Provider to book"},
	{"TravelBookingResponse.accepted", "tsp", "hub",
	 "4.8: message from the Travel Service Provider to confirm a booking"},
	{"TravelBookingResponse.declined", "tsp", "hub",
	 "4.8: ... or when it can't be confirmed then why"},
	{"EscortAmendment", "hub", "esp",
	 "4.9: message from The Home Office to the Escort Service Provider"},
	{"EscortUpdate.completed", "esp", "hub", "4.10: a flexible message from the ESP"},
	{"EscortUpdate.cancelled", "esp", "hub", "4.10: a flexible message from the ESP"},
	{"EscortUpdate.unsuccessful", "esp", "hub", "4.10: a flexible message from the ESP"},
	{"EscortUpdate.amendment-outcome", "esp", "hub", "4.10: a flexible message from the ESP"},
	{"EscortUpdate.delayed", "esp", "hub", "4.10: a flexible message from the ESP"},
	{"EscortUpdate.escort-change", "esp", "hub", "4.10: a flexible message from the ESP"},
	{"EscortUpdate.details", "esp", "hub", "4.10: a flexible message from the ESP"},
	{"EscortUpdate.financial", "esp", "hub", "4.10: a flexible message from the ESP"},
	{"TravelAmendment", "hub", "tsp",
	 "4.11: message from The Home Office to the Travel Service Provider"},
	{"TravelUpdate.completed", "tsp", "hub",
	 "4.12: message from the Travel Service Provider to inform the Home Office"},
	{"TravelUpdate.cancelled", "tsp", "hub",
	 "4.12: message from the Travel Service Provider to inform the Home Office"},
	{"TravelUpdate.amendment-outcome", "tsp", "hub",
	 "4.12: message from the Travel Service Provider to inform the Home Office"},
	{"TravelUpdate.flight-change", "tsp", "hub",
	 "4.12: message from the Travel Service Provider to inform the Home Office"},
	{"TravelUpdate.financial", "tsp", "hub",
	 "4.12: message from the Travel Service Provider to inform the Home Office"},
	{"TravelUpdate.other", "tsp", "hub",
	 "4.12: message from the Travel Service Provider to inform the Home Office"},
	{"TravelCancellation", "hub", "tsp",
	 "4.13: the Home Office notifying the Travel Service Provider a flight is to be cancelled"},
	{"EscortCancellation", "hub", "esp",
	 "4.14: the Home Office notifying the Escort Service Provider an escort booking is to be "
	 "cancelled"},
	{"BookingsConfirmed", "hub", "hub",
	 "B 4.18: the Home office will make a judgement call as to which of the option to proceed "
	 "with (hublink: the Hub's decision that every booking it needs is confirmed)"},
};

typedef struct golden_transition
{
	const char *machine;
	const char *from; /* space-separated states */
	const char *event;
	const char *to; /* "=": stays */
	const char *words;
} golden_transition;

static const golden_transition golden_transitions[] = {
	/* ---- the escort booking: the Hub and the ESP ---- */
	{"escort", "none", "EscortQuoteRequest", "quote_requested",
	 "4.1: triggered this request to start the process of removing someone from the UK"},
	{"escort", "quote_requested quoted declined provider_cancelled", "EscortQuoteRequest",
	 "quote_requested",
	 "4.5: their risk profile requiring a re-quote from either or both providers. In these cases "
	 "the workflow returns to message 1 (hublink: also after a decline or a provider's "
	 "cancellation)"},
	{"escort", "quote_requested quoted", "EscortQuoteResponse", "quoted",
	 "4.2: the Escort Service Provider will respond to an escort request ... multiple options "
	 "(hublink: a later response to a re-quote replaces the quotes)"},
	{"escort", "cancelled", "EscortQuoteResponse", "=",
	 "4.14: simple cancellation (hublink: a response that crossed the cancellation changes "
	 "nothing)"},
	{"escort", "quoted declined", "EscortBookingRequest", "booking_requested",
	 "4.5: requesting to book against one of their previously provided quotes (hublink: "
	 "another quote may be booked after a decline)"},
	{"escort", "booking_requested", "EscortBookingResponse.accepted", "booked",
	 "4.6: to confirm a booking and provide the names of the escorts"},
	{"escort", "cancelled", "EscortBookingResponse.accepted", "=",
	 "4.14: simple cancellation (hublink: a confirmation that crossed it changes nothing)"},
	{"escort", "booking_requested", "EscortBookingResponse.declined", "declined",
	 "4.6: or when it can't be confirmed then why"},
	{"escort", "cancelled", "EscortBookingResponse.declined", "=",
	 "4.14: simple cancellation (hublink: a decline that crossed it changes nothing)"},
	{"escort", "booked amended", "EscortAmendment", "amended",
	 "4.9: to inform them of a request to change a confirmed booking"},
	{"escort", "booked amended", "EscortUpdate.amendment-outcome", "booked",
	 "4.10: to advise The Home Office of the consequence of any amendment requests"},
	{"escort", "booked amended", "EscortUpdate.delayed", "=",
	 "4.10: if not then the current status of the situation"},
	{"escort", "booked amended", "EscortUpdate.escort-change", "=",
	 "4.10: any changes to (or new) information about the escorts"},
	{"escort", "booked amended", "EscortUpdate.details", "=",
	 "4.10: some of the escort details ... like passport number, this message can be used to "
	 "provide this later data"},
	{"escort", "booked amended cancelled provider_cancelled completed unsuccessful",
	 "EscortUpdate.financial", "=",
	 "4.14: sending this could trigger an Escort Update response with the financial "
	 "consequences (also after the escorting ended)"},
	{"escort", "booked amended", "EscortUpdate.completed", "completed",
	 "4.10: indicates either the escorting was completed"},
	{"escort", "booked amended", "EscortUpdate.cancelled", "provider_cancelled",
	 "4.10: if something has changed in the Escort Service Provider domain (the ESP aborts)"},
	{"escort", "cancelled", "EscortUpdate.cancelled", "=",
	 "4.14: simple cancellation (hublink: the ESP's abort that crossed it changes nothing)"},
	{"escort", "booked amended", "EscortUpdate.unsuccessful", "unsuccessful",
	 "4.10: the change could be ... while the Escorts are moving the returnee"},
	{"escort",
	 "quote_requested quoted booking_requested declined booked amended provider_cancelled",
	 "EscortCancellation", "cancelled",
	 "4.14: an escort booking is to be cancelled (B 4.20: amendment or cancellation request)"},

	/* ---- the travel booking: the Hub and the TSP ---- */
	{"travel", "none", "TravelQuoteRequest", "quote_requested",
	 "4.3: for unescorted flights the workflow starts here"},
	{"travel", "quote_requested quoted no_quote declined provider_cancelled", "TravelQuoteRequest",
	 "quote_requested",
	 "4.5: requiring a re-quote from either or both providers ... the workflow returns"},
	{"travel", "quote_requested quoted no_quote", "TravelQuoteResponse.quoted", "quoted",
	 "4.4: giving a number of possible options for each of the Escort Service Provider's dates"},
	{"travel", "cancelled", "TravelQuoteResponse.quoted", "=",
	 "4.13: simple cancellation (hublink: a response that crossed it changes nothing)"},
	{"travel", "quote_requested quoted no_quote", "TravelQuoteResponse.no-quote", "no_quote",
	 "4.4: the Travel Service Provider's response to a travel request (none possible)"},
	{"travel", "cancelled", "TravelQuoteResponse.no-quote", "=",
	 "4.13: simple cancellation (hublink: a response that crossed it changes nothing)"},
	{"travel", "quoted declined", "TravelBookingRequest", "booking_requested",
	 "4.7: to book one of their previously issued quotes"},
	{"travel", "booking_requested", "TravelBookingResponse.accepted", "booked",
	 "4.8: to confirm a booking ... the Home Office is expecting back the travel documents"},
	{"travel", "cancelled", "TravelBookingResponse.accepted", "=",
	 "4.13: simple cancellation (hublink: a confirmation that crossed it changes nothing)"},
	{"travel", "booking_requested", "TravelBookingResponse.declined", "declined",
	 "4.8: or when it can't be confirmed then why"},
	{"travel", "cancelled", "TravelBookingResponse.declined", "=",
	 "4.13: simple cancellation (hublink: a decline that crossed it changes nothing)"},
	{"travel", "booked amended", "TravelAmendment", "amended",
	 "4.11: to inform them of a request to change a confirmed booking"},
	{"travel", "booked amended", "TravelUpdate.amendment-outcome", "booked",
	 "4.11: the majority of Travel amendments will trigger a Travel update message response"},
	{"travel", "booked amended", "TravelUpdate.flight-change", "=",
	 "4.12: if something has changed in the Travel Service Provider domain"},
	{"travel", "booked amended cancelled provider_cancelled completed", "TravelUpdate.financial",
	 "=",
	 "4.13: sending this is likely to trigger a Travel Update response with the financial "
	 "consequences"},
	{"travel", "booked amended cancelled provider_cancelled completed", "TravelUpdate.other", "=",
	 "4.12: there will always be a need to fall back to a free text field in emergencies"},
	{"travel", "booked amended", "TravelUpdate.completed", "completed",
	 "4.12: the successful path flow where the flight has departed"},
	{"travel", "booked amended", "TravelUpdate.cancelled", "provider_cancelled",
	 "4.12: something that has happened from their side (flights cancelled)"},
	{"travel", "cancelled", "TravelUpdate.cancelled", "=",
	 "4.13: simple cancellation (hublink: the TSP's cancellation that crossed it changes "
	 "nothing)"},
	{"travel",
	 "quote_requested quoted no_quote booking_requested declined booked amended provider_cancelled",
	 "TravelCancellation", "cancelled",
	 "4.13: a flight is to be cancelled (B 4.20: amendment or cancellation request)"},

	/* ---- the removal: the Hub's own view ---- */
	{"removal", "new quoting quoted disrupted", "EscortQuoteRequest", "quoting",
	 "4.1: for an escorted removal ... the Escort Service Provider ... contacted first; 4.5: "
	 "re-quote"},
	{"removal", "new quoting quoted disrupted", "TravelQuoteRequest", "quoting",
	 "4.3: for unescorted flights the workflow starts here; 4.5: re-quote"},
	{"removal", "quoting quoted cancelled", "EscortQuoteResponse", "=",
	 "4.2: escort options; the removal is quoted once travel quotes are in (4.4)"},
	{"removal", "quoting quoted", "TravelQuoteResponse.quoted", "quoted",
	 "4.4: travel quotes ... for the Home Office to choose from"},
	{"removal", "cancelled", "TravelQuoteResponse.quoted", "=",
	 "4.13: simple cancellation (hublink: a response that crossed it changes nothing)"},
	{"removal", "quoting quoted cancelled", "TravelQuoteResponse.no-quote", "=",
	 "4.4: the TSP's response (hublink: no quote leaves the removal where it is)"},
	{"removal", "quoted booking disrupted", "EscortBookingRequest", "booking",
	 "4.5: the Home office will choose their preferred quote and then give the Authority to book"},
	{"removal", "quoted booking disrupted", "TravelBookingRequest", "booking",
	 "4.7: the Travel booking request may be sent at the same time as the Escort booking request"},
	{"removal", "booking disrupted cancelled", "EscortBookingResponse.accepted", "=",
	 "4.6: to confirm a booking (hublink: the removal is booked when all are, BookingsConfirmed)"},
	{"removal", "booking disrupted cancelled", "TravelBookingResponse.accepted", "=",
	 "4.8: to confirm a booking (hublink: the removal is booked when all are, BookingsConfirmed)"},
	{"removal", "booking disrupted", "EscortBookingResponse.declined", "disrupted",
	 "4.6: when it can't be confirmed then why"},
	{"removal", "cancelled", "EscortBookingResponse.declined", "=",
	 "4.14: simple cancellation (hublink: a decline that crossed it changes nothing)"},
	{"removal", "booking disrupted", "TravelBookingResponse.declined", "disrupted",
	 "4.8: when it can't be confirmed then why"},
	{"removal", "cancelled", "TravelBookingResponse.declined", "=",
	 "4.13: simple cancellation (hublink: a decline that crossed it changes nothing)"},
	{"removal", "booking", "BookingsConfirmed", "booked",
	 "B 4.18: the Home Office will inform the travel Service Provider to make a confirmed "
	 "booking (hublink: every booking needed is confirmed)"},
	{"removal", "booking booked disrupted", "EscortAmendment", "=",
	 "4.9: many things that can change between the booking being confirmed and the "
	 "commencement of the removal"},
	{"removal", "booking booked disrupted", "TravelAmendment", "=",
	 "4.11: The Home Office will want to modify a travel booking"},
	{"removal", "booking booked disrupted", "EscortUpdate.amendment-outcome", "=",
	 "4.10: the consequence of any amendment requests"},
	{"removal", "booking booked disrupted", "EscortUpdate.delayed", "=",
	 "4.10: the current status of the situation"},
	{"removal", "booking booked disrupted", "EscortUpdate.escort-change", "=",
	 "4.10: any changes to (or new) information about the escorts"},
	{"removal", "booking booked disrupted", "EscortUpdate.details", "=",
	 "4.10: this message can be used to provide this later data"},
	{"removal", "booking booked disrupted cancelled unsuccessful completed",
	 "EscortUpdate.financial", "=",
	 "4.14: an Escort Update response with the financial consequences"},
	{"removal", "booking booked disrupted", "TravelUpdate.amendment-outcome", "=",
	 "4.12: to respond to a post booking request from The Home Office"},
	{"removal", "booking booked disrupted", "TravelUpdate.flight-change", "=",
	 "4.12: something that has happened from their side"},
	{"removal", "booking booked disrupted cancelled unsuccessful completed",
	 "TravelUpdate.financial", "=",
	 "4.13: a Travel Update response with the financial consequences"},
	{"removal", "booking booked disrupted cancelled unsuccessful completed", "TravelUpdate.other",
	 "=", "4.12: a need to fall back to a free text field in emergencies"},
	{"removal", "booked completed", "EscortUpdate.completed", "completed",
	 "4.10: indicates either the escorting was completed"},
	{"removal", "booked completed", "TravelUpdate.completed", "completed",
	 "4.12: the successful path flow where the flight has departed"},
	{"removal", "booked", "EscortUpdate.unsuccessful", "unsuccessful",
	 "4.10: the change could be ... while the Escorts are moving the returnee"},
	{"removal", "booking booked disrupted", "EscortUpdate.cancelled", "disrupted",
	 "4.10: if something has changed in the Escort Service Provider domain"},
	{"removal", "cancelled unsuccessful", "EscortUpdate.cancelled", "=",
	 "4.14: simple cancellation (hublink: an abort that crossed it changes nothing)"},
	{"removal", "booking booked disrupted", "TravelUpdate.cancelled", "disrupted",
	 "4.12: something that has happened from their side"},
	{"removal", "cancelled unsuccessful", "TravelUpdate.cancelled", "=",
	 "4.13: simple cancellation (hublink: a cancellation that crossed it changes nothing)"},
	{"removal", "quoting quoted booking booked disrupted cancelled", "EscortCancellation",
	 "cancelled", "4.14: an escort booking is to be cancelled; B 4.20: cancellation request"},
	{"removal", "unsuccessful", "EscortCancellation", "=",
	 "4.14: simple cancellation (hublink: the removal stays unsuccessful)"},
	{"removal", "quoting quoted booking booked disrupted cancelled", "TravelCancellation",
	 "cancelled", "4.13: a flight is to be cancelled; B 4.20: cancellation request"},
	{"removal", "unsuccessful", "TravelCancellation", "=",
	 "4.13: simple cancellation (hublink: the removal stays unsuccessful)"},
};

/*
 * Refusals told apart by hand: "premature" when an earlier message of the same sender, still
 * to be applied (each message type has its own queue), may make it possible; "forbidden"
 * otherwise (statemachine.h).
 */
typedef struct golden_refusal
{
	const char *party;
	const char *machine;
	const char *state;
	const char *event;
	const char *verdict; /* "premature" or "forbidden" */
	const char *why;
} golden_refusal;

static const golden_refusal golden_refusals[] = {
	{"hub", "removal", "booking", "EscortUpdate.completed", "premature",
	 "the ESP's booking confirmation may still be on its queue"},
	{"hub", "travel", "booking_requested", "TravelUpdate.completed", "premature",
	 "the TSP's booking response may still be on its queue"},
	{"hub", "escort", "booking_requested", "EscortUpdate.delayed", "premature",
	 "the ESP's booking response may still be on its queue"},
	{"esp", "escort", "none", "EscortCancellation", "premature",
	 "the Hub's quote request may still be on its queue"},
	{"hub", "removal", "new", "BookingsConfirmed", "forbidden",
	 "nothing was asked to be booked: a decision of the Hub itself, never premature"},
	{"esp", "escort", "none", "EscortBookingRequest", "forbidden",
	 "the ESP never quoted: no message of the Hub can make a booking possible"},
	{"hub", "escort", "quote_requested", "EscortBookingResponse.accepted", "forbidden",
	 "the Hub never asked to book: only its own request could"},
	{"hub", "removal", "quoting", "TravelBookingResponse.accepted", "forbidden",
	 "the Hub never asked the TSP to book"},
	{"tsp", "travel", "cancelled", "TravelAmendment", "forbidden",
	 "an amendment after cancellation: nothing leads out of cancelled"},
	{"hub", "escort", "completed", "EscortUpdate.delayed", "forbidden", "the escorting is over"},
};

#endif /* HUBLINK_GOLDEN_TRANSITIONS_H */
