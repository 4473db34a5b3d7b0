"""Opening ``security.db``: state-dir checks, pragmas, schema, and mapping SQLite failures to typed errors."""

from __future__ import annotations

import os
import secrets
import sqlite3
from pathlib import Path
from typing import Final
from urllib.parse import quote

from pi_sandbox import schemas
from pi_sandbox.audit.chain import GENESIS
from pi_sandbox.errors import AuditStoreError, LedgerCorruptError, StateDirError

DB_FILE: Final = "security.db"
#: SQLite's write-ahead log next to the database: what :meth:`AuditStore.sync` makes durable.
WAL_SUFFIX: Final = "-wal"
#: 2: each entry's forensic record in its own row (``ledger.forensic``) instead of ``ledger_forensics``,
#: and the kind index narrowed to entries that are not hostcalls (see :func:`_to_v2`).
SCHEMA_VERSION: Final = 2
BUSY_TIMEOUT_S: Final = 30.0
#: Page size of a new database (an existing one keeps its own). A commit writes every page it dirtied as
#: one WAL frame: with a realistic entry (~1.2 KB with its forensic record) 1 KiB pages write ~6.3 frames
#: (~6.6 KB) per single-entry commit, 4 KiB pages ~4 frames but ~16 KB, and no less CPU (docs/ledger.md).
PAGE_SIZE: Final = 1024

# ``ledger.id`` is the physical (insertion) order; ``seq`` is the chain position. Keeping them apart
# is what lets verification tell a reordered or duplicated row from a missing one.
_DDL: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    extension_id TEXT,
    call_id TEXT,
    capability TEXT,
    method TEXT,
    params_hash TEXT,
    decision TEXT NOT NULL,
    layer INTEGER,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ledger_by_seq ON ledger(seq);
CREATE INDEX IF NOT EXISTS ledger_by_extension ON ledger(extension_id, seq);
CREATE TABLE IF NOT EXISTS ledger_checkpoints (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    head_hash TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    sequence_id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    category TEXT NOT NULL,
    severity TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,
    extension_id TEXT,
    summary TEXT NOT NULL,
    reason_codes TEXT NOT NULL,
    capability TEXT,
    method TEXT,
    call_id TEXT,
    action TEXT NOT NULL,
    remediation TEXT NOT NULL,
    context_hash TEXT
);
CREATE INDEX IF NOT EXISTS alerts_by_category ON alerts(category, sequence_id);
CREATE INDEX IF NOT EXISTS alerts_by_extension ON alerts(extension_id, sequence_id);
CREATE TABLE IF NOT EXISTS records (
    record_id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    extension_id TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_kind ON records(kind, record_id);
"""
#: Indexes and tables added after schema version 1 was released: created on every writable open (cheap
#: when present). ``config_versions`` holds every resolved configuration an entry was decided under, by
#: digest. (Version 1 databases also carry ``ledger_forensics``, the forensic records of the entries written
#: before version 2: see :func:`_to_v2`.)
_LATER_INDEXES: Final = (
    "CREATE INDEX IF NOT EXISTS records_by_extension ON records(extension_id, kind, record_id)",
    "CREATE TABLE IF NOT EXISTS config_versions (digest TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL, body TEXT NOT NULL)",
)
#: The sidecar table of forensic records written before schema version 2 (read, never written).
FORENSICS_TABLE: Final = "ledger_forensics"
#: The column holding an entry's forensic record since schema version 2.
FORENSIC_COLUMN: Final = "forensic"
#: The kind that makes up nearly every entry. The kind index leaves it out: queries by kind look for the
#: rare kinds (trust, kill switch, incident, config, ...), and hostcalls are found by extension or seq.
HOSTCALL_KIND: Final = "hostcall"
#: Version 2's kind index (version 1's ``ledger_by_kind`` covered every entry: one more B-tree page per
#: append, ~1.3 of ~7.6 WAL frames per realistic entry).
_KIND_INDEX: Final = (f"CREATE INDEX IF NOT EXISTS ledger_by_other_kind ON ledger(kind, seq) "
                      f"WHERE kind <> '{HOSTCALL_KIND}'")
#: Columns added after schema version 1: (table, column, type). Checkpoints carry the Merkle root over
#: entries 1..seq and the frontier the next checkpoint continues from (:mod:`.merkle`).
_LATER_COLUMNS: Final = (
    ("ledger_checkpoints", "merkle_root", "TEXT"),
    ("ledger_checkpoints", "merkle_frontier", "TEXT"),
)


def corrupt_error(path: Path, exc: BaseException) -> LedgerCorruptError:
    """The error for a damaged database: names the file and what to do; the file is left untouched."""
    return LedgerCorruptError(
        f"audit database {path} is damaged or not a SQLite database ({exc}); it was left untouched. "
        "Keep it for forensics and restore it from backup, or set it aside (moving it by hand would lift every "
        "kill switch and quarantine it records)"
    )


def ensure_state_dir(state_dir: Path) -> None:
    """Create the state dir (mode 0700) if needed and check it is a writable directory."""
    if state_dir.exists() and not state_dir.is_dir():
        raise StateDirError(
            f"security state dir {state_dir} exists but is not a directory; set PI_SECURITY_DIR"
        )
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StateDirError(
            f"cannot create security state dir {state_dir}: {exc.strerror or exc}; set PI_SECURITY_DIR "
            "to a writable directory"
        ) from None
    if not os.access(state_dir, os.W_OK | os.X_OK):
        raise StateDirError(
            f"security state dir {state_dir} is not writable by this user; fix its permissions "
            "or set PI_SECURITY_DIR to a writable directory"
        )


def connect(db_path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, ``synchronous=NORMAL``.

    NORMAL: a commit writes its WAL frames (so it survives ``kill -9``) without an fsync; the store
    syncs the WAL itself (:meth:`AuditStore.sync`) before effects and in its group commit, and SQLite
    still syncs around every WAL checkpoint, so the database is always consistent.

    ``read_only`` connections never create the file and never change the schema. In a folder this user
    cannot write (evidence on read-only media, a read-only mount), where SQLite cannot open a WAL database
    even for reading, they read a private copy of the database and its WAL instead.
    """
    try:
        return _connect(db_path, read_only=read_only)
    except LedgerCorruptError:
        raise
    except AuditStoreError:
        if not read_only or os.access(db_path.parent, os.W_OK) or not os.access(db_path, os.R_OK):
            raise
        return _connect(_private_copy(db_path), read_only=True, shown=db_path)


#: Private copies made by :func:`_private_copy`, removed when the process exits.
_COPIES: list[Path] = []


def _remove_copies() -> None:
    import shutil

    for folder in _COPIES:
        shutil.rmtree(folder, ignore_errors=True)


def _private_copy(db_path: Path) -> Path:
    """Copy ``security.db`` and its ``-wal`` (the ``-shm`` index is rebuilt from them) into a private temp
    folder; the copy holds the same bytes, so what is read there is what the read-only folder holds."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="pi-sandbox-ro-ledger-"))
    if not _COPIES:
        atexit.register(_remove_copies)
    _COPIES.append(folder)
    try:
        for suffix in ("", "-wal"):
            source = db_path.with_name(db_path.name + suffix)
            if source.is_file():
                shutil.copyfile(source, folder / source.name)
    except OSError as exc:
        raise AuditStoreError(f"cannot read audit database {db_path}: {exc.strerror or exc}") from None
    return folder / db_path.name


def _connect(db_path: Path, *, read_only: bool, shown: Path | None = None) -> sqlite3.Connection:
    """:func:`connect` without the read-only-folder fallback; errors name ``shown`` (the original file)."""
    named = shown or db_path
    try:
        if read_only:
            # Quoted: a raw path with '#', '?' or '%' would name another file inside a URI.
            conn = sqlite3.connect(
                f"file:{quote(str(db_path.absolute()))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S,
                isolation_level=None, check_same_thread=False,
            )
        else:
            _create_private(db_path)
            conn = sqlite3.connect(
                db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
    except sqlite3.OperationalError as exc:
        raise AuditStoreError(f"cannot open audit database {named}: {exc}") from None
    # (connect() itself reads nothing; damage shows on the first statement below.)
    try:
        # The first read of the header is where a damaged file shows; nothing is written before it.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if not read_only:
            if tables == 0:
                # Only settable before the first table exists (and before WAL): every commit fsyncs
                # the few pages it dirtied (table leaf, two index leaves, ...), and smaller pages
                # mean fewer bytes per fsync (3-6 % faster durable appends on this disk).
                conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            _migrate(conn, version)
        else:
            conn.execute("PRAGMA query_only=1")
    except sqlite3.DatabaseError as exc:
        conn.close()
        if isinstance(exc, sqlite3.OperationalError) and _is_io_problem(exc):
            raise AuditStoreError(f"cannot use audit database {named}: {exc}") from None
        raise corrupt_error(named, exc) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _create_private(db_path: Path) -> None:
    """Create an empty database file readable by its owner only (SQLite gives -wal/-shm the same mode)."""
    try:
        os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise AuditStoreError(f"cannot create audit database {db_path}: {exc.strerror or exc}") from None


def _is_io_problem(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("locked", "readonly", "read-only", "unable to open", "disk i/o"))


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise AuditStoreError(
            f"audit database schema version {version} is newer than this pi-sandbox supports "
            f"({SCHEMA_VERSION}); upgrade pi-sandbox"
        )
    if version < 1:
        _create_schema(conn)
    for statement in _LATER_INDEXES:
        conn.execute(statement)
    for table, column, kind in _LATER_COLUMNS:
        if column not in table_columns(conn, table):
            try:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):  # another process added it meanwhile
                    raise
    if version < 2:
        _to_v2(conn)


def _to_v2(conn: sqlite3.Connection) -> None:
    """Schema 1 -> 2, in one transaction (another process may be migrating the same file).

    Adds the nullable ``ledger.forensic`` column that new entries carry their forensic record in (one row
    instead of a row in ``ledger_forensics`` too: ~2 WAL frames and one statement less per append), and
    replaces the kind index by one over the entries that are not hostcalls. Existing rows are not touched:
    ``ledger_forensics`` stays and every reader looks in both places (:mod:`.queries`). Building the new
    index reads the table once (a few seconds for millions of entries, once). The page size stays what it
    was: changing it would rewrite the whole file (``VACUUM``), which a WAL database cannot do in place."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] < 2:
            if FORENSIC_COLUMN not in table_columns(conn, "ledger"):
                conn.execute(f"ALTER TABLE ledger ADD COLUMN {FORENSIC_COLUMN} TEXT")
            conn.execute("DROP INDEX IF EXISTS ledger_by_kind")
            conn.execute(_KIND_INDEX)
            conn.execute("PRAGMA user_version=2")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` (empty when it does not exist)."""
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def seq_is_unique(conn: sqlite3.Connection) -> bool:
    """Whether the database enforces unique ``ledger.seq`` on every row (the index every schema creates)."""
    for index in conn.execute("PRAGMA index_list(ledger)").fetchall():
        name, unique, partial = str(index[1]), bool(index[2]), bool(index[4])
        if unique and not partial and [str(c[2]) for c in conn.execute(
                f"PRAGMA index_info({quote_ident(name)})")] == ["seq"]:
            return True
    return False


def quote_ident(name: str) -> str:
    """``name`` as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def new_ledger_id() -> str:
    """A random id naming one ledger (kept in ``meta``): a database swapped for another shows."""
    return secrets.token_hex(16)


def meta_value(conn: sqlite3.Connection, key: str) -> str | None:
    """One ``meta`` value, or None when it is not set (or the table is gone)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def _create_schema(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
            for statement in _DDL.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                [("schema", schemas.LEDGER_SCHEMA), ("genesis", GENESIS), ("ledger_id", new_ledger_id())],
            )
            conn.execute("PRAGMA user_version=1")  # then migrated like any version 1 database
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
