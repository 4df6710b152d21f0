-- Exports of the MI views (Schedule R SEC 019 c: CSV, HTML, XML; PDF by printing the HTML
-- report from a browser) and the printable HTML report with its SVG charts drawn here, in
-- SQL (issue 7, section 2; docs/mi.md). These functions run as their caller: a reporting role
-- that may SELECT the hublink.mi_* views can use them without any other privilege.

CREATE TABLE hublink.export_format (
    format      text PRIMARY KEY CHECK (format ~ '^[a-z]+$'),
    media_type  text NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE hublink.export_format IS 'The formats hublink.export_mi writes.';
COMMENT ON COLUMN hublink.export_format.format IS 'The format argument of hublink.export_mi.';
COMMENT ON COLUMN hublink.export_format.media_type IS 'Its media type (for a web server or a file name).';
COMMENT ON COLUMN hublink.export_format.description IS 'What is written.';
INSERT INTO hublink.export_format VALUES
    ('csv', 'text/csv', 'RFC 4180: a header line with the column names, then one line per row, CRLF line ends; '
                        'fields with a comma, quote, CR or LF, leading or trailing spaces, and empty strings '
                        'are quoted with quotes doubled; NULL is an empty unquoted field.'),
    ('xml', 'application/xml', 'query_to_xml: <table> with one <row> per row and one element per column '
                               '(XML Schema value formats, NULL as xsi:nil).'),
    ('html', 'text/html', 'A standalone HTML5 document with one table, every value escaped.');

-- The reporting role reads only hublink.mi_* views (never a table), so what the exports and
-- the report need to know of the rules is given by views too.
CREATE VIEW hublink.mi_export_formats AS
SELECT f.format, f.media_type, f.description FROM hublink.export_format f;
COMMENT ON VIEW hublink.mi_export_formats IS 'The formats hublink.export_mi writes (rows of hublink.export_format).';
COMMENT ON COLUMN hublink.mi_export_formats.format IS 'The format argument of hublink.export_mi.';
COMMENT ON COLUMN hublink.mi_export_formats.media_type IS 'Its media type.';
COMMENT ON COLUMN hublink.mi_export_formats.description IS 'What is written.';

CREATE VIEW hublink.mi_reporting_settings AS
SELECT c.time_zone FROM hublink.reporting_config c;
COMMENT ON VIEW hublink.mi_reporting_settings IS
    'One row: the time zone whose days, weeks and months the MI views report in (hublink.reporting_config).';
COMMENT ON COLUMN hublink.mi_reporting_settings.time_zone IS 'An IANA time zone name, e.g. Europe/London.';

CREATE FUNCTION hublink.html_escape(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN replace(replace(replace(replace(replace(value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                           '"', '&quot;'), '''', '&#39;');
COMMENT ON FUNCTION hublink.html_escape(text) IS
    'Escapes text for HTML and XML element content and attribute values (& < > " '').';

CREATE FUNCTION hublink.csv_field(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN value IS NULL THEN ''
                WHEN value = '' OR value ~ '[",\r\n]' OR value ~ '^\s|\s$'
                THEN '"' || replace(value, '"', '""') || '"'
                ELSE value END;
COMMENT ON FUNCTION hublink.csv_field(text) IS
    'One RFC 4180 CSV field: quoted (quotes doubled) when it holds a comma, quote, CR or LF, '
    'starts or ends with white space, or is empty; NULL is the empty unquoted field.';

-- The view named, found through the catalog: only hublink.mi_* views exist for the exports.
CREATE FUNCTION hublink.mi_view(view_name text) RETURNS regclass
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    found regclass;
BEGIN
    SELECT c.oid INTO found
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind = 'v'
       AND c.relname = view_name AND c.relname LIKE 'mi\_%';
    IF found IS NULL THEN
        RAISE EXCEPTION 'no MI view named "%"', view_name
            USING ERRCODE = 'undefined_table',
                  DETAIL = 'Only the views of schema hublink whose name starts with mi_ can be exported.',
                  HINT = 'List them with: SELECT relname FROM pg_class WHERE relnamespace = ''hublink''::regnamespace AND relkind = ''v'' AND relname LIKE ''mi\_%''.';
    END IF;
    RETURN found;
END;
$$;
COMMENT ON FUNCTION hublink.mi_view(text) IS
    'The hublink.mi_* view of that name (without schema), looked up in the catalog; raises '
    'undefined_table for any other name.';

-- jit = off here and in mi_report_html: at full size (ten years, docs/performance.md "MI at
-- full size") the estimated cost of mi_sla_compliance's live months lifts its plan over
-- jit_above_cost, and compiling the view's hundreds of expressions took longer than running it
-- (2.4 of 3.3 s; 30 to 60 s with a month computed live, where inlining and optimization start).
CREATE FUNCTION hublink.export_mi(view_name text, format text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    SET "DateStyle" = 'ISO, YMD'
    SET "TimeZone" = 'UTC'
    SET "IntervalStyle" = 'iso_8601'
    AS $$
DECLARE
    v        regclass;
    columns  text[];
    order_by text;
    result   text;
    caption  text;
BEGIN
    IF NOT EXISTS (SELECT FROM hublink.mi_export_formats f WHERE f.format = export_mi.format) THEN
        RAISE EXCEPTION 'unknown export format "%"', format
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The formats are the rows of hublink.mi_export_formats.',
                  HINT = 'Use csv, xml or html.';
    END IF;
    v := hublink.mi_view(view_name);
    SELECT array_agg(a.attname::text ORDER BY a.attnum),
           string_agg(a.attnum::text, ', ' ORDER BY a.attnum)
      INTO columns, order_by
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = v AND a.attnum > 0 AND NOT a.attisdropped;
    IF format = 'csv' THEN
        EXECUTE pg_catalog.format(
            'SELECT coalesce(string_agg(concat_ws('','', %s), E''\r\n'' ORDER BY %s) || E''\r\n'', '''') FROM %s x',
            (SELECT string_agg(pg_catalog.format('hublink.csv_field(x.%I::text)', c), ', ') FROM unnest(columns) c),
            order_by, v)
          INTO result;
        RETURN (SELECT string_agg(hublink.csv_field(c), ',') FROM unnest(columns) c) || E'\r\n' || result;
    ELSIF format = 'xml' THEN
        RETURN '<?xml version="1.0" encoding="UTF-8"?>' || E'\n'
            || pg_catalog.query_to_xml(pg_catalog.format('SELECT * FROM %s ORDER BY %s', v, order_by),
                                       true, false, '')::text;
    ELSE
        caption := pg_catalog.obj_description(v, 'pg_class');
        EXECUTE pg_catalog.format(
            'SELECT coalesce(string_agg(''<tr>'' || %s || ''</tr>'', E''\n'' ORDER BY %s), '''') FROM %s x',
            (SELECT string_agg(pg_catalog.format(
                        'CASE WHEN x.%1$I IS NULL THEN ''<td class="null"></td>'' '
                        'ELSE ''<td>'' || hublink.html_escape(x.%1$I::text) || ''</td>'' END', c), ' || ')
               FROM unnest(columns) c),
            order_by, v)
          INTO result;
        RETURN '<!DOCTYPE html>' || E'\n' || '<html lang="en"><head><meta charset="utf-8"><title>'
            || hublink.html_escape(view_name) || '</title>'
            || '<style>table{border-collapse:collapse;font:12px sans-serif}th,td{border:1px solid #999;padding:2px 6px}'
            || 'td.null{background:#eee}</style></head><body>' || E'\n'
            || '<table><caption>' || hublink.html_escape(view_name) || ': '
            || hublink.html_escape(coalesce(caption, '')) || '</caption>' || E'\n<thead><tr>'
            || (SELECT string_agg('<th>' || hublink.html_escape(c) || '</th>', '') FROM unnest(columns) c)
            || '</tr></thead>' || E'\n<tbody>\n' || result || E'\n</tbody></table>\n</body></html>\n';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.export_mi(text, text) IS
    'Exports a hublink.mi_* view (name without schema) as csv, xml or html '
    '(hublink.export_format), rows ordered by every column, timestamps in UTC ISO 8601. '
    'Runs as the caller, so SELECT on the view is all it needs (Schedule R SEC 019 c).';

-- A chart as SVG: bars (grouped per label) or lines, one series per entry of series, a
-- y axis from 0 to a round maximum, a legend. data = {"labels": [...], "series": [{"name":
-- ..., "values": [...]}, ...]}.
CREATE FUNCTION hublink.mi_svg_chart(id text, title text, kind text, data jsonb, unit text DEFAULT '')
    RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    width    constant int := 760;
    height   constant int := 320;
    left_m   constant int := 70;
    right_m  constant int := 20;
    top_m    constant int := 40;
    bottom_m constant int := 60;
    -- colours that stay apart in print and for the common colour blindnesses
    palette  constant text[] := '{#1f77b4,#ff7f0e,#2ca02c,#d62728,#9467bd,#8c564b}';
    plot_w   numeric := width - left_m - right_m;
    plot_h   numeric := height - top_m - bottom_m;
    labels   text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(data -> 'labels', '[]')));
    n        int;
    k        int := coalesce(jsonb_array_length(data -> 'series'), 0);
    top_v    numeric;
    step     numeric;
    group_w  numeric;
    bar_w    numeric;
    svg      text;
    s        int;
    i        int;
    v        numeric;
    pts      text;
    every    int;
BEGIN
    n := coalesce(array_length(labels, 1), 0);
    SELECT coalesce(max((x.value)::numeric), 0) INTO top_v
      FROM jsonb_array_elements(coalesce(data -> 'series', '[]')) e,
           jsonb_array_elements_text(e -> 'values') x
     WHERE x.value IS NOT NULL AND x.value <> 'null';
    IF top_v <= 0 THEN
        top_v := 1;
    END IF;
    -- round the axis up to 1, 2 or 5 times a power of ten
    step := power(10, floor(log(top_v)));
    top_v := CASE WHEN top_v <= step THEN step WHEN top_v <= 2 * step THEN 2 * step
                  WHEN top_v <= 5 * step THEN 5 * step ELSE 10 * step END;
    svg := format('<svg id="%s" xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img">',
                  hublink.html_escape(id), width, height, width, height)
        || '<title>' || hublink.html_escape(title) || '</title>'
        || format('<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>', width, height)
        || format('<text x="%s" y="20" font-family="sans-serif" font-size="15" font-weight="bold">%s</text>',
                  left_m, hublink.html_escape(title));
    -- y axis: 0, half, top
    FOR i IN 0..4 LOOP
        svg := svg || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#dddddd"/>',
                             left_m, round(top_m + plot_h - plot_h * i / 4, 1), width - right_m,
                             round(top_m + plot_h - plot_h * i / 4, 1))
                   || format('<text x="%s" y="%s" font-family="sans-serif" font-size="10" text-anchor="end">%s</text>',
                             left_m - 4, round(top_m + plot_h - plot_h * i / 4 + 3, 1),
                             hublink.html_escape(trim_scale(round(top_v * i / 4, 2))::text || unit));
    END LOOP;
    svg := svg || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#000000"/>',
                         left_m, top_m + plot_h, width - right_m, top_m + plot_h);
    IF n > 0 THEN
        group_w := plot_w / n;
        bar_w := group_w * 0.8 / greatest(k, 1);
        every := ceil(n / 12.0);
        FOR i IN 1..n LOOP
            IF (i - 1) % every = 0 THEN
                svg := svg || format('<text x="%s" y="%s" font-family="sans-serif" font-size="10" text-anchor="middle">%s</text>',
                                     round(left_m + group_w * (i - 0.5), 1), top_m + plot_h + 14,
                                     hublink.html_escape(labels[i]));
            END IF;
        END LOOP;
        FOR s IN 1..k LOOP
            pts := '';
            FOR i IN 1..n LOOP
                v := nullif(data -> 'series' -> (s - 1) -> 'values' ->> (i - 1), 'null')::numeric;
                CONTINUE WHEN v IS NULL;
                IF kind = 'line' THEN
                    pts := pts || format('%s,%s ', round(left_m + group_w * (i - 0.5), 1),
                                         round(top_m + plot_h - plot_h * v / top_v, 1));
                    -- a marker on every point, so a series of one point still shows
                    svg := svg || format('<circle cx="%s" cy="%s" r="3" fill="%s"><title>%s</title></circle>',
                                         round(left_m + group_w * (i - 0.5), 1),
                                         round(top_m + plot_h - plot_h * v / top_v, 1), palette[1 + (s - 1) % 6],
                                         hublink.html_escape(format('%s %s: %s%s', data -> 'series' -> (s - 1) ->> 'name',
                                                                    labels[i], v, unit)));
                ELSE
                    svg := svg || format('<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>',
                                         round(left_m + group_w * (i - 1) + group_w * 0.1 + bar_w * (s - 1), 1),
                                         round(top_m + plot_h - plot_h * v / top_v, 1), round(bar_w, 1),
                                         round(plot_h * v / top_v, 1), palette[1 + (s - 1) % 6],
                                         hublink.html_escape(format('%s %s: %s%s', data -> 'series' -> (s - 1) ->> 'name',
                                                                    labels[i], v, unit)));
                END IF;
            END LOOP;
            IF kind = 'line' AND pts <> '' THEN
                svg := svg || format('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>',
                                     rtrim(pts), palette[1 + (s - 1) % 6]);
            END IF;
            svg := svg || format('<rect x="%s" y="%s" width="10" height="10" fill="%s"/>',
                                 left_m + 10 + (s - 1) * 170, height - 22, palette[1 + (s - 1) % 6])
                       || format('<text x="%s" y="%s" font-family="sans-serif" font-size="11">%s</text>',
                                 left_m + 24 + (s - 1) * 170, height - 13,
                                 hublink.html_escape(data -> 'series' -> (s - 1) ->> 'name'));
        END LOOP;
    ELSE
        svg := svg || format('<text x="%s" y="%s" font-family="sans-serif" font-size="12" text-anchor="middle">No data</text>',
                             left_m + plot_w / 2, top_m + plot_h / 2);
    END IF;
    RETURN svg || '</svg>';
END;
$$;
COMMENT ON FUNCTION hublink.mi_svg_chart(text, text, text, jsonb, text) IS
    'Draws a chart as an SVG element with that id: kind bar (bars grouped per label) or line, '
    'data {"labels": [...], "series": [{"name", "values": [...]}]}, y axis from 0 to a round '
    'maximum with unit appended to its labels, and a legend. Used by hublink.mi_report_html.';

-- An HTML table of a query's rows (in the query's order), every value escaped.
CREATE FUNCTION hublink.mi_html_table(caption text, query text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    head text;
    body text;
BEGIN
    EXECUTE format('SELECT (SELECT string_agg(''<th>'' || hublink.html_escape(e.key) || ''</th>'', '''' ORDER BY e.n)
                              FROM json_each_text(row_to_json(x)) WITH ORDINALITY AS e(key, value, n))
                      FROM (%s) x LIMIT 1', query)
      INTO head;
    EXECUTE format('SELECT string_agg(''<tr>'' || (SELECT string_agg(CASE WHEN e.value IS NULL THEN ''<td class="null"></td>''
                                                                       ELSE ''<td>'' || hublink.html_escape(e.value) || ''</td>'' END,
                                                                  '''' ORDER BY e.n)
                                                    FROM json_each_text(row_to_json(x)) WITH ORDINALITY AS e(key, value, n))
                                      || ''</tr>'', E''\n'')
                      FROM (%s) x', query)
      INTO body;
    RETURN '<table><caption>' || hublink.html_escape(caption) || '</caption>'
        || CASE WHEN body IS NULL THEN '<tbody><tr><td>No rows.</td></tr></tbody>'
                ELSE '<thead><tr>' || head || '</tr></thead><tbody>' || E'\n' || body || '</tbody>' END
        || '</table>' || E'\n';
END;
$$;
COMMENT ON FUNCTION hublink.mi_html_table(text, text) IS
    'An HTML table with a caption of the rows of query (a SELECT written by the caller, run '
    'as the caller), in its order, every header and value escaped. Used by hublink.mi_report_html.';

CREATE FUNCTION hublink.mi_report_html(months integer DEFAULT 24, last_month date DEFAULT NULL) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    SET "DateStyle" = 'ISO, YMD'
    SET "TimeZone" = 'UTC'
    AS $$
DECLARE
    tz          text := (SELECT c.time_zone FROM hublink.mi_reporting_settings c);
    since       date;
    until       date;
    month_list  date[];
    report_currency char(3);
    volume      jsonb;
    sla         jsonb;
    money       jsonb;
    e2e         jsonb;
    html        text;
BEGIN
    IF months IS NULL OR months < 1 THEN
        RAISE EXCEPTION 'months must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The report was asked for %s months.', coalesce(months::text, 'NULL')),
                  HINT = 'Give the number of months the charts and tables cover, e.g. 24.';
    END IF;
    until := date_trunc('month', coalesce(last_month, (now() AT TIME ZONE tz)::date))::date;
    since := (until - make_interval(months => months - 1))::date;
    month_list := ARRAY(SELECT generate_series(since, until, interval '1 month')::date);

    SELECT jsonb_build_object(
               'labels', (SELECT jsonb_agg(to_char(m, 'YYYY-MM') ORDER BY m) FROM unnest(month_list) m),
               'series', jsonb_build_array(
                   jsonb_build_object('name', 'Removal requests', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT sum(v.count) FROM hublink.mi_volume v
                                                    WHERE v.granularity = 'month' AND v.period_start = m
                                                      AND v.measure = 'removal_requests'), 0) ORDER BY m)
                          FROM unnest(month_list) m)),
                   jsonb_build_object('name', 'Travel bookings', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT sum(v.count) FROM hublink.mi_volume v
                                                    WHERE v.granularity = 'month' AND v.period_start = m
                                                      AND v.measure = 'bookings' AND v.booking = 'travel'), 0) ORDER BY m)
                          FROM unnest(month_list) m)),
                   jsonb_build_object('name', 'Completed removals', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT sum(v.count) FROM hublink.mi_volume v
                                                    WHERE v.granularity = 'month' AND v.period_start = m
                                                      AND v.measure = 'removals_completed'), 0) ORDER BY m)
                          FROM unnest(month_list) m))))
      INTO volume;

    SELECT jsonb_build_object(
               'labels', coalesce(jsonb_agg(s.request_type ORDER BY s.request_type), '[]'),
               'series', jsonb_build_array(
                   jsonb_build_object('name', 'Median (hours)', 'values',
                                      coalesce(jsonb_agg(round(s.median_response_seconds / 3600, 2) ORDER BY s.request_type), '[]')),
                   jsonb_build_object('name', '95th percentile (hours)', 'values',
                                      coalesce(jsonb_agg(round(s.p95_response_seconds / 3600, 2) ORDER BY s.request_type), '[]')),
                   jsonb_build_object('name', 'Target (hours)', 'values',
                                      coalesce(jsonb_agg(round(s.target_seconds / 3600, 2) ORDER BY s.request_type), '[]'))))
      INTO sla
      FROM hublink.mi_sla_compliance s
     WHERE s.month IS NULL;

    SELECT m.currency INTO report_currency
      FROM hublink.mi_money m WHERE m.month BETWEEN since AND until
     GROUP BY m.currency ORDER BY sum(m.ticket_spend) DESC, m.currency LIMIT 1;
    SELECT jsonb_build_object(
               'labels', (SELECT jsonb_agg(to_char(x, 'YYYY-MM') ORDER BY x) FROM unnest(month_list) x),
               'series', jsonb_build_array(
                   jsonb_build_object('name', 'Ticket spend', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT m.ticket_spend FROM hublink.mi_money m
                                                    WHERE m.month = x AND m.currency = report_currency), 0) ORDER BY x)
                          FROM unnest(month_list) x)),
                   jsonb_build_object('name', 'Refunds owed', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT m.refunds_owed FROM hublink.mi_money m
                                                    WHERE m.month = x AND m.currency = report_currency), 0) ORDER BY x)
                          FROM unnest(month_list) x)),
                   jsonb_build_object('name', 'Lost to non-refundable fares', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT m.lost_non_refundable FROM hublink.mi_money m
                                                    WHERE m.month = x AND m.currency = report_currency), 0) ORDER BY x)
                          FROM unnest(month_list) x))))
      INTO money;

    SELECT jsonb_build_object(
               'labels', (SELECT jsonb_agg(to_char(x, 'YYYY-MM') ORDER BY x) FROM unnest(month_list) x),
               'series', jsonb_build_array(
                   jsonb_build_object('name', 'Median hours to booked', 'values',
                       (SELECT jsonb_agg((SELECT e.median_hours_to_booked FROM hublink.mi_end_to_end e WHERE e.month = x) ORDER BY x)
                          FROM unnest(month_list) x)),
                   jsonb_build_object('name', 'Median hours to departure', 'values',
                       (SELECT jsonb_agg((SELECT e.median_hours_to_departure FROM hublink.mi_end_to_end e WHERE e.month = x) ORDER BY x)
                          FROM unnest(month_list) x))))
      INTO e2e;

    html := '<!DOCTYPE html>' || E'\n' || '<html lang="en"><head><meta charset="utf-8">'
        || '<title>Removals Hub: management information</title>'
        || '<style>body{font:13px sans-serif;margin:24px;color:#111;background:#fff}'
        || 'h1{font-size:20px}h2{font-size:16px;margin-top:28px}'
        || 'table{border-collapse:collapse;margin:8px 0 16px}caption{text-align:left;font-weight:bold;padding:4px 0}'
        || 'th,td{border:1px solid #999;padding:2px 5px;text-align:right;font-size:11px}th{background:#eee}td.null{background:#f6f6f6}'
        || 'svg{display:block;margin:8px 0;page-break-inside:avoid}'
        || '@media print{body{margin:0}h2{page-break-before:auto}}</style></head><body>' || E'\n'
        || '<h1>Removals Hub: management information</h1>' || E'\n'
        || '<p>Generated ' || hublink.html_escape(to_char(now() AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI'))
        || ' (' || hublink.html_escape(tz) || '), covering the ' || months || ' months from '
        || hublink.html_escape(to_char(since, 'YYYY-MM')) || ' to ' || hublink.html_escape(to_char(until, 'YYYY-MM'))
        || '. No personal data. Definitions: docs/mi.md.</p>' || E'\n'
        || '<h2>Volumes</h2>' || E'\n'
        || hublink.mi_svg_chart('chart-volume', 'Removals per month', 'bar', volume) || E'\n'
        || '<h2>Response times against the SLA (Appendix D)</h2>' || E'\n'
        || hublink.mi_svg_chart('chart-sla', 'Response time by request, whole history', 'bar', sla, 'h') || E'\n'
        || hublink.mi_html_table('SLA compliance, whole history',
               'SELECT request_type, provider, target_seconds, requests, answered, unanswered, median_response_seconds, '
               || 'p95_response_seconds, breaches, within_target_percent FROM hublink.mi_sla_compliance '
               || 'WHERE month IS NULL ORDER BY request_type')
        || '<h2>End-to-end times (GSO 8)</h2>' || E'\n'
        || hublink.mi_svg_chart('chart-end-to-end', 'Request to booked and to departure (hours)', 'line', e2e, 'h') || E'\n'
        || hublink.mi_html_table('End-to-end times per month of request',
               format('SELECT * FROM hublink.mi_end_to_end WHERE month BETWEEN %L AND %L ORDER BY month', since, until))
        || '<h2>Money</h2>' || E'\n'
        || hublink.mi_svg_chart('chart-money', 'Money per month (' || coalesce(report_currency, 'no spend') || ')', 'bar', money) || E'\n'
        || hublink.mi_html_table('Money per month and currency',
               format('SELECT * FROM hublink.mi_money WHERE month BETWEEN %L AND %L ORDER BY month, currency', since, until))
        || hublink.mi_html_table('Best value against cheapest fare',
               format('SELECT * FROM hublink.mi_best_value WHERE month BETWEEN %L AND %L ORDER BY month, currency', since, until))
        || '<h2>Outcomes and escorting</h2>' || E'\n'
        || hublink.mi_html_table('Removals that ended',
               format('SELECT * FROM hublink.mi_removal_outcome WHERE month BETWEEN %L AND %L ORDER BY month', since, until))
        || hublink.mi_html_table('Escorting',
               format('SELECT * FROM hublink.mi_escorting WHERE month BETWEEN %L AND %L ORDER BY month', since, until))
        || '<h2>Service now</h2>' || E'\n'
        || hublink.mi_html_table('Worker', 'SELECT party, state, connected, outbox_backlog, oldest_unsent_seconds, retrying, needs_attention FROM hublink.mi_worker')
        || hublink.mi_html_table('Backlog per queue', 'SELECT * FROM hublink.mi_message_backlog ORDER BY queue')
        || '</body></html>' || E'\n';
    RETURN html;
END;
$$;
COMMENT ON FUNCTION hublink.mi_report_html(integer, date) IS
    'The printable management-information report: one HTML document with SVG charts drawn '
    'here (volumes, SLA response times, end-to-end times, money) and the tables of the MI '
    'views over months months ending with the month of last_month (default: this month). Open it in a browser; print it to PDF from there '
    '(Schedule R SEC 019 c). scripts/mi-report writes it to a file.';
