#!/usr/bin/env python3
"""Expands `-- @function schema.name` lines of an update part into the function's current
definition, taken from sql/parts/*.sql, so that an update script never holds a second copy of a
function body (docs/upgrades.md). Likewise `-- @comment KIND schema.name[.column]`
(KIND: TABLE, VIEW, COLUMN, TYPE, ...) copies that object's COMMENT statement. And
`-- @include sql/parts/NN_name.sql` copies a part that is wholly new in this version verbatim
(its tables, views, functions, rows and grants), so its DDL is written once, in the part. And
`-- @view schema.name` copies a view's current definition, as CREATE OR REPLACE VIEW, with its
COMMENT ON VIEW (a view that loses or renames a column is dropped by the update part first). And
`-- @table schema.name` copies a table wholly new in this version: its CREATE TABLE from sql/parts
with the COMMENT ON TABLE and COMMENT ON COLUMN statements of it (its rows, grants, indexes and
triggers stay written in the update part); refused for a table the previous version had or an
update part alters the columns of, since the copy is the table's final shape. And
`-- @trigger schema.table.trigger` copies a trigger's CREATE TRIGGER from sql/parts with its
COMMENT ON TRIGGER (if any), so a trigger's DDL is written once, in its part.

Every overload named is copied, as CREATE OR REPLACE FUNCTION, with the COMMENT ON FUNCTION
statements that follow it. CREATE OR REPLACE cannot change a function's result type or argument
names: an update part that does so drops the old function first.

Usage: sql_functions.py PARTS_DIR < update_part > expanded
"""
import glob
import os
import re
import sys

DIRECTIVE = re.compile(r"^--\s*@function\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\s*$")
COMMENT_DIRECTIVE = re.compile(r"^--\s*@comment\s+([A-Za-z ]+?)\s+([a-z_][a-z0-9_.]*)\s*$")
VIEW_DIRECTIVE = re.compile(r"^--\s*@view\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\s*$")
TABLE_DIRECTIVE = re.compile(r"^--\s*@table\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\s*$")
TRIGGER_DIRECTIVE = re.compile(r"^--\s*@trigger\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\s*$")
INCLUDE_DIRECTIVE = re.compile(r"^--\s*@include\s+sql/parts/([0-9]+_[a-z0-9_]+\.sql)\s*$")


def statements(text):
    """Splits SQL into statements, respecting quotes, dollar quotes, comments and the
    BEGIN ATOMIC ... END bodies of SQL-standard functions. Yields (start, end) offsets."""
    i, n, start = 0, len(text), 0
    depth = 0  # nesting inside BEGIN ATOMIC (BEGIN/CASE ... END)
    atomic = False
    word = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
    while i < n:
        c = text[i]
        if c == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == "'":
            j = i + 1
            while j < n:
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
        elif c == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", text[i:])
            if m:
                tag = m.group(0)
                j = text.find(tag, i + len(tag))
                i = n if j < 0 else j + len(tag)
            else:
                i += 1
        elif c.isalpha() or c == "_":
            m = word.match(text, i)
            w = m.group(0).upper()
            if w == "ATOMIC" and re.search(r"BEGIN\s+$", text[max(0, i - 12):i], re.I):
                atomic, depth = True, 1
            elif atomic and w in ("BEGIN", "CASE"):
                depth += 1
            elif atomic and w == "END":
                depth -= 1
                if depth == 0:
                    atomic = False
            i = m.end()
        elif c == ";" and not atomic:
            yield start, i + 1
            start = i + 1
            i += 1
        else:
            i += 1


def definitions(parts_dir):
    """Maps schema.name to the list of its CREATE FUNCTION and COMMENT ON FUNCTION statements."""
    found = {}
    create = re.compile(r"^\s*(?:--[^\n]*\n\s*)*CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\s*\(", re.I)
    comment = re.compile(r"^\s*(?:--[^\n]*\n\s*)*COMMENT\s+ON\s+FUNCTION\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\s*\(", re.I)
    for path in sorted(glob.glob(os.path.join(parts_dir, "*.sql"))):
        text = open(path, encoding="utf-8").read()
        for a, b in statements(text):
            stmt = text[a:b]
            m = create.match(stmt) or comment.match(stmt)
            if m:
                body = re.sub(r"^(\s*(?:--[^\n]*\n\s*)*)", "", stmt)
                body = re.sub(r"^CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION", "CREATE OR REPLACE FUNCTION", body, flags=re.I)
                found.setdefault(m.group(1).lower(), []).append(body.strip())
    return found


def comment_statement(parts_dir, kind, name):
    """The COMMENT ON KIND name IS ... statement of sql/parts, or None."""
    head = re.compile(r"^\s*(?:--[^\n]*\n\s*)*COMMENT\s+ON\s+" + r"\s+".join(kind.split()) + r"\s+"
                      + r"\s+".join(re.escape(w) for w in name.split()) + r"\s+IS\b", re.I)
    for path in sorted(glob.glob(os.path.join(parts_dir, "*.sql"))):
        text = open(path, encoding="utf-8").read()
        for a, b in statements(text):
            if head.match(text[a:b]):
                return re.sub(r"^(\s*(?:--[^\n]*\n\s*)*)", "", text[a:b]).strip()
    return None


def view_statement(parts_dir, name):
    """The CREATE VIEW statement of NAME in sql/parts, as CREATE OR REPLACE VIEW, or None."""
    head = re.compile(r"^\s*(?:--[^\n]*\n\s*)*CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+" + re.escape(name)
                      + r"(?:\s|\()", re.I)
    found = []
    for path in sorted(glob.glob(os.path.join(parts_dir, "*.sql"))):
        text = open(path, encoding="utf-8").read()
        for a, b in statements(text):
            if head.match(text[a:b]):
                stmt = re.sub(r"^(\s*(?:--[^\n]*\n\s*)*)", "", text[a:b]).strip()
                found.append(re.sub(r"^CREATE\s+(?:OR\s+REPLACE\s+)?VIEW", "CREATE OR REPLACE VIEW", stmt, flags=re.I))
    if len(found) > 1:
        sys.stderr.write(f"sql_functions: view {name} is created {len(found)} times in {parts_dir}\n")
        sys.exit(1)
    return found[0] if found else None


def table_statements(parts_dir, name):
    """The CREATE TABLE statement of NAME in sql/parts and the COMMENT ON TABLE / COLUMN
    statements of it, in the parts' order, or None when no part creates it."""
    create = re.compile(r"^\s*(?:--[^\n]*\n\s*)*CREATE\s+TABLE\s+" + re.escape(name) + r"\s*\(", re.I)
    comment = re.compile(r"^\s*(?:--[^\n]*\n\s*)*COMMENT\s+ON\s+(?:TABLE\s+" + re.escape(name)
                         + r"|COLUMN\s+" + re.escape(name) + r"\.[a-z_][a-z0-9_]*)\s+IS\b", re.I)
    found, creates = [], 0
    for path in sorted(glob.glob(os.path.join(parts_dir, "*.sql"))):
        text = open(path, encoding="utf-8").read()
        for a, b in statements(text):
            stmt = text[a:b]
            if create.match(stmt):
                creates += 1
            if create.match(stmt) or comment.match(stmt):
                found.append(re.sub(r"^(\s*(?:--[^\n]*\n\s*)*)", "", stmt).strip())
    if creates > 1:
        sys.stderr.write(f"sql_functions: table {name} is created {creates} times in {parts_dir}\n")
        sys.exit(1)
    return found if creates else None


def trigger_statements(parts_dir, table, trigger):
    """The CREATE TRIGGER statement of TRIGGER on TABLE in sql/parts, then its COMMENT ON TRIGGER
    when it has one, or None when no part creates it."""
    create = re.compile(r"^\s*(?:--[^\n]*\n\s*)*CREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\s+"
                        + re.escape(trigger) + r"\s+(?:BEFORE|AFTER|INSTEAD\s+OF)\s.*?\bON\s+"
                        + re.escape(table) + r"\s", re.I | re.S)
    found = []
    for path in sorted(glob.glob(os.path.join(parts_dir, "*.sql"))):
        text = open(path, encoding="utf-8").read()
        for a, b in statements(text):
            if create.match(text[a:b]):
                found.append(re.sub(r"^(\s*(?:--[^\n]*\n\s*)*)", "", text[a:b]).strip())
    if len(found) > 1:
        sys.stderr.write(f"sql_functions: trigger {trigger} on {table} is created {len(found)} times in {parts_dir}\n")
        sys.exit(1)
    if not found:
        return None
    comment = comment_statement(parts_dir, "TRIGGER", f"{trigger} ON {table}")
    return found + ([comment] if comment is not None else [])


def include_part(parts_dir, name):
    """The text of sql/parts/NAME, between two marker lines. Only a part of its own: a part that
    itself holds a directive would be expanded differently in a fresh install."""
    path = os.path.join(parts_dir, name)
    if not os.path.isfile(path):
        sys.stderr.write(f"sql_functions: no part {name} in {parts_dir}\n")
        sys.exit(1)
    text = open(path, encoding="utf-8").read()
    for line in text.splitlines():
        if (DIRECTIVE.match(line) or COMMENT_DIRECTIVE.match(line) or INCLUDE_DIRECTIVE.match(line)
                or VIEW_DIRECTIVE.match(line) or TABLE_DIRECTIVE.match(line) or TRIGGER_DIRECTIVE.match(line)):
            sys.stderr.write(f"sql_functions: part {name} holds a directive; only an update part may\n")
            sys.exit(1)
    if not text.endswith("\n"):
        text += "\n"
    return f"-- sql/parts/{name}, verbatim (a part wholly new in this version)\n{text}-- end of sql/parts/{name}\n"


def expand_line(parts_dir, line, included):
    """The text a non-@function line stands for: the line itself, or the expansion of its
    @include, @view, @table, @trigger or @comment directive. Exits with a message on a bad directive."""
    inc = INCLUDE_DIRECTIVE.match(line.rstrip("\n"))
    if inc:
        if inc.group(1) in included:
            sys.stderr.write(f"sql_functions: sql/parts/{inc.group(1)} included twice\n")
            sys.exit(1)
        included.add(inc.group(1))
        return include_part(parts_dir, inc.group(1))
    if re.match(r"^--\s*@include\b", line):
        sys.stderr.write(f"sql_functions: bad @include line (want -- @include sql/parts/NN_name.sql): {line}")
        sys.exit(1)
    def found(value, what):
        if value is None:
            sys.stderr.write(f"sql_functions: no {what} in {parts_dir}\n")
            sys.exit(1)
        return value

    v = VIEW_DIRECTIVE.match(line.rstrip("\n"))
    if v:
        stmt = found(view_statement(parts_dir, v.group(1).lower()), f"CREATE VIEW {v.group(1)}")
        text = f"-- {v.group(1).lower()}, as defined in sql/parts\n{stmt}\n"
        comment = comment_statement(parts_dir, "VIEW", v.group(1).lower())
        return text + (comment + "\n" if comment is not None else "")
    t = TABLE_DIRECTIVE.match(line.rstrip("\n"))
    if t:
        stmts = found(table_statements(parts_dir, t.group(1).lower()), f"CREATE TABLE {t.group(1)}")
        return f"-- {t.group(1).lower()}, as defined in sql/parts\n" + "".join(x + "\n" for x in stmts)
    g = TRIGGER_DIRECTIVE.match(line.rstrip("\n"))
    if g:
        table, trigger = g.group(1).lower(), g.group(2).lower()
        stmts = found(trigger_statements(parts_dir, table, trigger), f"CREATE TRIGGER {trigger} ON {table}")
        return f"-- {table}.{trigger}, as defined in sql/parts\n" + "".join(x + "\n" for x in stmts)
    if re.match(r"^--\s*@trigger\b", line):
        sys.stderr.write(f"sql_functions: bad @trigger line (want -- @trigger schema.table.trigger): {line}")
        sys.exit(1)
    c = COMMENT_DIRECTIVE.match(line.rstrip("\n"))
    if c:
        return found(comment_statement(parts_dir, c.group(1), c.group(2)), f"COMMENT ON {c.group(1)} {c.group(2)}") + "\n"
    return line


def function_text(defs, parts_dir, name):
    """The current definition(s) of NAME with their comments, as an update script holds them."""
    if not any(s.upper().startswith("CREATE") for s in defs.get(name, [])):
        sys.stderr.write(f"sql_functions: no CREATE FUNCTION {name} in {parts_dir}\n")
        sys.exit(1)
    return f"-- {name}, as defined in sql/parts\n" + "".join(stmt + "\n" for stmt in defs[name])


def read_items(parts_dir, sources):
    """The update parts as one list of items: ("text", text) for what is copied (lines, and the
    expansions of @include, @view and @comment), ("function", name) for an @function line.
    SOURCES: (header or None, text) per part."""
    items, included = [], set()
    for header, text in sources:
        if header is not None:
            items.append(("text", header))
        for line in text.splitlines(keepends=True):
            m = DIRECTIVE.match(line.rstrip("\n"))
            if m:
                items.append(("function", m.group(1).lower()))
            else:
                items.append(("text", expand_line(parts_dir, line, included)))
        if header is not None:
            items.append(("text", "\n"))
    return items


def created_functions(text):
    """The schema.name of every CREATE [OR REPLACE] FUNCTION in TEXT."""
    return set(n.lower() for n in re.findall(
        r"(?im)^\s*CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\s*\(", text))


# A relation followed by a column list, where the grammar allows no function call: an index's
# table, an INSERT's target, a new table, a foreign key's table. "hublink.tsp_quote (removal_id)"
# there names the table tsp_quote, not a call of the function of the same name.
RELATION_LIST = re.compile(r"(?i)(\b(?:CREATE\s+(?:UNIQUE\s+)?INDEX\b[^;(]*?\bON|INSERT\s+INTO|CREATE\s+TABLE"
                           r"(?:\s+IF\s+NOT\s+EXISTS)?|REFERENCES)\s+(?:ONLY\s+)?[a-z_][a-z0-9_.]*)\s*\(")


def needed_mentions(items, rendered, previous_text):
    """Which @function lines to expand. All of an update script's definitions of a function are
    its current one, so a second copy only repeats the first. A mention is left out when a later
    one follows (or an @include of the part defining it went before) and nothing in between
    needs the function: no statement there names it as called or declared ("name(", or
    "FUNCTION name" as a DROP or ALTER without arguments may; not a table of the same name
    before its column list, RELATION_LIST), and, for
    a function the previous version did not have, no hublink.apply_access_policy() there grants
    on it unless another one follows the last mention. Full-line comments do not count. So each
    function is defined once, at its last mention, unless something needs it earlier."""
    mentions, pinned = {}, {}
    for i, (kind, payload) in enumerate(items):
        if kind == "function":
            mentions.setdefault(payload, []).append(i)
        elif payload.lstrip().startswith("-- sql/parts/"):
            for name in created_functions(payload):
                pinned.setdefault(name, []).append(i)
    # What stands between two mentions: the text, and every other function's definition that is
    # written out (a SQL function's body is checked when it is created, so a call there needs the
    # function then). A mention left out writes nothing, so it needs nothing: the kept set is
    # worked out again without the mentions left out, until it no longer shrinks (leaving one
    # out only takes calls away, so it never makes another needed).
    text = [RELATION_LIST.sub(r"\1 ", re.sub(r"(?m)^\s*--[^\n]*\n?", "", p if k == "text" else rendered[p]))
            for k, p in items]
    policy = re.compile(r"apply_access_policy\s*\(")
    policy_at = [i for i, c in enumerate(text) if policy.search(c)]
    keep = set(i for i, (k, _) in enumerate(items) if k == "function")
    while True:
        code = [c if items[i][0] == "text" or i in keep else "" for i, c in enumerate(text)]
        again = keep_mentions(mentions, pinned, code, policy_at, previous_text)
        if again == keep:
            return keep
        keep = again


def keep_mentions(mentions, pinned, code, policy_at, previous_text):
    """One pass of needed_mentions over CODE (each item's text, or "" for a mention left out)."""
    keep = set()
    for name, where in mentions.items():
        bare = re.escape(name.split(".", 1)[1])
        called = re.compile(r"(?<![A-Za-z0-9_$])" + bare + r"\s*\("  # a call, or a signature
                            r"|(?:FUNCTION|ROUTINE)\s+(?:[a-z_][a-z0-9_]*\.)?" + bare + r"(?![A-Za-z0-9_$])", re.I)
        new = not re.search(r"function\s+" + re.escape(name) + r"\s*\(", previous_text)
        points = sorted(where + pinned.get(name, []))
        last = points[-1]
        granted_later = any(i > last for i in policy_at)

        def needs(a, b):
            between = "".join(code[a + 1:b])
            if called.search(between):
                return True
            return new and not granted_later and any(a < i < b for i in policy_at)

        for i in where:
            k = points.index(i)
            later = points[k + 1] if k + 1 < len(points) else None
            earlier_pin = next((p for p in reversed(points[:k]) if p in pinned.get(name, [])), None)
            if later is not None and not needs(i, later):
                continue  # a later mention defines it before anything needs it
            if earlier_pin is not None and not needs(earlier_pin, i):
                continue  # an included part defined it already, and nothing since changed it
            keep.add(i)
    return keep


def check_tables(sources, previous_text):
    """An @table copy is the table's final shape: refused for a table the previous version had
    (CREATE TABLE would fail, or the copy would hide a change) or whose columns an update part
    adds, drops or alters (the part would meet the columns already there)."""
    every = "".join(text for _, text in sources)
    for line in every.splitlines():
        t = TABLE_DIRECTIVE.match(line)
        if not t:
            continue
        name = t.group(1).lower()
        if re.search(r"create\s+table\s+" + re.escape(name) + r"\s*\(", previous_text):
            sys.stderr.write(f"sql_functions: @table {name}: the previous version has it; write its change instead\n")
            sys.exit(1)
        if re.search(r"(?is)ALTER\s+TABLE\s+(?:ONLY\s+)?" + re.escape(name) + r"\b[^;]*\b(?:ADD|DROP|ALTER)\s+COLUMN\b", every):
            sys.stderr.write(f"sql_functions: @table {name}: an update part alters its columns; "
                             "write its CREATE TABLE in the shape that part expects instead\n")
            sys.exit(1)


def expand(parts_dir, sources, previous_text, out):
    items = read_items(parts_dir, sources)
    defs = definitions(parts_dir) if any(k == "function" for k, _ in items) else {}
    rendered = {p: function_text(defs, parts_dir, p) for k, p in items if k == "function"}
    keep = needed_mentions(items, rendered, previous_text)
    for i, (kind, payload) in enumerate(items):
        if kind == "text":
            out.write(payload)
        elif i in keep:
            out.write(rendered[payload])
        else:
            out.write(f"-- {payload}: defined once, at the mention that needs it (docs/upgrades.md)\n")


def main():
    """sql_functions.py PARTS_DIR < update_part: one part, every @function expanded where it
    stands. sql_functions.py PARTS_DIR --previous OLD_INSTALL_SCRIPT --label DIR PART...: a whole
    update script's parts in order, each after a "-- from DIR/NAME" line, every function
    defined once (needed_mentions)."""
    parts_dir = sys.argv[1]
    if len(sys.argv) == 2:
        defs = None
        for kind, payload in read_items(parts_dir, [(None, sys.stdin.read())]):
            if kind == "text":
                sys.stdout.write(payload)
            else:
                defs = defs or definitions(parts_dir)
                sys.stdout.write(function_text(defs, parts_dir, payload))
        return 0
    if len(sys.argv) < 7 or sys.argv[2] != "--previous" or sys.argv[4] != "--label":
        sys.stderr.write("usage: sql_functions.py PARTS_DIR [--previous OLD_INSTALL_SCRIPT --label DIR PART...] [< PART]\n")
        return 2
    previous_text = open(sys.argv[3], encoding="utf-8").read().lower()
    label = sys.argv[5]
    sources = [(f"-- from {label}/{os.path.basename(p)}\n", open(p, encoding="utf-8").read()) for p in sys.argv[6:]]
    check_tables(sources, previous_text)
    expand(parts_dir, sources, previous_text, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
