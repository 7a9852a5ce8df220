"""Where skdeep keeps compiled code on disk, and how it keeps it safe.

Everything skdeep writes to disk and later loads as code goes through this
module: generated block sources and Numba's cache entries of the kernels
and blocks. Whoever can write these files can run code in every process
that trains a model, so:

- **Private directories only.** The cache root (:func:`cache_root`) is
  chosen once per process: ``SKDEEP_CACHE_DIR``, else
  ``$NUMBA_CACHE_DIR/skdeep``, else ``$XDG_CACHE_HOME/skdeep`` (default
  ``~/.cache/skdeep``), else ``<tmp>/skdeep-cache-<uid>``. Missing
  directories are created owner-only (0700). A directory is used only when
  it is owned by the current user and not writable by group or others, and
  every directory above it is owned by the user or root and not writable by
  others unless sticky (as ssh checks its files). A refused candidate is
  skipped with one :class:`CacheWarning` naming it and the fix; when none is
  safe, everything compiles in memory.
- **Atomic, validated files.** Every file is written to a temporary file in
  the same directory and renamed over the target, so readers see a whole
  file or none. Numba entries are sealed with a SHA-256 digest of their
  content and carry the key they were saved under; a truncated, corrupt,
  foreign or misfiled entry is discarded and recompiled. A block source is
  never read back as code: it is compiled from the source generated in
  memory, and the file is rewritten when it differs.
- **Failures degrade, never fail a fit.** A read-only or full cache gives one
  warning and the code is kept in memory.

The digest detects damage, not an attacker: Numba's entries are pickles,
trusted because only the user can write the directory they are in.
``SKDEEP_DISABLE_CACHE=1`` turns all of it off.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import stat
import tempfile
import threading
import warnings

CACHE_ENV = "SKDEEP_CACHE_DIR"
DISABLE_ENV = "SKDEEP_DISABLE_CACHE"

# Bump when the layout or the file format below changes.
FORMAT_VERSION = "1"
_MAGIC = b"skdeep-cache-" + FORMAT_VERSION.encode() + b"\n"
_DIGEST_SIZE = 32


class CacheWarning(UserWarning):
    """A cache directory was refused or could not be written; skdeep
    compiles in memory (or elsewhere) instead."""


class CorruptEntry(Exception):
    """A cache file failed validation."""


_lock = threading.RLock()
_UNSET = object()
_root = _UNSET
_safe_dirs = set()
_warned = set()
_source_stamps = {}


def _flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def warn_once(key, message):
    """Issue ``message`` as a :class:`CacheWarning` once per process."""
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(message, CacheWarning, stacklevel=3)


def _candidates():
    """The cache roots to try, in order, as ``(path, where_it_came_from)``."""
    found = []
    if os.environ.get(CACHE_ENV):
        found.append((os.environ[CACHE_ENV], CACHE_ENV))
    if os.environ.get("NUMBA_CACHE_DIR"):
        found.append((os.path.join(os.environ["NUMBA_CACHE_DIR"], "skdeep"),
                      "NUMBA_CACHE_DIR"))
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~")
        found.append((os.path.join(base, "skdeep", "Cache"), "LOCALAPPDATA"))
        return found
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    found.append((os.path.join(xdg, "skdeep"), "the user cache directory"))
    found.append((os.path.join(tempfile.gettempdir(), f"skdeep-cache-{os.geteuid()}"),
                  "the temporary-directory fallback"))
    return found


def _mode_problem(path, st, owner_only):
    """Why a directory with status ``st`` is unsafe, or None."""
    uid = os.geteuid()
    if owner_only:
        if st.st_uid != uid:
            return f"{path} is owned by uid {st.st_uid}, not by you (uid {uid})"
        if st.st_mode & 0o022:
            return (f"{path} is writable by group or others "
                    f"(mode {stat.S_IMODE(st.st_mode):o})")
        return None
    if st.st_uid not in (0, uid):
        return f"{path} (above the cache) is owned by uid {st.st_uid}"
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        return (f"{path} (above the cache) is writable by group or others and "
                f"not sticky (mode {stat.S_IMODE(st.st_mode):o})")
    return None


def unsafe_reason(path):
    """Why ``path`` must not hold code skdeep loads, or None when it is safe.

    Safe: a directory owned by the current user, not writable by group or
    others, every directory above it owned by the user or root and not
    writable by others (sticky directories such as ``/tmp`` excepted), and
    no symbolic link on the way owned by someone else.
    """
    if os.name == "nt" or not hasattr(os, "geteuid"):
        # No POSIX ownership to check; the default location is per-user
        # (LOCALAPPDATA), protected by the profile's access control list.
        return None
    path = os.path.abspath(path)
    uid = os.geteuid()
    # A link another user owns could be re-pointed after the check.
    part = path
    while True:
        try:
            st = os.lstat(part)
        except OSError as exc:
            return f"{part} cannot be examined ({exc.strerror})"
        if stat.S_ISLNK(st.st_mode):
            if st.st_uid not in (0, uid):
                return f"{part} is a symbolic link owned by uid {st.st_uid}"
            problem = unsafe_ancestors(os.path.dirname(part))
            if problem:
                return problem
        parent = os.path.dirname(part)
        if parent == part:
            break
        part = parent
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as exc:
        return f"{real} cannot be examined ({exc.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return f"{real} is not a directory"
    return _mode_problem(real, st, owner_only=True) or unsafe_ancestors(
        os.path.dirname(real))


def unsafe_ancestors(path):
    """Why a directory at or above ``path`` makes what is below unsafe."""
    part = os.path.realpath(path)
    while True:
        try:
            st = os.stat(part)
        except OSError as exc:
            return f"{part} cannot be examined ({exc.strerror})"
        problem = _mode_problem(part, st, owner_only=False)
        if problem:
            return problem
        parent = os.path.dirname(part)
        if parent == part:
            return None
        part = parent


def _make_private(path):
    """Create ``path`` and its missing parents owner-only (0700)."""
    path = os.path.abspath(path)
    missing = []
    while not os.path.lexists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:  # made concurrently: checked like any other
            pass


def cache_root():
    """The private directory for compiled code, or None to compile in memory.

    Chosen once per process (see the module docstring); refused candidates
    are named in one :class:`CacheWarning`.
    """
    global _root
    with _lock:
        if _root is _UNSET:
            _root = None if _flag(DISABLE_ENV) else _choose_root()
        return _root


def _choose_root():
    refused = []
    chosen = None
    for path, origin in _candidates():
        try:
            _make_private(path)
        except OSError as exc:
            refused.append(f"{path} ({origin}) cannot be created: {exc.strerror}")
            continue
        problem = unsafe_reason(path)
        if problem:
            refused.append(f"{path} ({origin}) is not private: {problem}")
            continue
        chosen = os.path.realpath(path)
        break
    if refused:
        where = (f"using {chosen}" if chosen else
                 "compiling in memory (every new process compiles again)")
        warn_once("root", (
            "skdeep skipped compilation-cache directories it cannot use "
            "safely: " + "; ".join(refused) + f". Now {where}. To fix, point "
            f"{CACHE_ENV} at a directory only you can write (mode 700), e.g. "
            "`mkdir -m 700 ~/.cache/skdeep`, or set "
            f"{DISABLE_ENV}=1 to compile in memory without this warning."))
    if chosen is not None:
        _safe_dirs.add(chosen)
    return chosen


def private_subdir(*parts):
    """``os.path.join(cache_root(), *parts)``, created owner-only and checked.

    Raises
    ------
    OSError
        When there is no cache root, or the directory cannot be created or
        is not private (it then must not be used).
    """
    root = cache_root()
    if root is None:
        raise OSError("skdeep has no private cache directory")
    path = os.path.join(root, *parts)
    if path in _safe_dirs:
        return path
    _make_private(path)
    # Below a checked root only the user (or root) can have made it; check
    # it all the same, without walking the parents again.
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise OSError(f"{path} is not a plain directory")
    if hasattr(os, "geteuid"):
        problem = _mode_problem(path, st, owner_only=True)
        if problem:
            raise OSError(problem)
    _safe_dirs.add(path)
    return path


def write_atomic(path, data):
    """Write ``data`` (bytes) to ``path`` atomically; return whether it did.

    The bytes go to a private temporary file in the same directory that is
    then renamed over ``path``: a process killed mid-write leaves at most a
    stray temporary file, never a partial ``path``. A failure (read-only or
    full disk) gives one :class:`CacheWarning` and returns False.
    """
    directory = os.path.dirname(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-",
                                   suffix="-" + os.path.basename(path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return True
    except OSError as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        warn_once("write", (
            f"skdeep cannot write its compilation cache in {directory} "
            f"({exc.strerror or exc}); compiled code is kept in memory only, so "
            "new processes compile again. Free space or make the directory "
            f"writable, or point {CACHE_ENV} elsewhere."))
        return False


def ensure_file(path, data):
    """Make ``path`` hold exactly ``data`` (bytes), rewriting it if not.

    Used for generated sources that are written for people to read (and
    Numba's locator to name) but never executed from the file.
    """
    try:
        with open(path, "rb") as fh:
            if fh.read(len(data) + 1) == data:
                return True
    except OSError:
        pass
    return write_atomic(path, data)


def seal(payload):
    """``payload`` prefixed with the format marker and its SHA-256 digest."""
    return _MAGIC + hashlib.sha256(payload).digest() + payload


def unseal(raw):
    """The payload of :func:`seal`'s output; :class:`CorruptEntry` if damaged."""
    head = len(_MAGIC) + _DIGEST_SIZE
    if len(raw) < head or not raw.startswith(_MAGIC):
        raise CorruptEntry("not a skdeep cache entry of this format")
    payload = raw[head:]
    if hashlib.sha256(payload).digest() != raw[len(_MAGIC):head]:
        raise CorruptEntry("digest mismatch (truncated or modified)")
    return payload


def register_source(filename, source):
    """Record the in-memory source a generated file stands for.

    Numba keys cache entries on their source file's freshness; for generated
    sources the digest of the text in memory is used instead of the file's
    modification time, so an entry is valid for exactly that text.
    """
    _source_stamps[filename] = hashlib.sha256(source.encode()).hexdigest()


_numba_cache_class = None


def numba_cache(py_func):
    """A Numba cache for ``py_func`` kept in the private cache, or None.

    It stores entries under ``<cache root>/numba`` (wherever the function's
    source lives, so Numba never writes next to the installed package),
    writes them atomically, seals and validates them, and discards and
    recompiles a damaged one instead of failing. Returns None when there is
    no safe cache directory or Numba's cache internals are not the ones this
    was written for.
    """
    global _numba_cache_class
    if cache_root() is None:
        return None
    with _lock:
        if _numba_cache_class is None:
            try:
                _numba_cache_class = _build_numba_cache_class()
            except (ImportError, AttributeError):  # other Numba internals
                _numba_cache_class = False
    if not _numba_cache_class:
        return None
    try:
        return _numba_cache_class(py_func)
    except OSError:
        return None


def _build_numba_cache_class():
    """Subclasses of Numba's function cache implementing the policy above."""
    from numba.core import caching

    class PrivateLocator(caching._SourceFileBackedLocatorMixin,
                         caching._CacheLocator):
        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._subdir = self.get_suitable_cache_subpath(py_file)
            self._cache_path = os.path.join(cache_root(), "numba", self._subdir)

        def ensure_cache_path(self):
            private_subdir("numba")
            private_subdir("numba", self._subdir)

        def get_cache_path(self):
            return self._cache_path

        def get_source_stamp(self):
            stamp = _source_stamps.get(self._py_file)
            return stamp if stamp is not None else super().get_source_stamp()

        @classmethod
        def from_function(cls, py_func, py_file):
            return cls(py_func, py_file)

    class PrivateImpl(caching.CompileResultCacheImpl):
        _locator_classes = [PrivateLocator]

    class SealedFiles(caching.IndexDataCacheFile):
        """Index and data files written atomically, sealed and validated.

        A data file is named after the key it holds and stores that key, so
        processes saving different signatures of one function at the same
        time never overwrite each other's entry (with Numba's numbered files
        they could, leaving an index that points at another signature's
        code); a lost index update only costs a recompilation.
        """

        def _key_name(self, key):
            digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
            return self._data_name_pattern.replace("{number:d}", digest)

        def save(self, key, data):
            name = self._key_name(key)
            if not self._write(self._data_path(name),
                               self._dump((repr(key), data))):
                return
            try:
                overloads = self._load_index()
            except Exception:  # damaged: replaced below
                overloads = {}
            if overloads.get(key) != name:
                overloads[key] = name
                self._save_index(overloads)

        def load(self, key):
            overloads = self._load_index()
            name = overloads.get(key)
            if name is None:
                return None
            path = self._data_path(name)
            try:
                with open(path, "rb") as fh:
                    raw = fh.read()
            except OSError:  # removed while the index still names it
                return None
            try:
                stored_key, data = pickle.loads(unseal(raw))
                if stored_key != repr(key):
                    raise CorruptEntry("entry saved under another key")
            except Exception:
                # Only this entry is damaged: drop it, keep the others.
                try:
                    os.unlink(path)
                except OSError:
                    pass
                del overloads[key]
                self._save_index(overloads)
                return None
            return data

        def _load_index(self):
            try:
                with open(self._index_path, "rb") as fh:
                    raw = fh.read()
            except FileNotFoundError:
                return {}
            stream = io.BytesIO(unseal(raw))
            if pickle.load(stream) != self._version:
                return {}  # another Numba version's entry: recompiled
            stamp, overloads = pickle.loads(stream.read())
            return overloads if stamp == self._source_stamp else {}

        def _save_index(self, overloads):
            payload = (pickle.dumps(self._version, protocol=-1)
                       + self._dump((self._source_stamp, overloads)))
            self._write(self._index_path, payload)

        def _write(self, path, payload):
            return write_atomic(path, seal(payload))

        def discard(self):
            """Delete the index (data files are overwritten by key)."""
            try:
                os.unlink(self._index_path)
            except OSError:
                pass

    class PrivateCache(caching.FunctionCache):
        _impl_class = PrivateImpl

        def __init__(self, py_func):
            self._name = repr(py_func)
            self._py_func = py_func
            self._impl = self._impl_class(py_func)
            self._cache_path = self._impl.locator.get_cache_path()
            self._cache_file = SealedFiles(
                cache_path=self._cache_path,
                filename_base=self._impl.filename_base,
                source_stamp=self._impl.locator.get_source_stamp())
            self.load_set_up = None
            self.enable()

        def load_overload(self, sig, target_context):
            if self.load_set_up is not None:
                self.load_set_up(target_context)
            else:
                target_context.refresh()
            try:
                return self._load_overload(sig, target_context)
            except Exception:
                # An unreadable index (truncated, corrupt, foreign) or an
                # entry Numba cannot rebuild: recompile and overwrite
                # rather than fail the fit.
                self._cache_file.discard()
                return None

        def save_overload(self, sig, data):
            try:
                self._save_overload(sig, data)
            except OSError as exc:
                warn_once("write", (
                    f"skdeep cannot use its compilation cache in "
                    f"{self._cache_path} ({exc}); compiled code is kept in "
                    f"memory only. Point {CACHE_ENV} at a private, writable "
                    "directory."))

    return PrivateCache


def _reset():
    """Forget the chosen root and the warnings given (for tests)."""
    global _root
    with _lock:
        _root = _UNSET
        _safe_dirs.clear()
        _warned.clear()


def cached_njit(py_func, **options):
    """``numba.njit(**options)(py_func)`` using the private Numba cache.

    For small helpers compiled lazily on first call; the core kernels and
    blocks go through the CPU backend's ``compile_cached``.
    """
    import numba

    dispatcher = numba.njit(**options)(py_func)
    private = numba_cache(py_func)
    if private is not None and hasattr(dispatcher, "_cache"):
        dispatcher._cache = private
    return dispatcher
