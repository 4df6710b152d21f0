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
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"

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
read_key_file(const char *path, int *length)
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

PG_FUNCTION_INFO_V1(hublink_master_keys);

/*
 * hublink.master_keys() returns bytea[]: the keys of the file, oldest first, the current one
 * last. Revoked from PUBLIC; only the SECURITY DEFINER key functions of 73_crypto_keys.sql
 * call it, so the keys live in their variables and never in a query text or a table.
 */
Datum
hublink_master_keys(PG_FUNCTION_ARGS)
{
	const char *path = hublink_master_key_file;
	Datum *keys;
	int nkeys = 0;
	int length;
	char *text;
	char *line;
	char *save = NULL;

	if (path == NULL || path[0] == '\0')
		refuse_file("", "hublink.master_key_file is empty.",
					"Set hublink.master_key_file in postgresql.conf and reload.");
	refuse_inside_data_directory(path);
	text = read_key_file(path, &length);
	keys = palloc(sizeof(Datum) * (length / (2 * KEY_BYTES) + 1));
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
	{
		size_t len = strlen(line);
		bytea *key;

		while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
			len--;
		if (len == 0 || line[0] == '#')
			continue;
		if (len != 2 * KEY_BYTES)
			refuse_file(path, "A line of the file is not 64 hexadecimal digits.",
						"Write one key per line, 64 hexadecimal digits (256 bits).");
		key = palloc(VARHDRSZ + KEY_BYTES);
		SET_VARSIZE(key, VARHDRSZ + KEY_BYTES);
		for (int i = 0; i < KEY_BYTES; i++)
		{
			int hi = hex_value(line[2 * i]);
			int lo = hex_value(line[2 * i + 1]);

			if (hi < 0 || lo < 0)
				refuse_file(path, "A line of the file is not 64 hexadecimal digits.",
							"Write one key per line, 64 hexadecimal digits (256 bits).");
			((unsigned char *) VARDATA(key))[i] = (unsigned char) (hi << 4 | lo);
		}
		keys[nkeys++] = PointerGetDatum(key);
	}
	explicit_bzero(text, length);
	pfree(text);
	if (nkeys == 0)
		refuse_file(path, "The file holds no key.",
					"Write one key per line, 64 hexadecimal digits.");
	PG_RETURN_ARRAYTYPE_P(construct_array(keys, nkeys, BYTEAOID, -1, false, TYPALIGN_INT));
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
