-- Rows for the access matrix (test/security/access/run), made by the superuser through the
-- Hub's own functions: per sensitivity level a removal with a returnee (personal details,
-- travel document, risk assessments), a travel quote request (a state transition and an
-- outbox row), and an inbox row naming it; then the removal is marked with its level.
\set ON_ERROR_STOP on
DO $$
DECLARE
    l   record;
    ref text;
BEGIN
    FOR l IN SELECT * FROM hublink.sensitivity_level ORDER BY rank LOOP
        ref := hublink.create_removal(
            'CASE-ACC-' || upper(l.level),
            jsonb_build_array(jsonb_build_object(
                'personalDetails', jsonb_build_object(
                    'hoReturneeReference', 'HO-ACC' || l.rank,
                    'name', jsonb_build_object('givenNames', 'Test', 'familyName', 'Person ' || l.rank),
                    'dateOfBirth', '1990-01-01', 'nationality', 'GBR', 'gender', 'M'),
                'travelDocuments', jsonb_build_array(jsonb_build_object(
                    'type', 'PASSPORT', 'number', 'A0812' || l.rank, 'issuingCountry', 'GBR', 'expiryDate', '2030-08-31')),
                'location', jsonb_build_object('detentionCentreId', 'HARMONDSWORTH_IRC'),
                'risk', jsonb_build_object('flags', '[]'::jsonb))),
            current_date + 10, current_date + 20,
            '{"description": "Lagos, Nigeria", "country": "NGA", "airportCode": "LOS"}');
        PERFORM hublink.request_travel_quotes(ref);
        INSERT INTO hublink.inbox (queue, message, status, received_at)
        VALUES ('travel-quote-response',
                jsonb_build_object('messageId', gen_random_uuid()::text, 'messageType', 'TravelQuoteResponse',
                                   'removalId', ref),
                'rejected', now());
        PERFORM hublink.set_removal_sensitivity(ref, l.level);
    END LOOP;
END $$;
