-- Escort provider (esp), issue 5 section 4: the escorts, their availability roster, and the
-- escort rules (risk flags, conditions and nationalities to number and type of escorts).
-- Personal data of escorts lives in hublink.esp_escort_personal and esp_escort.gender, both
-- sealed under the escort's own data key (76_crypto_seal_esp.sql).

CREATE TABLE hublink.esp_escort (
    escort_id   text PRIMARY KEY CHECK (escort_id ~ '^[A-Z0-9][A-Z0-9_-]{1,19}$'),
    medic       boolean NOT NULL DEFAULT false,
    team_leader boolean NOT NULL DEFAULT false,
    gender      char(1) NOT NULL CHECK (gender ~ '^[MFX]$'),
    physique    text NOT NULL DEFAULT 'STANDARD' REFERENCES hublink.esp_physique,
    languages   text[] NOT NULL DEFAULT '{en}',
    active      boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE hublink.esp_escort IS 'The escort provider''s staff who escort: officers and medics, with what they can do.';
COMMENT ON COLUMN hublink.esp_escort.escort_id IS 'The provider''s ID of the person (escortId in messages), e.g. ESC-40117.';
COMMENT ON COLUMN hublink.esp_escort.medic IS 'A medic fills medic positions only; an officer only officer positions.';
COMMENT ON COLUMN hublink.esp_escort.team_leader IS 'Qualified to lead a team (position 1).';
COMMENT ON COLUMN hublink.esp_escort.gender IS
    'PERSONAL DATA: sex (M, F, X) for positions that need a given sex. Sealed; the matching reads '
    'it through hublink.esp_escort_sexes only when a position asks for a sex.';
COMMENT ON COLUMN hublink.esp_escort.physique IS 'Physique category (esp_physique).';
COMMENT ON COLUMN hublink.esp_escort.languages IS 'Languages spoken, ISO 639 codes.';
COMMENT ON COLUMN hublink.esp_escort.active IS 'False for staff no longer escorting (kept for the history of bookings).';

CREATE TABLE hublink.esp_escort_personal (
    escort_id                text PRIMARY KEY REFERENCES hublink.esp_escort ON DELETE CASCADE,
    title                    text,
    given_names              text NOT NULL,
    family_name              text NOT NULL,
    date_of_birth            date,
    nationality              char(3),
    document_type            text,
    document_number          text,
    document_issuing_country char(3),
    document_expiry_date     date,
    CHECK ((document_number IS NULL) = (document_type IS NULL)
           AND (document_number IS NULL) = (document_issuing_country IS NULL))
);
COMMENT ON TABLE hublink.esp_escort_personal IS
    'PERSONAL DATA: an escort''s name as on the passport and advance passenger information, '
    'sent to the Home Office in escortDetails when the escort is booked.';
COMMENT ON COLUMN hublink.esp_escort_personal.escort_id IS 'The escort.';
COMMENT ON COLUMN hublink.esp_escort_personal.title IS 'PERSONAL DATA: title, e.g. Mr, Ms.';
COMMENT ON COLUMN hublink.esp_escort_personal.given_names IS 'PERSONAL DATA: given names as on the passport.';
COMMENT ON COLUMN hublink.esp_escort_personal.family_name IS 'PERSONAL DATA: family name as on the passport.';
COMMENT ON COLUMN hublink.esp_escort_personal.date_of_birth IS 'PERSONAL DATA: date of birth.';
COMMENT ON COLUMN hublink.esp_escort_personal.nationality IS 'PERSONAL DATA: nationality, alpha-3.';
COMMENT ON COLUMN hublink.esp_escort_personal.document_type IS 'PERSONAL DATA: travel document type (PASSPORT ...).';
COMMENT ON COLUMN hublink.esp_escort_personal.document_number IS 'PERSONAL DATA: passport (document) number.';
COMMENT ON COLUMN hublink.esp_escort_personal.document_issuing_country IS 'PERSONAL DATA: issuing state, alpha-3.';
COMMENT ON COLUMN hublink.esp_escort_personal.document_expiry_date IS 'PERSONAL DATA: document expiry date.';

CREATE TABLE hublink.esp_roster (
    escort_id text NOT NULL REFERENCES hublink.esp_escort ON DELETE CASCADE,
    duty_date date NOT NULL,
    PRIMARY KEY (escort_id, duty_date)
);
COMMENT ON TABLE hublink.esp_roster IS
    'The availability roster: one row per escort and day the escort can be booked. Bookings lock '
    'the rows of their days (hublink.esp_lock_days), so concurrent bookings of a day queue.';
COMMENT ON COLUMN hublink.esp_roster.escort_id IS 'The escort.';
COMMENT ON COLUMN hublink.esp_roster.duty_date IS 'A day (date_time_zone) the escort is available.';
CREATE INDEX esp_roster_day ON hublink.esp_roster (duty_date, escort_id);

CREATE TABLE hublink.esp_risk_rule (
    flag        text PRIMARY KEY REFERENCES hublink.risk_flag ON UPDATE CASCADE,
    escorts     integer NOT NULL CHECK (escorts BETWEEN 0 AND 9),
    physique    text REFERENCES hublink.esp_physique,
    medic       boolean NOT NULL DEFAULT false,
    same_gender boolean NOT NULL DEFAULT false,
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_risk_rule IS
    'What a risk flag of a returnee asks of the escorting: a returnee gets the most escorts any of '
    'its flags asks (at least escorts_per_returnee), the strongest physique, a medic on the team '
    'if any flag says so, and escorts all of its sex if any flag says so.';
COMMENT ON COLUMN hublink.esp_risk_rule.flag IS 'The risk flag (hublink.risk_flag).';
COMMENT ON COLUMN hublink.esp_risk_rule.escorts IS 'Escort officers this returnee needs.';
COMMENT ON COLUMN hublink.esp_risk_rule.physique IS 'Physique of those escorts, or NULL for STANDARD.';
COMMENT ON COLUMN hublink.esp_risk_rule.medic IS 'A medic must join the team.';
COMMENT ON COLUMN hublink.esp_risk_rule.same_gender IS 'All of this returnee''s escorts must be of its sex.';
COMMENT ON COLUMN hublink.esp_risk_rule.description IS 'Why.';
INSERT INTO hublink.esp_risk_rule VALUES
    ('VIOLENT', 2, 'ENHANCED', false, false, 'Two enhanced escorts.'),
    ('DISRUPTIVE', 2, 'ENHANCED', false, false, 'Two enhanced escorts.'),
    ('SEXUAL_OFFENDER', 2, NULL, false, true, 'Two escorts, all of the returnee''s sex.'),
    ('SELF_HARM', 1, NULL, true, false, 'A medic on the team.'),
    ('ABSCONDER', 2, NULL, false, false, 'Two escorts.'),
    ('MEDICAL_ESCORT', 1, NULL, true, false, 'A medic on the team.');

CREATE TABLE hublink.esp_condition_rule (
    condition_code text PRIMARY KEY CHECK (condition_code ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    escorts        integer NOT NULL DEFAULT 0 CHECK (escorts BETWEEN 0 AND 9),
    medic          boolean NOT NULL DEFAULT false,
    description    text NOT NULL
);
COMMENT ON TABLE hublink.esp_condition_rule IS 'What a medical or noted condition of a returnee (personalDetails.conditions) asks of the escorting.';
COMMENT ON COLUMN hublink.esp_condition_rule.condition_code IS 'The condition code, e.g. WHEELCHAIR.';
COMMENT ON COLUMN hublink.esp_condition_rule.escorts IS 'Escort officers this returnee needs at least.';
COMMENT ON COLUMN hublink.esp_condition_rule.medic IS 'A medic must join the team.';
COMMENT ON COLUMN hublink.esp_condition_rule.description IS 'Why.';
INSERT INTO hublink.esp_condition_rule VALUES
    ('WHEELCHAIR', 0, true, 'A medic for transfers and airport assistance.'),
    ('BLIND', 2, false, 'Two escorts to guide.'),
    ('PREGNANT', 0, true, 'A medic on the team.');

CREATE TABLE hublink.esp_language_rule (
    nationality char(3) PRIMARY KEY CHECK (nationality ~ '^[A-Z]{3}$'),
    language    text NOT NULL CHECK (language ~ '^[a-z]{2,3}$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_language_rule IS
    'Returnees of a nationality need one escort (their first) who speaks this language besides the working language.';
COMMENT ON COLUMN hublink.esp_language_rule.nationality IS 'Returnee nationality, alpha-3.';
COMMENT ON COLUMN hublink.esp_language_rule.language IS 'Language the returnee''s first escort must speak, ISO 639.';
COMMENT ON COLUMN hublink.esp_language_rule.description IS 'Why.';
INSERT INTO hublink.esp_language_rule VALUES
    ('ALB', 'sq', 'Albanian speaker.'),
    ('PAK', 'ur', 'Urdu speaker.');
