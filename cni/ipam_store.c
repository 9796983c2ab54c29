/* skiff-ipam's lease store on SQLite; the design is in ipam_store.h. */
#include "cni/ipam_store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"

#define IPAM_BUSY_TIMEOUT_MS 60000
#define IPAM_WAL_TRIM_BYTES (256 * 1024)

struct ipam_store {
	sqlite3 *db;
	int lock_fd; /* <dir>/lock, flock()ed around every write transaction */
	bool locked;
};

static const char ipam_schema[] =
	"CREATE TABLE IF NOT EXISTS leases ("
	"  ip BLOB PRIMARY KEY,"          /* 4 or 16 bytes, network order */
	"  rset INTEGER NOT NULL,"        /* range set index at allocation */
	"  container_id TEXT NOT NULL,"
	"  ifname TEXT NOT NULL,"
	"  created INTEGER NOT NULL"      /* unix seconds */
	") WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS leases_owner ON leases(container_id, ifname);"
	"CREATE TABLE IF NOT EXISTS last_reserved ("
	"  rset INTEGER PRIMARY KEY,"
	"  ip BLOB NOT NULL"
	");";

static void stmt_finalizep(sqlite3_stmt **st)
{
	sqlite3_finalize(*st);
}
#define _cleanup_stmt_ _cleanup_(stmt_finalizep)

static int sqlite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_PERM:
	case SQLITE_READONLY:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	default:
		return -EIO;
	}
}

bool ipam_addr_inc(struct ipaddr *a)
{
	for (size_t i = ipaddr_len(a); i-- > 0;)
		if (++a->bytes[i] != 0)
			return true;
	return false;
}

bool ipam_addr_dec(struct ipaddr *a)
{
	for (size_t i = ipaddr_len(a); i-- > 0;)
		if (a->bytes[i]-- != 0)
			return true;
	return false;
}

static void addr_from_blob(struct ipaddr *a, const void *blob, int len)
{
	memset(a, 0, sizeof(*a));
	a->family = len == 16 ? AF_INET6 : AF_INET;
	memcpy(a->bytes, blob, ipaddr_len(a));
}

static int bind_addr(sqlite3_stmt *st, int idx, const struct ipaddr *a)
{
	return sqlite3_bind_blob(st, idx, a->bytes, (int)ipaddr_len(a), SQLITE_TRANSIENT);
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Every user of the store holds a flock() of <dir>/lock from open to
 * close, so ADDs, DELs and GCs of one network run one after the other.
 * The kernel hands the lock to the next waiter the moment it is released
 * (or its holder dies). Without it, processes queue in SQLite's busy
 * handler, which polls with sleeps of up to 100 ms, also while one of them
 * opens or closes the WAL, and made 64 concurrent ADDs three times slower.
 * A store operation is a millisecond or two, so holding the lock across
 * open and close costs nothing; SQLite's own locking still guards the data. */
static int store_lock(struct ipam_store *s)
{
	if (s->locked)
		return 0;
	while (flock(s->lock_fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	s->locked = true;
	return 0;
}

static void store_unlock(struct ipam_store *s)
{
	if (!s->locked)
		return;
	flock(s->lock_fd, LOCK_UN);
	s->locked = false;
}

static int store_exec(struct ipam_store *s, const char *sql)
{
	return sqlite_errno(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

/* journal_mode=WAL needs an exclusive lock the first time; when many
 * processes open a fresh store at once some get SQLITE_BUSY without the
 * busy handler, so retry for a while. */
static int store_set_wal(struct ipam_store *s)
{
	for (int i = 0; i < 2000; i++) {
		int rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);

		if (rc == SQLITE_OK)
			return 0;
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			return sqlite_errno(rc);
		usleep(1000 + (unsigned)(i % 10) * 500);
	}
	return -EBUSY;
}

int ipam_store_open(const char *dir, struct ipam_store **out, char *errmsg, size_t errsize)
{
	char path[4096], lock[4096];
	struct ipam_store *s;
	int r, persist = 1;

	if (errmsg && errsize)
		errmsg[0] = '\0';
	r = mkdir_p(dir, 0755);
	if (r < 0) {
		if (errmsg)
			snprintf(errmsg, errsize, "cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/leases.db", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	if ((size_t)snprintf(lock, sizeof(lock), "%s/lock", dir) >= sizeof(lock)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0) {
		r = -errno;
		if (errmsg)
			snprintf(errmsg, errsize, "cannot open %s: %s", lock, strerror(-r));
		goto fail;
	}
	r = store_lock(s);
	if (r < 0)
		goto fail;
	r = sqlite3_open_v2(path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (r != SQLITE_OK) {
		if (errmsg)
			snprintf(errmsg, errsize, "cannot open %s: %s", path,
				 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(r));
		r = sqlite_errno(r);
		goto fail;
	}
	sqlite3_busy_timeout(s->db, IPAM_BUSY_TIMEOUT_MS);
	/* Each plugin run is usually the only connection. By default its
	 * close would checkpoint, fsync the database and delete the WAL, and
	 * the next run would create and fsync a new WAL and its folder.
	 * Instead the WAL file stays and close checkpoints only when it has
	 * grown (ipam_store_close). Why synchronous=NORMAL: ipam_store.h. */
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
	/* The flock serializes every connection, so SQLite's own shared
	 * memory and byte-range locks guard nothing here: exclusive locking
	 * keeps the WAL index in the heap (no -shm file to create, truncate,
	 * map and lock at every open). Must precede the first WAL access. */
	r = store_exec(s, "PRAGMA locking_mode=EXCLUSIVE");
	if (r == 0)
		r = store_set_wal(s);
	if (r == 0)
		r = store_exec(s, "PRAGMA synchronous=NORMAL");
	if (r == 0)
		r = store_exec(s, ipam_schema);
	if (r < 0) {
		if (errmsg)
			snprintf(errmsg, errsize, "cannot set up %s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	ipam_store_close(s);
	return r < 0 ? r : -EIO;
}

/* A new connection rebuilds its WAL index by reading the whole WAL, and a
 * WAL only restarts from its beginning inside a connection that saw it
 * fully checkpointed, which one commit per connection never does. So the
 * holder of the lock folds a grown WAL into the database and truncates it
 * before closing; failure only leaves the WAL longer. */
static void store_trim_wal(struct ipam_store *s)
{
	const char *file = sqlite3_db_filename(s->db, "main");
	char wal[4200];
	struct stat st;

	if (!file || (size_t)snprintf(wal, sizeof(wal), "%s-wal", file) >= sizeof(wal))
		return;
	if (stat(wal, &st) < 0 || st.st_size <= IPAM_WAL_TRIM_BYTES)
		return;
	sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
}

void ipam_store_close(struct ipam_store *s)
{
	if (!s)
		return;
	if (s->db && s->locked)
		store_trim_wal(s);
	sqlite3_close(s->db);
	store_unlock(s);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
}

const char *ipam_store_errmsg(struct ipam_store *s)
{
	return s && s->db ? sqlite3_errmsg(s->db) : "out of memory";
}

int ipam_store_begin(struct ipam_store *s)
{
	int r = store_lock(s);

	if (r < 0)
		return r;
	return store_exec(s, "BEGIN IMMEDIATE");
}

int ipam_store_commit(struct ipam_store *s)
{
	return store_exec(s, "COMMIT");
}

void ipam_store_rollback(struct ipam_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int prepare(struct ipam_store *s, const char *sql, sqlite3_stmt **st)
{
	return sqlite_errno(sqlite3_prepare_v2(s->db, sql, -1, st, NULL));
}

static void lease_from_row(sqlite3_stmt *st, struct ipam_lease *l)
{
	const char *cid = (const char *)sqlite3_column_text(st, 2);
	const char *ifn = (const char *)sqlite3_column_text(st, 3);

	addr_from_blob(&l->ip, sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0));
	l->rset = sqlite3_column_int(st, 1);
	snprintf(l->container_id, sizeof(l->container_id), "%s", cid ? cid : "");
	snprintf(l->ifname, sizeof(l->ifname), "%s", ifn ? ifn : "");
}

int ipam_store_owner_leases(struct ipam_store *s, const char *container_id, const char *ifname,
			    struct ipam_lease *out, int max)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, n = 0;

	r = prepare(s, "SELECT ip, rset, container_id, ifname FROM leases "
		       "WHERE container_id = ?1 AND ifname = ?2 ORDER BY rset, ip", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, container_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ifname, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (n < max)
			lease_from_row(st, &out[n]);
		n++;
	}
	if (r != SQLITE_DONE)
		return sqlite_errno(r);
	return n < max ? n : max;
}

int ipam_store_lookup(struct ipam_store *s, const struct ipaddr *ip, struct ipam_lease *owner)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = prepare(s, "SELECT ip, rset, container_id, ifname FROM leases WHERE ip = ?1", &st);
	if (r < 0)
		return r;
	bind_addr(st, 1, ip);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		if (owner)
			lease_from_row(st, owner);
		return 1;
	}
	return r == SQLITE_DONE ? 0 : sqlite_errno(r);
}

/* Moves cand past skip; false when that leaves [.., to]. */
static bool step_past_skip(struct ipaddr *cand, const struct ipaddr *to,
			   const struct ipaddr *skip)
{
	if (skip && ipaddr_cmp(cand, skip) == 0) {
		if (ipaddr_cmp(cand, to) >= 0 || !ipam_addr_inc(cand))
			return false;
	}
	return true;
}

int ipam_store_next_free(struct ipam_store *s, const struct ipaddr *from,
			 const struct ipaddr *to, const struct ipaddr *skip,
			 struct ipaddr *out)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct ipaddr cand = *from;
	size_t len = ipaddr_len(from);
	int r;

	if (ipaddr_cmp(from, to) > 0)
		return -ENOSPC;
	if (!step_past_skip(&cand, to, skip))
		return -ENOSPC;
	/* The leased addresses from cand on, in order: the first one that is
	 * not cand leaves cand free. Cost is the run of consecutive leases
	 * after from, never the size of the range. */
	r = prepare(s, "SELECT ip FROM leases WHERE ip >= ?1 AND ip <= ?2 "
		       "AND length(ip) = ?3 ORDER BY ip", &st);
	if (r < 0)
		return r;
	bind_addr(st, 1, &cand);
	bind_addr(st, 2, to);
	sqlite3_bind_int(st, 3, (int)len);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(st, 0);
		int c;

		if ((size_t)sqlite3_column_bytes(st, 0) != len)
			continue;
		c = memcmp(blob, cand.bytes, len);
		if (c > 0)
			break;
		if (c < 0)
			continue;
		/* cand is leased: try the next address. */
		if (ipaddr_cmp(&cand, to) >= 0 || !ipam_addr_inc(&cand))
			return -ENOSPC;
		if (!step_past_skip(&cand, to, skip))
			return -ENOSPC;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return sqlite_errno(r);
	if (ipaddr_cmp(&cand, to) > 0)
		return -ENOSPC;
	*out = cand;
	return 0;
}

int ipam_store_insert(struct ipam_store *s, const struct ipaddr *ip, int rset,
		      const char *container_id, const char *ifname)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = prepare(s, "INSERT INTO leases (ip, rset, container_id, ifname, created) "
		       "VALUES (?1, ?2, ?3, ?4, ?5)", &st);
	if (r < 0)
		return r;
	bind_addr(st, 1, ip);
	sqlite3_bind_int(st, 2, rset);
	sqlite3_bind_text(st, 3, container_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ifname, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	return sqlite_errno(sqlite3_step(st));
}

int ipam_store_last_reserved(struct ipam_store *s, int rset, struct ipaddr *out)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, len;

	r = prepare(s, "SELECT ip FROM last_reserved WHERE rset = ?1", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int(st, 1, rset);
	r = sqlite3_step(st);
	if (r == SQLITE_DONE)
		return -ENOENT;
	if (r != SQLITE_ROW)
		return sqlite_errno(r);
	len = sqlite3_column_bytes(st, 0);
	if (len != 4 && len != 16)
		return -ENOENT;
	addr_from_blob(out, sqlite3_column_blob(st, 0), len);
	return 0;
}

int ipam_store_set_last_reserved(struct ipam_store *s, int rset, const struct ipaddr *ip)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = prepare(s, "INSERT OR REPLACE INTO last_reserved (rset, ip) VALUES (?1, ?2)", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int(st, 1, rset);
	bind_addr(st, 2, ip);
	return sqlite_errno(sqlite3_step(st));
}

int ipam_store_release(struct ipam_store *s, const char *container_id, const char *ifname)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = prepare(s, "DELETE FROM leases WHERE container_id = ?1 AND ifname = ?2", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, container_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ifname, -1, SQLITE_STATIC);
	r = sqlite_errno(sqlite3_step(st));
	return r < 0 ? r : sqlite3_changes(s->db);
}

int ipam_store_gc(struct ipam_store *s, const struct ipam_attachment *keep, size_t n)
{
	_cleanup_stmt_ sqlite3_stmt *ins = NULL;
	_cleanup_stmt_ sqlite3_stmt *del = NULL;
	int r, count;

	r = store_exec(s, "CREATE TEMP TABLE IF NOT EXISTS gc_keep ("
			  "container_id TEXT NOT NULL, ifname TEXT NOT NULL,"
			  "PRIMARY KEY (container_id, ifname)) WITHOUT ROWID");
	if (r < 0)
		return r;
	r = ipam_store_begin(s);
	if (r < 0)
		return r;
	r = store_exec(s, "DELETE FROM gc_keep");
	if (r < 0)
		goto fail;
	r = prepare(s, "INSERT OR IGNORE INTO gc_keep VALUES (?1, ?2)", &ins);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_text(ins, 1, keep[i].container_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, keep[i].ifname, -1, SQLITE_STATIC);
		r = sqlite_errno(sqlite3_step(ins));
		sqlite3_reset(ins);
		if (r < 0)
			goto fail;
	}
	r = prepare(s, "DELETE FROM leases WHERE NOT EXISTS (SELECT 1 FROM gc_keep k "
		       "WHERE k.container_id = leases.container_id AND k.ifname = leases.ifname)",
		    &del);
	if (r < 0)
		goto fail;
	r = sqlite_errno(sqlite3_step(del));
	if (r < 0)
		goto fail;
	count = sqlite3_changes(s->db);
	r = store_exec(s, "DELETE FROM gc_keep");
	if (r < 0)
		goto fail;
	r = ipam_store_commit(s);
	if (r < 0)
		goto fail;
	return count;
fail:
	ipam_store_rollback(s);
	return r;
}
