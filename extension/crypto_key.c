/*
 * crypto_key.c - the master key file of the personal data encryption (docs/security-crypto.md).
 *
 * The master keys wrap the per-removal data keys (sql/parts/73_crypto_keys.sql). They are never
 * stored in a table and never appear in a query text: they are read from the file named by
 * hublink.master_key_file, which only the server's operating system user may read. The file
 * holds one key per line, 64 hexadecimal digits (256 bits); the last line is the current key,
 * the earlier ones are kept only until hublink.rotate_master_key() has re-wrapped every data
 * key that they wrap (NFR 0011).
 */
#include "postgres.h"

#include <fcntl.h>
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

char *hublink_master_key_file = NULL;

void
hublink_crypto_define_settings(void)
{
	DefineCustomStringVariable(
		"hublink.master_key_file",
		"File holding the master keys that wrap the per-removal data keys.",
		"One key per line, 64 hexadecimal digits; the last line is the current key. A relative "
		"path is relative to the data directory. It must be readable by the server's user only.",
		&hublink_master_key_file, "hublink_master.key", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL,
		NULL);
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
 * install script calls it, so a new installation can seal at once; production installations
 * should point the setting at a file outside the data directory (docs/security-crypto.md).
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
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
	{
		if (errno == EEXIST)
			PG_RETURN_BOOL(false);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create master key file \"%s\": %m", path),
				 errdetail("A new key file is created only where none exists."),
				 errhint("Check that the server's user may write to the file's directory.")));
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
