-- One Hub removal to Lagos of one returnee, created through hublink.create_removal, for the
-- tests that need a plain removal to quote, book or cancel (47_best_value.sql, and
-- booking_advice_fixtures.sql for 47_booking_advice*.sql): the case reference, the returnee's
-- reference, given and family names and the passport number's first letter vary by test.
CREATE FUNCTION hublink_test.lagos_removal(case_ref text, ho text, given text, family text, passport_letter text)
    RETURNS text LANGUAGE sql AS $$
    SELECT hublink.create_removal(case_ref, jsonb_build_array(jsonb_build_object(
        'personalDetails', jsonb_build_object('hoReturneeReference', ho,
            'name', jsonb_build_object('givenNames', given, 'familyName', family),
            'dateOfBirth', '1980-01-01', 'nationality', 'NGA', 'gender', 'M'),
        'travelDocuments', jsonb_build_array(jsonb_build_object('type', 'PASSPORT', 'number', passport_letter || right(ho, 7), 'issuingCountry', 'NGA')),
        'location', jsonb_build_object('detentionCentreId', 'HARMONDSWORTH_IRC'),
        'risk', jsonb_build_object('flags', '[]'::jsonb))),
        current_date + 10, current_date + 13, jsonb_build_object('description', 'Lagos', 'country', 'NGA', 'airportCode', 'LOS')) $$;
