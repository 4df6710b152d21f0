/*
 * crypto_key.c - the master key file of the personal data encryption (docs/security-crypto.md).
 *
 * The master keys wrap the per-removal data keys (sql/parts/73_crypto_keys.sql). They are never
 * stored in a table and never appear in a query text: they are read from the file named by
 * hublink.master_key_file, which only the server's operating system user may read. The file
 * holds one key per line, 64 hexadecimal digits (256 bits); the last line is the current key,
 * the earlier ones are kept only until hublink.rotate_master_key() has re-wrapped every data
 * key that they wrap (NFR 0011).
 *
 * The file must lie outside the data directory (and outside its WAL directory and tablespaces):
 * pg_basebackup and every standby copy those, and a key that travels with the data it wraps
 * protects nothing in a backup. The default is "../hublink_master.key", beside the data
 * directory; a file found inside is refused for sealing and opening alike.
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "crypto_key.h"

#define KEY_BYTES    32
#define KEY_FILE_MAX 65536
/* Where hublink 0.1.0 kept the key by default: in the data directory. */
#define OLD_DEFAULT_KEY_FILE "hublink_master.key"

char *hublink_master_key_file = NULL;

void
hublink_crypto_define_settings(void)
{
	DefineCustomStringVariable(
		"hublink.master_key_file",
		"File holding the master keys that wrap the per-removal data keys.",
		"One key per line, 64 hexadecimal digits; the last line is the current key. A relative "
		"path is relative to the data directory; the file must lie outside it. It must be "
		"readable by the server's user only.",
		&hublink_master_key_file, "../hublink_master.key", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL,
		NULL, NULL);
}

/* Whether the resolved path lies in the resolved directory root (or is it). */
static bool
path_within(const char *path, const char *root)
{
	size_t len = strlen(root);

	if (strncmp(path, root, len) != 0)
		return false;
	return path[len] == '\0' || path[len] == '/' || (len > 0 && root[len - 1] == '/');
}

/*
 * Where the key file would really be: its resolved path if it exists, else its resolved
 * directory with its name appended (so a symbolic link cannot hide it inside the data
 * directory). False when neither resolves.
 */
static bool
resolve_key_path(const char *path, char *resolved)
{
	char dir[MAXPGPATH];
	char real_dir[PATH_MAX];
	char *slash;

	if (realpath(path, resolved) != NULL)
		return true;
	strlcpy(dir, path, sizeof(dir));
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strlcpy(dir, ".", sizeof(dir));
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (realpath(dir, real_dir) == NULL)
		return false;
	snprintf(resolved, PATH_MAX, "%s/%s", real_dir, slash ? slash + 1 : path);
	return true;
}

/*
 * Refuses a key file inside what a base backup or a standby copies: the data directory, its
 * WAL directory (a symbolic link when initdb -X placed it elsewhere) and every tablespace.
 */
static void
refuse_inside_data_directory(const char *path)
{
	char resolved[PATH_MAX];
	char root[PATH_MAX];
	const char *inside = NULL;
	DIR *dir;
	struct dirent *de;

	if (!resolve_key_path(path, resolved))
		return; /* nothing there to copy: opening or creating it reports the error */
	if (realpath(DataDir, root) != NULL && path_within(resolved, root))
		inside = "the data directory";
	else if (realpath("pg_wal", root) != NULL && path_within(resolved, root))
		inside = "the WAL directory";
	else if ((dir = AllocateDir("pg_tblspc")) != NULL)
	{
		while (inside == NULL && (de = ReadDir(dir, "pg_tblspc")) != NULL)
		{
			char link[MAXPGPATH];

			if (de->d_name[0] == '.')
				continue;
			snprintf(link, sizeof(link), "pg_tblspc/%s", de->d_name);
			if (realpath(link, root) != NULL && path_within(resolved, root))
				inside = "a tablespace";
		}
		FreeDir(dir);
	}
	if (inside != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("master key file \"%s\" lies inside %s", path, inside),
				 errdetail("Every base backup and standby copies %s, so the key would travel "
						   "with the data it protects; personal data is neither sealed nor "
						   "opened with it.",
						   inside),
				 errhint("Move the file outside the data directory (the default is "
						 "\"../hublink_master.key\", beside it), set hublink.master_key_file to "
						 "its path, reload, and back the file up apart from the database.")));
}

static void
refuse_file(const char *path, const char *why, const char *hint)
{
	ereport(ERROR, (errcode(ERRCODE_CONFIG_FILE_ERROR),
					errmsg("master key file \"%s\" cannot be used", path), errdetail("%s", why),
					errhint("%s", hint)));
}

/* Reads the whole key file after checking that nobody but the server's user can read it. */
static char *
read_key_file(const char *path, int *length, struct stat *read_stat)
{
	struct stat st;
	char *text;
	ssize_t got;
	int fd;

	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0 && access(OLD_DEFAULT_KEY_FILE, F_OK) == 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open master key file \"%s\": %m", path),
				 errdetail("The data directory still holds \"%s\", where hublink 0.1.0 kept the "
						   "master key by default; a key there is no longer used.",
						   OLD_DEFAULT_KEY_FILE),
				 errhint("Move that file to \"%s\" (or set hublink.master_key_file to where you "
						 "move it) and reload; do not create a new key, which would not open the "
						 "existing data keys.",
						 path)));
	if (fd < 0)
		ereport(
			ERROR,
			(errcode_for_file_access(), errmsg("could not open master key file \"%s\": %m", path),
			 errdetail("The personal data of the removals cannot be sealed or read without it."),
			 errhint("Set hublink.master_key_file, or call hublink.create_master_key_file().")));
	if (fstat(fd, &st) != 0)
	{
		close(fd);
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not stat master key file \"%s\": %m", path)));
	}
	if (st.st_uid != geteuid() || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		close(fd);
		refuse_file(path, "The file is not owned by the server's user, or others may access it.",
					"Make the server's user its owner and restrict it: chmod 600.");
	}
	if (st.st_size <= 0 || st.st_size > KEY_FILE_MAX)
	{
		close(fd);
		refuse_file(path, "The file is empty or too large to be a key file.",
					"Write one key per line, 64 hexadecimal digits.");
	}
	text = palloc((Size) st.st_size + 1);
	got = read(fd, text, (size_t) st.st_size);
	close(fd);
	if (got != st.st_size)
		ereport(ERROR,
				(errcode_for_file_access(), errmsg("could not read master key file \"%s\"", path)));
	text[got] = '\0';
	*length = (int) got;
	*read_stat = st;
	return text;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The master keys as this backend last read them (docs/security-crypto.md "What is cached").
 *
 * Reading the file on every call cost about 140 microseconds (the checks that it lies outside
 * the data directory, the read, parsing, then SHA-256 of each key in SQL to find one by id),
 * three times per message. The keys are kept in this backend's memory together with the
 * identity of the file they came from (path, device, inode, size, modification and change
 * times), and every use first stat()s the path: any change of the file, of its owner or mode,
 * a rename, a replacement or a new link (each changes one of these) makes the next use read
 * and check the file again, as before.
 *
 * File times come from a coarse clock (a few milliseconds), so a rewrite of the same size
 * within the same tick as the read would keep its times. A read is therefore trusted for reuse
 * only when the file was last changed at least MASTER_KEY_SETTLE_SECONDS before the read
 * began ("racily clean", as git calls it): any later change gets times after the read's start.
 * Until then every use reads the file again.
 */
#define MASTER_KEY_SETTLE_SECONDS 2
#define KEY_ID_CHARS              16

typedef struct MasterKeyCache
{
	bool valid;   /* holds the keys of the file described below */
	bool trusted; /* the file had settled before the read: a same stat() means same bytes */
	char path[MAXPGPATH];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
	int nkeys;
	unsigned char (*keys)[KEY_BYTES]; /* oldest first, the current one last */
	char (*ids)[KEY_ID_CHARS + 1];    /* hublink.crypto_key_id of each */
} MasterKeyCache;

static MasterKeyCache master_cache;
static int64 master_key_file_reads = 0;
static int64 master_key_cache_hits = 0;

static void
master_cache_forget(void)
{
	if (master_cache.keys != NULL)
	{
		explicit_bzero(master_cache.keys, (size_t) master_cache.nkeys * KEY_BYTES);
		pfree(master_cache.keys);
		pfree(master_cache.ids);
	}
	master_cache.keys = NULL;
	master_cache.ids = NULL;
	master_cache.nkeys = 0;
	master_cache.valid = false;
	master_cache.trusted = false;
}

static bool
timespec_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static bool
same_file(const struct stat *st)
{
	return st->st_dev == master_cache.dev && st->st_ino == master_cache.ino &&
		   st->st_size == master_cache.size && st->st_mtim.tv_sec == master_cache.mtime.tv_sec &&
		   st->st_mtim.tv_nsec == master_cache.mtime.tv_nsec &&
		   st->st_ctim.tv_sec == master_cache.ctime.tv_sec &&
		   st->st_ctim.tv_nsec == master_cache.ctime.tv_nsec;
}

/* The first 16 hex digits of the key's SHA-256: what hublink.crypto_key_id(key) returns. */
static void
master_key_id(const unsigned char *key, char *id)
{
	static const char hex[] = "0123456789abcdef";
	uint8 digest[PG_SHA256_DIGEST_LENGTH];
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, key, KEY_BYTES) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
	{
		pg_cryptohash_free(ctx);
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not compute the identifier of a master key"),
						errdetail("SHA-256 failed in this backend.")));
	}
	pg_cryptohash_free(ctx);
	for (int i = 0; i < KEY_ID_CHARS / 2; i++)
	{
		id[2 * i] = hex[digest[i] >> 4];
		id[2 * i + 1] = hex[digest[i] & 0x0f];
	}
	id[KEY_ID_CHARS] = '\0';
	explicit_bzero(digest, sizeof(digest));
}

/*
 * The master keys of hublink.master_key_file: from this backend's copy when the file is the
 * one it was read from (above), else read and checked again. Errors as before: a file inside
 * the data directory, readable by others, missing, empty or malformed is refused.
 */
static const MasterKeyCache *
master_keys_load(bool force)
{
	const char *path = hublink_master_key_file;
	struct stat st;
	struct timespec started;
	unsigned char(*keys)[KEY_BYTES];
	int nkeys = 0;
	int length;
	char *text;
	char *line;
	char *save = NULL;
	MemoryContext old;

	if (path == NULL || path[0] == '\0')
		refuse_file("", "hublink.master_key_file is empty.",
					"Set hublink.master_key_file in postgresql.conf and reload.");
	if (!force && master_cache.valid && master_cache.trusted &&
		strcmp(master_cache.path, path) == 0 && stat(path, &st) == 0 && same_file(&st))
	{
		master_key_cache_hits++;
		return &master_cache;
	}
	master_cache_forget();
	clock_gettime(CLOCK_REALTIME, &started);
	refuse_inside_data_directory(path);
	text = read_key_file(path, &length, &st);
	master_key_file_reads++;
	keys = palloc(sizeof(*keys) * (length / (2 * KEY_BYTES) + 1));
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
	{
		size_t len = strlen(line);

		while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
			len--;
		if (len == 0 || line[0] == '#')
			continue;
		if (len != 2 * KEY_BYTES)
			refuse_file(path, "A line of the file is not 64 hexadecimal digits.",
						"Write one key per line, 64 hexadecimal digits (256 bits).");
		for (int i = 0; i < KEY_BYTES; i++)
		{
			int hi = hex_value(line[2 * i]);
			int lo = hex_value(line[2 * i + 1]);

			if (hi < 0 || lo < 0)
				refuse_file(path, "A line of the file is not 64 hexadecimal digits.",
							"Write one key per line, 64 hexadecimal digits (256 bits).");
			keys[nkeys][i] = (unsigned char) (hi << 4 | lo);
		}
		nkeys++;
	}
	explicit_bzero(text, length);
	pfree(text);
	if (nkeys == 0)
		refuse_file(path, "The file holds no key.",
					"Write one key per line, 64 hexadecimal digits.");

	old = MemoryContextSwitchTo(TopMemoryContext);
	master_cache.keys = palloc(sizeof(*keys) * nkeys);
	master_cache.ids = palloc(sizeof(*master_cache.ids) * nkeys);
	MemoryContextSwitchTo(old);
	memcpy(master_cache.keys, keys, sizeof(*keys) * nkeys);
	explicit_bzero(keys, sizeof(*keys) * nkeys);
	pfree(keys);
	master_cache.nkeys = nkeys;
	for (int i = 0; i < nkeys; i++)
		master_key_id(master_cache.keys[i], master_cache.ids[i]);
	strlcpy(master_cache.path, path, sizeof(master_cache.path));
	master_cache.dev = st.st_dev;
	master_cache.ino = st.st_ino;
	master_cache.size = st.st_size;
	master_cache.mtime = st.st_mtim;
	master_cache.ctime = st.st_ctim;
	started.tv_sec -= MASTER_KEY_SETTLE_SECONDS;
	master_cache.trusted =
		timespec_before(&st.st_mtim, &started) && timespec_before(&st.st_ctim, &started);
	master_cache.valid = true;
	return &master_cache;
}

static bytea *
key_bytea(const unsigned char *key)
{
	bytea *b = palloc(VARHDRSZ + KEY_BYTES);

	SET_VARSIZE(b, VARHDRSZ + KEY_BYTES);
	memcpy(VARDATA(b), key, KEY_BYTES);
	return b;
}

bool
hublink_master_key_known(const char *key_id)
{
	const MasterKeyCache *c = master_keys_load(false);

	for (int i = 0; i < c->nkeys; i++)
		if (strcmp(c->ids[i], key_id) == 0)
			return true;
	return false;
}

PG_FUNCTION_INFO_V1(hublink_master_keys);

/*
 * hublink.master_keys() returns bytea[]: the keys of the file, oldest first, the current one
 * last. Revoked from PUBLIC; only the SECURITY DEFINER key functions of 73_crypto_keys.sql
 * call it, so the keys live in their variables and never in a query text or a table. Always
 * reads the file (hublink.master_key_destroyed asks it whether a key is gone).
 */
Datum
hublink_master_keys(PG_FUNCTION_ARGS)
{
	const MasterKeyCache *c = master_keys_load(true);
	Datum *keys = palloc(sizeof(Datum) * c->nkeys);

	for (int i = 0; i < c->nkeys; i++)
		keys[i] = PointerGetDatum(key_bytea(c->keys[i]));
	PG_RETURN_ARRAYTYPE_P(construct_array(keys, c->nkeys, BYTEAOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(hublink_master_key);

/*
 * hublink.master_key(key_id text, OUT key_id text, OUT key bytea): the master key with that id
 * (hublink.crypto_key_id), or the current one (the file's last line) for NULL. Raises when the
 * file no longer holds it. Revoked from PUBLIC; the key functions of 73_crypto_keys.sql call it.
 */
Datum
hublink_master_key(PG_FUNCTION_ARGS)
{
	const MasterKeyCache *c = master_keys_load(false);
	TupleDesc tupdesc;
	Datum values[2];
	bool nulls[2] = {false, false};
	int found = -1;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("hublink.master_key() must return a record")));
	if (PG_ARGISNULL(0))
		found = c->nkeys - 1;
	else
	{
		char *want = text_to_cstring(PG_GETARG_TEXT_PP(0));

		for (int i = 0; i < c->nkeys && found < 0; i++)
			if (strcmp(c->ids[i], want) == 0)
				found = i;
		if (found < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("master key %s is not in the master key file", want),
					 errdetail("A data key was wrapped by a master key that "
							   "hublink.master_key_file no longer holds."),
					 errhint("Put the old key back in the file (before the current one) and run "
							 "hublink.rotate_master_key().")));
	}
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = CStringGetTextDatum(c->ids[found]);
	values[1] = PointerGetDatum(key_bytea(c->keys[found]));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

void
hublink_master_key_stats(int64 *file_reads, int64 *cache_hits)
{
	*file_reads = master_key_file_reads;
	*cache_hits = master_key_cache_hits;
}

PG_FUNCTION_INFO_V1(hublink_create_master_key_file);

/*
 * hublink.create_master_key_file() writes a fresh random key to hublink.master_key_file when
 * the file does not exist yet (mode 0600, never overwritten); returns whether it did. The
 * install script calls it, so a new installation can seal at once. Never inside the data
 * directory (docs/security-crypto.md).
 */
Datum
hublink_create_master_key_file(PG_FUNCTION_ARGS)
{
	const char *path = hublink_master_key_file;
	unsigned char key[KEY_BYTES];
	char line[2 * KEY_BYTES + 2];
	int fd;

	if (path == NULL || path[0] == '\0')
		refuse_file("", "hublink.master_key_file is empty.",
					"Set hublink.master_key_file in postgresql.conf and reload.");
	refuse_inside_data_directory(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
	{
		if (errno == EEXIST)
			PG_RETURN_BOOL(false);
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not create master key file \"%s\": %m", path),
						errdetail("A new key file is created only where none exists."),
						errhint("Let the server's user write to the file's directory, or set "
								"hublink.master_key_file to a path outside the data directory that "
								"it may write, and reload.")));
	}
	if (!pg_strong_random(key, KEY_BYTES))
	{
		close(fd);
		unlink(path);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not generate a random master key"),
				 errdetail("The operating system's random source failed."),
				 errhint("Check /dev/urandom.")));
	}
	for (int i = 0; i < KEY_BYTES; i++)
		snprintf(line + 2 * i, 3, "%02x", key[i]);
	line[2 * KEY_BYTES] = '\n';
	line[2 * KEY_BYTES + 1] = '\0';
	if (write(fd, line, 2 * KEY_BYTES + 1) != 2 * KEY_BYTES + 1 || pg_fsync(fd) != 0)
	{
		int save_errno = errno;

		close(fd);
		unlink(path);
		errno = save_errno;
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not write master key file \"%s\": %m", path)));
	}
	close(fd);
	explicit_bzero(key, sizeof(key));
	explicit_bzero(line, sizeof(line));
	PG_RETURN_BOOL(true);
}
