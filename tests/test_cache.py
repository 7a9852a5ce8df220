"""The compilation cache: private directories, verified and self-healing files.

Whoever can write the cache can run code in every process that trains a
model, and a damaged cache must never fail a fit. These tests tamper with,
truncate and replace each kind of cache file, point the cache at directories
other users own or can write, and kill a process while it writes.
"""

import importlib.util
import io
import os
import pickle
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

from skdeep._kernels import cache
from skdeep._kernels.cpu import blocks as cpu_blocks
from skdeep._kernels.cpu import compile as cpu_compile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534
posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX ownership checks")
needs_root = pytest.mark.skipif(not IS_ROOT, reason="chown to another user needs root")


@pytest.fixture
def fresh_cache(monkeypatch):
    """Point skdeep at a cache chosen anew (as in a new process)."""
    def use(path=None, **env):
        for name in ("SKDEEP_CACHE_DIR", "NUMBA_CACHE_DIR", "SKDEEP_DISABLE_CACHE"):
            monkeypatch.delenv(name, raising=False)
        if path is not None:
            monkeypatch.setenv("SKDEEP_CACHE_DIR", str(path))
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        cache._reset()
        cpu_compile._blocks.clear()
        cpu_compile._blocks_by_identity.clear()
        cpu_blocks._activation_memo.clear()

    yield use
    monkeypatch.undo()
    cache._reset()


def _cache_warnings(record):
    return [w for w in record if issubclass(w.category, cache.CacheWarning)]


# --- private directories -------------------------------------------------------

@posix_only
def test_created_directories_are_owner_only(tmp_path, fresh_cache):
    fresh_cache(tmp_path / "a" / "b")
    with warnings.catch_warnings():
        warnings.simplefilter("error", cache.CacheWarning)
        root = cache.cache_root()
    assert root == str(tmp_path / "a" / "b")
    for path in (tmp_path / "a", tmp_path / "a" / "b",
                 cache.private_subdir("numba", "x")):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700


@posix_only
@pytest.mark.parametrize("problem", [
    pytest.param("other owner", marks=needs_root), "world-writable",
    "group-writable", "parent world-writable",
    pytest.param("symlink of other owner", marks=needs_root)])
def test_unsafe_cache_directory_is_refused(tmp_path, fresh_cache, problem):
    parent = tmp_path / "shared"
    parent.mkdir(mode=0o700)
    target = parent / "cache"
    target.mkdir(mode=0o700)
    configured = target
    if problem == "other owner":
        os.chown(target, NOBODY, NOBODY)
    elif problem == "world-writable":
        target.chmod(0o777)
    elif problem == "group-writable":
        target.chmod(0o770)
    elif problem == "parent world-writable":
        parent.chmod(0o777)  # not sticky: others could swap the cache
    else:
        configured = tmp_path / "link"
        configured.symlink_to(target)
        os.lchown(configured, NOBODY, NOBODY)
    fresh_cache(configured, XDG_CACHE_HOME=tmp_path / "xdg")
    with pytest.warns(cache.CacheWarning, match=str(configured)) as record:
        root = cache.cache_root()
    assert root == str(tmp_path / "xdg" / "skdeep")  # the next safe candidate
    assert "SKDEEP_CACHE_DIR" in str(record[0].message)  # names the fix
    # Nothing is written to the refused directory, nothing loaded from it.
    cpu_compile.compile_cached(_module(tmp_path).plus_one, "int64(int64)")
    assert os.listdir(target) == []


@posix_only
def test_no_safe_directory_compiles_in_memory_with_one_warning(tmp_path, fresh_cache):
    blocked = tmp_path / "file"
    blocked.write_text("")  # no directory can be made below a file
    fresh_cache(blocked / "cache", XDG_CACHE_HOME=blocked,
                TMPDIR=blocked)
    tempdir = cache.tempfile.tempdir
    cache.tempfile.tempdir = str(blocked)
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            assert cache.cache_root() is None
            assert cache.cache_root() is None
            fn = cpu_compile.compile_cached(_module(tmp_path).plus_one, "int64(int64)")
    finally:
        cache.tempfile.tempdir = tempdir
    assert fn(2) == 3
    assert len(_cache_warnings(record)) == 1
    assert "compiling in memory" in str(_cache_warnings(record)[0].message)


def _fallback_setup(tmp_path, fresh_cache, monkeypatch):
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    shared_tmp.chmod(0o1777)  # like /tmp: world-writable and sticky
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setattr(cache.tempfile, "tempdir", str(shared_tmp))
    fresh_cache(None, XDG_CACHE_HOME=blocked)  # read-only-home stand-in
    return shared_tmp / f"skdeep-cache-{os.geteuid()}"


@posix_only
def test_fallback_directory_is_created_private(tmp_path, fresh_cache, monkeypatch):
    fallback = _fallback_setup(tmp_path, fresh_cache, monkeypatch)
    with pytest.warns(cache.CacheWarning, match="cannot be created"):
        assert cache.cache_root() == str(fallback)
    st = os.lstat(fallback)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == os.geteuid()


@posix_only
@needs_root
@pytest.mark.parametrize("planted", ["directory", "symlink"])
def test_fallback_created_by_another_user_is_refused(tmp_path, fresh_cache,
                                                     monkeypatch, planted):
    fallback = _fallback_setup(tmp_path, fresh_cache, monkeypatch)
    # Another local user creates the predictable name first, with modules
    # named like skdeep's.
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o777)
    (theirs / "skdeep_block_evil.py").write_text("raise SystemExit('owned')\n")
    os.chown(theirs, NOBODY, NOBODY)
    if planted == "directory":
        os.rename(theirs, fallback)
    else:
        fallback.symlink_to(theirs)
        os.lchown(fallback, NOBODY, NOBODY)
    with pytest.warns(cache.CacheWarning, match=str(fallback)):
        assert cache.cache_root() is None


# --- what is executed is what skdeep generated ---------------------------------

def _marker_activation(tmp_path):
    from skdeep.plugin_types import ActivationPlugin

    def value(z):
        return z if z > 0 else 0.01 * z

    def derivative(z, a):
        return 1.0 if z > 0 else 0.01

    return ActivationPlugin(name=f"leaky_{tmp_path.name[-12:]}", value=value,
                            derivative=derivative)


def test_tampered_block_source_is_not_executed(tmp_path, fresh_cache):
    fresh_cache(tmp_path / "cache")
    plugin = _marker_activation(tmp_path)
    fwd, _ = cpu_blocks.activation_blocks([plugin], np.float64)
    (source,) = [p for p in (tmp_path / "cache").glob("skdeep_block_act_*.py")]
    generated = source.read_text()
    marker = tmp_path / "tampered"
    damaged = {
        "code appended": (generated + f"\nopen({str(marker)!r}, 'w').close()\n").encode(),
        "truncated mid-line": generated[:len(generated) // 2].encode(),
        "empty": b"",
        "not UTF-8": os.urandom(64) + b"\xff\xfe",
    }
    for content in damaged.values():
        source.write_bytes(content)
        fresh_cache(tmp_path / "cache")  # a new process, as far as skdeep knows
        fwd2, _ = cpu_blocks.activation_blocks([plugin], np.float64)
        assert not marker.exists()
        assert source.read_text() == generated  # healed
        Z = np.array([[-2.0, 3.0]])
        A = np.zeros_like(Z)
        fwd2(0, Z, A, np.zeros((1, 1)), np.zeros(0), np.zeros(0))
        np.testing.assert_array_equal(A, [[-0.02, 3.0]])


# --- Numba's entries: every kind of damage heals ---------------------------------

def _module(tmp_path, name="cached_mod"):
    path = tmp_path / f"{name}.py"
    if not path.exists():
        path.write_text("def plus_one(x):\n    return x + 1\n")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Numba's entries name the function's module; make it importable, as
    # skdeep's kernels are.
    sys.modules[name] = module
    return module


def _entries(root):
    found = {}
    for dirpath, _, names in os.walk(os.path.join(root, "numba")):
        for name in names:
            found.setdefault(name.rsplit(".", 1)[-1], []).append(
                os.path.join(dirpath, name))
    return found


def _foreign_version(path):
    stream = io.BytesIO(cache.unseal(open(path, "rb").read()))
    pickle.load(stream)  # this Numba's version
    return cache.seal(pickle.dumps("0.0.0-other") + stream.read())


CORRUPTIONS = {
    "truncated": lambda path, other: open(path, "rb").read()[:-7],
    "empty": lambda path, other: b"",
    "garbage": lambda path, other: os.urandom(300),
    "one byte flipped": lambda path, other: (lambda b: b[:-5] + bytes([b[-5] ^ 1])
                                             + b[-4:])(open(path, "rb").read()),
    "plain Numba file": lambda path, other: pickle.dumps("0.68.1") + b"\x80\x04N.",
    "another entry's file": lambda path, other: open(other, "rb").read(),
}


@pytest.mark.parametrize(("kind", "corruption"), [
    *[(kind, how) for kind in ("nbi", "nbc") for how in CORRUPTIONS],
    ("nbi", "foreign Numba version")])  # the version is recorded in the index
def test_damaged_numba_entry_is_recompiled_and_rewritten(tmp_path, fresh_cache,
                                                         kind, corruption):
    fresh_cache(tmp_path / "cache")
    module = _module(tmp_path)
    cpu_compile.compile_cached(module.plus_one, "int64(int64)")
    cpu_compile.compile_cached(module.plus_one, "float64(float64)")  # 2nd entry
    files = sorted(_entries(tmp_path / "cache")[kind])
    target, other = (files[0], files[-1])
    if kind == "nbi":  # the index of another function
        other_module = _module(tmp_path, "other_mod")
        cpu_compile.compile_cached(other_module.plus_one, "int64(int64)")
        other = [p for p in _entries(tmp_path / "cache")["nbi"] if "other_mod" in p][0]
    if corruption == "foreign Numba version":
        damaged = _foreign_version(target)
    else:
        damaged = CORRUPTIONS[corruption](target, other)
    with open(target, "wb") as fh:
        fh.write(damaged)
    for signature, x in (("int64(int64)", 41), ("float64(float64)", 1.5)):
        fn = cpu_compile.compile_cached(module.plus_one, signature)
        assert fn(x) == x + 1
    # Rewritten whole: a third process loads every signature from the cache.
    for signature in ("int64(int64)", "float64(float64)"):
        fn = cpu_compile.compile_cached(module.plus_one, signature)
        assert fn.stats.cache_hits and not fn.stats.cache_misses


def test_unwritable_cache_warns_once_and_keeps_code_in_memory(tmp_path, fresh_cache,
                                                              monkeypatch):
    fresh_cache(tmp_path / "cache")
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache.tempfile, "mkstemp", full)
    module = _module(tmp_path)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fn = cpu_compile.compile_cached(module.plus_one, "int64(int64)")
        fwd, _ = cpu_blocks.activation_blocks([_marker_activation(tmp_path)],
                                              np.float64)
    assert fn(1) == 2
    warned = _cache_warnings(record)
    assert len(warned) == 1 and "No space left" in str(warned[0].message)
    assert not any(name.endswith((".nbi", ".nbc", ".py"))
                   for _, _, names in os.walk(tmp_path / "cache") for name in names)


@pytest.mark.skipif(IS_ROOT or os.name == "nt", reason="root writes read-only dirs")
def test_read_only_cache_directory_warns_and_fits(tmp_path, fresh_cache):
    (tmp_path / "cache").mkdir(mode=0o500)
    fresh_cache(tmp_path / "cache")
    with pytest.warns(cache.CacheWarning, match="cannot write"):
        fn = cpu_compile.compile_cached(_module(tmp_path).plus_one, "int64(int64)")
    assert fn(1) == 2


# --- whole fits in fresh processes --------------------------------------------

_FIT = textwrap.dedent("""
    import sys, warnings
    import numpy as np
    from skdeep import MLPClassifier
    warnings.simplefilter("ignore")
    X = np.random.RandomState(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier((4,), activation="tanh", max_iter=2, random_state=0)
    print(repr(clf.fit(X, y).predict_proba(X).tolist()))
""")


def _fit_in_process(cache_dir, **popen):
    env = dict(os.environ, SKDEEP_CACHE_DIR=str(cache_dir), PYTHONPATH=ROOT)
    env.pop("NUMBA_CACHE_DIR", None)
    return subprocess.Popen([sys.executable, "-c", _FIT], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def _clean_fit_result():
    from skdeep import MLPClassifier

    X = np.random.RandomState(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier((4,), activation="tanh", max_iter=2, random_state=0)
    return clf.fit(X, y).predict_proba(X).tolist()


def _finished(proc):
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return eval(out.strip().splitlines()[-1])


def _copy_kernel_entries(dest):
    """Seed ``dest`` with this process's cached kernels (saves a compile)."""
    import shutil

    source = cache.cache_root()
    if source is None:
        return
    for name in os.listdir(os.path.join(source, "numba")):
        if name.startswith("cpu_"):
            shutil.copytree(os.path.join(source, "numba", name),
                            os.path.join(dest, "numba", name))


def test_truncated_cache_heals_in_a_fresh_process(tmp_path):
    # The reported failure: every file of the kernel and block caches cut
    # short (a full disk, a bad copy) made every later fit raise.
    expected = _clean_fit_result()
    _copy_kernel_entries(tmp_path / "c")
    assert _finished(_fit_in_process(tmp_path / "c")) == expected
    files = [os.path.join(d, n) for d, _, names in os.walk(tmp_path / "c")
             for n in names]
    assert any(f.endswith(".nbc") for f in files) and any(f.endswith(".py") for f in files)
    for path in files:
        with open(path, "r+b") as fh:
            fh.truncate(os.path.getsize(path) // 3)
    assert _finished(_fit_in_process(tmp_path / "c")) == expected


def test_process_killed_while_writing_the_cache(tmp_path):
    # SIGKILL at a random moment of a cold fit (compiling and writing
    # entries); the next process must fit exactly as with a clean cache.
    expected = _clean_fit_result()
    rng = random.Random(os.getpid())
    proc = _fit_in_process(tmp_path / "c")
    deadline = time.monotonic() + rng.uniform(1.0, 12.0)
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert _finished(_fit_in_process(tmp_path / "c")) == expected


def test_cache_can_be_switched_off(tmp_path, fresh_cache):
    fresh_cache(tmp_path / "cache", SKDEEP_DISABLE_CACHE="1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", cache.CacheWarning)
        assert cache.cache_root() is None
        fn = cpu_compile.compile_cached(_module(tmp_path).plus_one, "int64(int64)")
    assert fn(1) == 2
    assert not (tmp_path / "cache").exists()
