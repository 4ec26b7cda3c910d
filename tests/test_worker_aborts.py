"""Ray workers that abort at exit with "Mutex corrupt ... SIGABRT", and curate.run.opencensus_fix's workaround.

The abort (see curate/run/opencensus_fix.py) needs two things at once: the exiting worker's thread is not
scheduled for 100 ms inside OpenCensus's DeltaProducer constructor, and the heap chunk the
constructor got still holds old bytes where its mutex will be. Both are rare on their own, so the
test forces them: an LD_PRELOAD shim (compiled here) stalls the thread that starts the harvester
thread for 250 ms, and each task leaves dirty 240-byte chunks in its thread's malloc cache. Then
about half of the idle-worker exits abort without the workaround, and none with it.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap

import pytest

from curate.run import opencensus_fix

pytestmark = pytest.mark.slow

_RUN_HARVESTER_LOOP = b"_ZN10opencensus5stats13DeltaProducer16RunHarvesterLoopEv"

SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uintptr_t raylet_base;

static int find_raylet(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size; (void)data;
    if (info->dlpi_name && strstr(info->dlpi_name, "ray/_raylet.so")) { raylet_base = info->dlpi_addr; return 1; }
    return 0;
}

/* After starting DeltaProducer::RunHarvesterLoop, stall the creating thread (as the scheduler might). */
int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg) {
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real) real = dlsym(RTLD_NEXT, "pthread_create");
    int rc = real(t, a, fn, arg);
    const char *off = getenv("STALL_HARVESTER_OFFSET");
    if (rc == 0 && arg && off) {
        if (!raylet_base) dl_iterate_phdr(find_raylet, NULL);
        uintptr_t *state = (uintptr_t *)arg;  /* std::thread state: vtable, object, member-function pointer */
        if (raylet_base && state[2] == raylet_base + strtoull(off, NULL, 16)) {
            fprintf(stderr, "[stall-shim] harvester started, mu_ word 0x%lx\n", *(unsigned long *)((char *)state[1] + 0xe0));
            struct timespec ts = {0, 250 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return rc;
}
"""

CHURN = textwrap.dedent(r'''
    import glob, json, os, sys, time
    import ray

    fixed = sys.argv[1] == "fix"
    env_vars = {"LD_PRELOAD": sys.argv[2], "STALL_HARVESTER_OFFSET": sys.argv[3]}
    runtime_env = {"env_vars": env_vars}
    if fixed:
        from curate.run import opencensus_fix
        runtime_env = opencensus_fix.runtime_env(runtime_env)
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20,
             log_to_driver=False, runtime_env=runtime_env)

    @ray.remote(num_cpus=1 / 6)
    def work(i):
        import ctypes
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.free.argtypes = [ctypes.c_void_p]
        chunks = [libc.malloc(240) for _ in range(64)]  # 7 for the thread's cache, the rest to the arena's bins
        for c in chunks:
            ctypes.memset(c, 0x09, 240)  # reader and writer bits in every byte
        for c in chunks:
            libc.free(c)
        time.sleep(0.2)
        return i

    for _ in range(3):
        ray.get([work.remote(i) for i in range(12)])  # 12 workers; Ray keeps 2 and ends the rest when idle
        time.sleep(2.5)
    logs = ray._private.worker._global_node.get_session_dir_path() + "/logs"
    time.sleep(1)
    ray.shutdown()
    err = {f: open(f, errors="replace").read() for f in glob.glob(logs + "/worker-*.err")}
    core = [open(f, errors="replace").read() for f in glob.glob(logs + "/python-core-worker-*.log")]
    print(json.dumps({
        "idle_exits": sum("idle for a long time" in text for text in core),
        "aborted": sum("SIGABRT" in text for text in err.values()),
        "mutex_corrupt": sum("Mutex corrupt" in text for text in err.values()),
        "stalls": sum(text.count("[stall-shim]") for text in err.values()),
        "mu_words": sorted(line.rsplit(" ", 1)[-1] for text in err.values() for line in text.splitlines()
                           if line.startswith("[stall-shim]")),
    }))
''')


@pytest.fixture(scope="module")
def stall_shim(tmp_path_factory):
    if not sys.platform.startswith("linux") or platform.machine() != "x86_64":
        pytest.skip("the reproduction shim is for Linux x86_64")
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler for the reproduction shim")
    if not opencensus_fix.worker_env_vars():
        pytest.skip("this Ray build has no racy DeltaProducer constructor (or no symbol table): nothing to reproduce")
    offset = opencensus_fix._elf_symbols(opencensus_fix.raylet_path(), [_RUN_HARVESTER_LOOP]).get(_RUN_HARVESTER_LOOP)
    if not offset:
        pytest.skip("DeltaProducer::RunHarvesterLoop not in _raylet.so's symbol table")
    src = tmp_path_factory.mktemp("shim") / "stall.c"
    src.write_text(SHIM_C)
    so = src.with_suffix(".so")
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(so), str(src), "-ldl"], check=True)
    return str(so), f"{offset:x}"


def _churn(mode: str, shim: tuple[str, str]) -> dict:
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"), "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-c", CHURN, mode, *shim], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_prime_worker_builds_the_producer_once():
    code = ("from curate.run import opencensus_fix as f; import ray._raylet; "
            "print(f.prime_worker()); print(f.prime_worker())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    if not opencensus_fix.worker_env_vars():
        assert out.stdout.split("\n")[0].startswith("skipped")
    else:
        assert out.stdout.split("\n")[:2] == ["primed", "already built"]


def test_a_stalled_exit_aborts_and_the_workaround_stops_it(stall_shim):
    before = _churn("base", stall_shim)
    assert before["idle_exits"] >= 6 and before["stalls"] >= 6, before
    assert before["aborted"] >= 1 and before["mutex_corrupt"] >= 1, before  # the reported crash, reproduced

    after = _churn("fix", stall_shim)
    assert after["idle_exits"] >= 6, after
    assert after["stalls"] >= 6, after  # the producer was built (and stalled) at start-up instead
    assert after["aborted"] == 0 and after["mutex_corrupt"] == 0, after
