/*
 * fuzz_statemachine.c - libFuzzer target for the removal state machine: the input is read
 * as names to parse and as a conversation (a sequence of events applied by every party).
 * Invariants: nothing crashes, an allowed transition lands in a state of its machine, a
 * refusal has a reason and changes nothing, premature only ever for inbound events.
 * Built and run by `make -f test/unit/statemachine/statemachine.mk statemachine-fuzz`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statemachine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[64];
	size_t n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	hlsm_state states[HLSM_N_PARTIES][HLSM_N_MACHINES];
	hlsm_event e;
	hlsm_state s;
	hlsm_machine m;

	memcpy(name, data, n);
	name[n] = '\0';
	if (hlsm_event_parse(name, &e) && hlsm_event_get(e) == NULL)
		abort();
	if (hlsm_state_parse(name, &s) && hlsm_state_name(s) == NULL)
		abort();
	if (hlsm_machine_parse(name, &m) && hlsm_machine_name(m) == NULL)
		abort();

	for (int p = 0; p < HLSM_N_PARTIES; p++)
		for (int k = 0; k < HLSM_N_MACHINES; k++)
			states[p][k] = hlsm_initial_state(k);
	for (size_t i = 0; i < size; i++)
	{
		hlsm_event ev = (hlsm_event) (data[i] % HLSM_N_EVENTS);

		for (int p = 0; p < HLSM_N_PARTIES; p++)
		{
			hlsm_direction d;

			if (!hlsm_party_direction(p, ev, &d))
				continue;
			for (int k = 0; k < HLSM_N_MACHINES; k++)
			{
				hlsm_result r;

				if (!hlsm_party_tracks(p, k) || !hlsm_event_concerns(k, ev))
					continue;
				r = hlsm_next(k, states[p][k], ev, d, p);
				if (r.reason[0] == '\0' || hlsm_verdict_name(r.verdict) == NULL)
					abort();
				if (r.verdict == HLSM_PREMATURE && d != HLSM_IN)
					abort();
				if (r.verdict == HLSM_ALLOWED)
				{
					if (!hlsm_machine_has_state(k, r.next))
						abort();
					states[p][k] = r.next;
				}
				else if (r.next != states[p][k])
					abort();
			}
		}
	}
	return 0;
}
