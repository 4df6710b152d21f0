-- Reference data: the parties and the message types of Appendix A, with their queues.
-- The worker, the schema registry and the docs read these rows; nothing in C lists them.

CREATE TABLE hublink.party (
    party       text PRIMARY KEY CHECK (party ~ '^[a-z]{2,10}$'),
    sender_code text NOT NULL UNIQUE CHECK (sender_code ~ '^[A-Z]{2,10}$'),
    name        text NOT NULL,
    exchange    text NOT NULL UNIQUE CHECK (exchange ~ '^[a-z][a-z0-9.-]*$')
);
COMMENT ON TABLE hublink.party IS
    'The parties of the Escort & Travel interface; hublink.party (the setting) names one of them.';
COMMENT ON COLUMN hublink.party.party IS 'The value of the hublink.party setting: hub, tsp or esp.';
COMMENT ON COLUMN hublink.party.sender_code IS 'The envelope''s "sender" for messages this party sends.';
COMMENT ON COLUMN hublink.party.name IS 'Readable name.';
COMMENT ON COLUMN hublink.party.exchange IS
    'The broker exchange this party publishes through (direct, routing key = queue name): bound '
    'to the queues it sends on and to the error queues of the queues it consumes, and the only '
    'exchange its broker users may write (hublink.broker_definitions, docs/worker.md).';

INSERT INTO hublink.party VALUES
    ('hub', 'HUB', 'Home Office Hub', 'hublink.hub'),
    ('tsp', 'TSP', 'Travel Service Provider', 'hublink.tsp'),
    ('esp', 'ESP', 'Escort Service Provider', 'hublink.esp');

CREATE TABLE hublink.message_type (
    message_type     text PRIMARY KEY CHECK (message_type ~ '^[A-Z][A-Za-z]+$'),
    schema_name      text NOT NULL UNIQUE CHECK (schema_name ~ '^[a-z][a-z-]+$'),
    queue            text UNIQUE CHECK (queue ~ '^[a-z][a-z-]+$'),
    sender_party     text REFERENCES hublink.party,
    receiver_party   text REFERENCES hublink.party,
    appendix_section text,
    CHECK ((queue IS NULL) = (sender_party IS NULL) AND (queue IS NULL) = (receiver_party IS NULL))
);
COMMENT ON TABLE hublink.message_type IS
    'Every message type: its schema file, its queue on the Hub broker (each queue Q has an error '
    'queue Q-error), who sends and who consumes it, and its section of Schedule R (Appendix A, '
    'or B 4.17 for the reference-list updates of 45_reference_lists.sql).';
COMMENT ON COLUMN hublink.message_type.message_type IS 'The envelope''s "messageType".';
COMMENT ON COLUMN hublink.message_type.schema_name IS 'Name of the JSON Schema file in schemas/.';
COMMENT ON COLUMN hublink.message_type.queue IS
    'Durable queue carrying this type; NULL for the error message, which goes to <queue>-error.';
COMMENT ON COLUMN hublink.message_type.sender_party IS 'The party that publishes this type.';
COMMENT ON COLUMN hublink.message_type.receiver_party IS 'The party that consumes this type.';
COMMENT ON COLUMN hublink.message_type.appendix_section IS
    'Section of Schedule R: 4.1 to 4.14 for the messages of Appendix A, B 4.17 for the '
    'reference-list updates added for Appendix B, D for the error message.';

INSERT INTO hublink.message_type VALUES
    ('EscortQuoteRequest',    'escort-quote-request',    'escort-quote-request',    'hub', 'esp', '4.1'),
    ('EscortQuoteResponse',   'escort-quote-response',   'escort-quote-response',   'esp', 'hub', '4.2'),
    ('TravelQuoteRequest',    'travel-quote-request',    'travel-quote-request',    'hub', 'tsp', '4.3'),
    ('TravelQuoteResponse',   'travel-quote-response',   'travel-quote-response',   'tsp', 'hub', '4.4'),
    ('EscortBookingRequest',  'escort-booking-request',  'escort-booking-request',  'hub', 'esp', '4.5'),
    ('EscortBookingResponse', 'escort-booking-response', 'escort-booking-response', 'esp', 'hub', '4.6'),
    ('TravelBookingRequest',  'travel-booking-request',  'travel-booking-request',  'hub', 'tsp', '4.7'),
    ('TravelBookingResponse', 'travel-booking-response', 'travel-booking-response', 'tsp', 'hub', '4.8'),
    ('EscortAmendment',       'escort-amendment',        'escort-amendment',        'hub', 'esp', '4.9'),
    ('EscortUpdate',          'escort-update',           'escort-update',           'esp', 'hub', '4.10'),
    ('TravelAmendment',       'travel-amendment',        'travel-amendment',        'hub', 'tsp', '4.11'),
    ('TravelUpdate',          'travel-update',           'travel-update',           'tsp', 'hub', '4.12'),
    ('TravelCancellation',    'travel-cancellation',     'travel-cancellation',     'hub', 'tsp', '4.13'),
    ('EscortCancellation',    'escort-cancellation',     'escort-cancellation',     'hub', 'esp', '4.14'),
    ('Error',                 'error',                   NULL,                      NULL,  NULL,  'D');
