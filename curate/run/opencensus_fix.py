"""Work around Ray workers aborting with "Mutex corrupt ... SIGABRT" when they exit.

Cause (ray 2.60.0 wheel, bug in Ray's patched OpenCensus, not in curate or another library):
every worker exit (idle-worker kill, actor exit, force kill) runs
``CoreWorkerShutdownExecutor::DisconnectServices`` -> ``opencensus::stats::StatsExporter::ExportNow()``
-> ``DeltaProducer::Get()``. With OpenTelemetry metrics (the default) nothing built the
``DeltaProducer`` earlier, so it is built right there, at exit. Its constructor (Ray's
``opencensus-cpp-shutdown-api.patch``) starts the harvester thread in the member-initialiser list,
*before* it initialises the members declared after the thread: ``mu_`` (an ``absl::Mutex``) and
``thread_started_``. The harvester sleeps 100 ms and then locks ``mu_``. If the exiting thread
(nice 15 on a busy machine) is not scheduled again within those 100 ms, the harvester locks a
mutex whose word is still whatever the previous owner of that heap chunk left in it; Ray's abseil
(``lts_20230802`` inside ``_raylet.so``) detects the impossible state ("both reader and writer
lock held", "waiting writer with no waiters", ...) and aborts the process.

Workaround: build the ``DeltaProducer`` once, when the worker starts (a Ray
``worker_process_setup_hook``), from a heap chunk that is known to be zero. An all-zero
``mu_`` is a valid unlocked mutex, so even if the worker is descheduled inside the constructor the
harvester finds a sane mutex; and at exit ``ExportNow()`` finds the producer built and starts no
thread. The only other change: each worker has the harvester thread from the start (it wakes
every 100 ms and folds OpenCensus's own, here empty, delta every 5 s), as Ray did before it used
OpenTelemetry by default. The driver exits through the same code (``ray.shutdown()``), so it is
primed too.

Wiring (see ``runtime_env`` and ``worker_env_vars``)::

    opencensus_fix.prime_worker()                       # in the driver, once ray is importable
    ray.init(..., runtime_env=opencensus_fix.runtime_env())

``prime_worker`` never raises: on another Ray build, platform or allocator it logs and does nothing.
Upstream: Ray's later opencensus-cpp-start-harvest-thread.patch starts the thread in the
constructor body; on a build with it ``worker_env_vars()`` is empty and nothing is done.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import os
import struct
from typing import Any

log = logging.getLogger("curate.run.opencensus_fix")

HOOK = "curate.run.opencensus_fix.prime_worker"

# Environment handed to workers so that each does not have to read _raylet.so's 12 MB symbol table.
ENV_SO = "CURATE_RAYLET_SO"
ENV_OFFSETS = "CURATE_DELTA_PRODUCER_OFFSETS"  # "<Get() offset>,<global_delta_producer offset>" in hex

_GET = b"_ZN10opencensus5stats13DeltaProducer3GetEv"
_INSTANCE = b"_ZZN10opencensus5stats13DeltaProducer3GetEvE21global_delta_producer"
# Present once Ray carries opencensus-cpp-start-harvest-thread.patch (thread started in the
# constructor body, after every member is initialised): then there is nothing to work around.
_FIXED = b"_ZN10opencensus5stats13DeltaProducer24StartHarvestLoopIfNeededEv"
_DELTA_PRODUCER_SIZE = 0xF0  # Get(): operator new(0xf0)


def raylet_path() -> str | None:
    try:
        import importlib.util

        spec = importlib.util.find_spec("ray._raylet")
        return os.path.realpath(spec.origin) if spec and spec.origin else None
    except Exception:
        return None


def _elf_symbols(path: str, names: list[bytes]) -> dict[bytes, int]:
    """st_value of each name found in the ELF .symtab of ``path`` (64-bit little-endian only)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return {}
        phoff, shoff = struct.unpack_from("<QQ", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        loads = [struct.unpack_from("<IIQQ", f.read(phentsize)) for _ in range(phnum)]
        first_load = next((ph for ph in loads if ph[0] == 1), None)  # PT_LOAD
        if first_load is None or first_load[2] != 0 or first_load[3] != 0:
            return {}  # load address = start of the offset-0 mapping only when it maps vaddr 0
        shentsize, shnum = struct.unpack_from("<HH", head, 0x3A)
        f.seek(shoff)
        sections = [struct.unpack_from("<IIQQQQIIQQ", f.read(shentsize)) for _ in range(shnum)]
        for sh in sections:
            if sh[1] != 2:  # SHT_SYMTAB
                continue
            strtab = sections[sh[6]]
            f.seek(strtab[4])
            strings = f.read(strtab[5])
            wanted: dict[int, bytes] = {}
            for name in names:
                at = strings.find(b"\0" + name + b"\0")
                if at >= 0:
                    wanted[at + 1] = name
            if not wanted:
                return {}
            f.seek(sh[4])
            table = f.read(sh[5])
            found: dict[bytes, int] = {}
            for (st_name, _info, _other, _shndx, st_value, _size) in struct.iter_unpack("<IBBHQQ", table):
                if st_name in wanted and st_value:
                    found[wanted[st_name]] = st_value
            return found
    return {}


@functools.lru_cache(maxsize=4)
def _delta_producer_symbols(path: str) -> tuple[int, int] | None:
    try:
        syms = _elf_symbols(path, [_GET, _INSTANCE, _FIXED])
    except OSError:
        return None
    if _FIXED in syms or _GET not in syms or _INSTANCE not in syms:
        return None
    return syms[_GET], syms[_INSTANCE]


def worker_env_vars() -> dict[str, str]:
    """Environment for every Ray process of a run: where ``prime_worker`` finds DeltaProducer.

    Empty when the fix does not apply (no Ray, a Ray whose OpenCensus starts the thread safely, or
    no symbol table), in which case ``prime_worker`` looks for itself and, finding nothing, does
    nothing.
    """
    path = raylet_path()
    found = _delta_producer_symbols(path) if path else None
    if not found:
        return {}
    return {ENV_SO: path, ENV_OFFSETS: f"{found[0]:x},{found[1]:x}"}


def runtime_env(base: dict[str, Any] | None = None) -> dict[str, Any]:
    """``base`` (a Ray runtime_env, or None) plus the worker setup hook and its environment."""
    env = dict(base or {})
    if env.get("worker_process_setup_hook") not in (None, HOOK):
        raise ValueError("runtime_env already has a worker_process_setup_hook; call prime_worker() from it")
    env["worker_process_setup_hook"] = HOOK
    env["env_vars"] = {**worker_env_vars(), **dict(env.get("env_vars") or {})}
    return env


def _load_base(path: str) -> int | None:
    """Load address of ``path`` in this process (its first mapping, file offset 0)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split()
            if len(parts) >= 6 and parts[2] == "00000000" and os.path.realpath(parts[5]) == path:
                return int(parts[0].split("-")[0], 16)
    return None


def prime_worker() -> str:
    """Ray worker setup hook: build OpenCensus's DeltaProducer now, from zeroed memory.

    Returns what it did ("primed", "already built", or why it skipped); never raises.
    """
    try:
        return _prime()
    except Exception as exc:
        log.warning("opencensus_fix: DeltaProducer not primed: %r", exc)
        return f"skipped: {exc!r}"


def _prime() -> str:
    path = os.environ.get(ENV_SO)
    offsets = os.environ.get(ENV_OFFSETS)
    if not path or not offsets or path != raylet_path():
        env = worker_env_vars()  # no environment from the driver (or another Ray): look ourselves
        path, offsets = env.get(ENV_SO), env.get(ENV_OFFSETS)
        if not path or not offsets:
            return "skipped: not needed or not found in this Ray build"
    import ray._raylet  # noqa: F401 - make sure it is mapped

    base = _load_base(path)
    if base is None:
        return "skipped: _raylet.so not mapped"
    get_off, instance_off = (int(x, 16) for x in offsets.split(","))
    instance = ctypes.c_void_p.from_address(base + instance_off)
    if instance.value:
        return "already built"
    get = ctypes.CFUNCTYPE(ctypes.c_void_p)(base + get_off)
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    # operator new(0xf0) in Get() takes the chunk this thread freed last (glibc's per-thread cache
    # is last-in first-out). Put a zeroed chunk on top of that cache: the first malloc may come
    # from the arena (which can refill the cache with other, dirty chunks until it is full, so our
    # free might not enter it); the second is then always taken from the cache, and freeing it
    # puts it back on top.
    for _ in range(2):
        chunk = libc.malloc(_DELTA_PRODUCER_SIZE)
        if not chunk:
            return "skipped: malloc failed"
        ctypes.memset(chunk, 0, _DELTA_PRODUCER_SIZE)
        libc.free(chunk)
    producer = get()
    if not producer or instance.value != producer:
        return "skipped: DeltaProducer::Get() returned nothing"
    return "primed"
