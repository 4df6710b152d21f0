# shellcheck shell=bash disable=SC2034  # sourced by test/mutation/run, which reads these variables
# The crypto scan must find a name stored in clear in a toasted, compressed value: planted in
# throwaway tables of the Hub's database, the family name in a pglz-compressed value and the
# passport number in an lz4-compressed one (its halves stored apart first, so that lz4 writes it
# as back-references), both moved out of line into chunks. The scan before TOAST values were
# rebuilt (scan-files of commit 19b5988) passed both checks of this mutant: it found neither.
TARGET=test/security/crypto/run
RUN=direct
# shellcheck disable=SC2016  # a regular expression naming the shell variables literally
BEFORE='^scan_all "\$PASSPORT" "\$FAMILY" "\$RAW_NAME" .*"\$ref"$'
WHAT="the family name and the passport number stored in clear, toasted and compressed (pglz, lz4)"
SNIPPET=$(cat <<'SH'
filler() { echo "(SELECT string_agg(md5(i::text) || '-----------------', '' ORDER BY i) FROM generate_series($1, $2) i)"; }
q hub "CREATE TABLE public.mutant_pglz (t text COMPRESSION pglz)" >/dev/null
q hub "INSERT INTO public.mutant_pglz SELECT $(filler 1 400) || '$FAMILY' || $(filler 401 800)" >/dev/null
q hub "CREATE TABLE public.mutant_lz4 (t text COMPRESSION lz4)" >/dev/null
q hub "INSERT INTO public.mutant_lz4 SELECT '@@${PASSPORT:0:6}@@-----------------@@${PASSPORT:6}@@' || $(filler 1 400) || '$PASSPORT' || $(filler 401 800)" >/dev/null
q hub "CHECKPOINT"
SH
)
EXPECT_FAIL=("no file of base/, global/, pg_wal/ holds the passport number" "nor the family name")
EXPECT_PASS=("the search itself works")
