"""What the Python benchmarks share: the environment, the bench store and its configuration,
child processes whose memory is sampled while they run, and medians.

Import this module before numpy, torch, zarr or voxload: in a bench venv made by
``setup_venv.sh`` with a base environment, it appends the base's site-packages to ``sys.path``.
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path


def _add_base_site() -> None:
    """Appends the base environment's site-packages (setup_venv.sh's marker file), after the bench
    venv's own, so the voxload installed here wins over any other."""
    marker = Path(sys.prefix) / "voxload-bench-base-site"
    if marker.exists():
        for line in marker.read_text().splitlines():
            if line.strip() and line.strip() not in sys.path:
                sys.path.append(line.strip())


_add_base_site()

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("VOXLOAD_PYBENCH_DATA", ROOT / "target" / "bench-data" / "python"))
STORE = DATA / "em.zarr"
CONFIG = DATA / "config.json"

# The loader section's volume and sample (BENCHMARKS.md, "The loader (issue 6)"): a
# (200, 1024, 1024) uint8 EM-like image in the default raw chunks, a uint16 label of spherical
# blobs (radius 10-40) covering 1 % of the voxels; (8, 256, 256) inputs, batches of 2.
VOLUME = (200, 1024, 1024)
CHUNK = (16, 256, 1024)
FOREGROUND = 0.01
INPUT = (8, 256, 256)
PAD = (2, 64, 64)
BATCH = 2
WORKERS = 2
SIZE_THRES = 1000
REJECT_P = 0.95
NUM_TRIAL = 50
SEED = 0

# PyTC's training configuration: every AUGMENTOR section at its default (the whole default
# chain), rejection sampling as PyTC's mitochondria configs use it, reflect padding.
CONFIG_DICT = {
    "DATASET": {
        "INPUT_PATH": "em.zarr",
        "IMAGE_NAME": "image",
        "LABEL_NAME": "label",
        "PAD_SIZE": list(PAD),
        "REJECT_SAMPLING": {"SIZE_THRES": SIZE_THRES, "P": REJECT_P, "NUM_TRIAL": NUM_TRIAL},
    },
    "MODEL": {"INPUT_SIZE": list(INPUT)},
    "SOLVER": {"SAMPLES_PER_BATCH": BATCH},
    "SYSTEM": {"NUM_CPUS": WORKERS},
}

def stream(batches, seconds, touch, size, warmup=1.0, min_warm_batches=1):
    """Takes batches for ``warmup`` seconds (and at least ``min_warm_batches``), then for
    ``seconds``, calling ``touch`` on each; returns what was measured after the warm-up.

    The same rule as ``voxload bench loader``: the clock stops after the batch that crossed
    ``seconds``. Also counted: the CPU time of this (the consumer's) thread, of it the part
    spent in ``touch``, and of the whole process (the loader's worker threads included)."""
    it = iter(batches)
    t = time.perf_counter()
    warm = 0
    while time.perf_counter() - t < warmup or warm < min_warm_batches:
        touch(next(it))
        warm += 1
    samples = 0
    batches_seen = 0
    touch_s = touch_cpu_s = 0.0
    extra = []
    cpu0, process0 = time.thread_time(), time.process_time()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        batch = next(it)
        t1, c1 = time.perf_counter(), time.thread_time()
        extra.append(touch(batch))
        touch_s += time.perf_counter() - t1
        touch_cpu_s += time.thread_time() - c1
        samples += size(batch)
        batches_seen += 1
    elapsed = time.perf_counter() - t0
    thread_cpu_s, process_cpu_s = time.thread_time() - cpu0, time.process_time() - process0
    return {
        "samples": samples,
        "batches": batches_seen,
        "seconds": elapsed,
        "samples_per_s": samples / elapsed,
        "touch_s": touch_s,
        "touched": extra,
        "thread_cpu_s": thread_cpu_s,
        "touch_cpu_s": touch_cpu_s,
        "process_cpu_s": process_cpu_s,
    }


def _status_kib(pid):
    """``(VmRSS, RssAnon)`` of a process in KiB, from /proc/PID/status (cheap: counters)."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "RssAnon:")):
                key, value = line.split(":")
                fields[key] = int(value.split()[0])
    return fields.get("VmRSS", 0), fields.get("RssAnon", 0)


def _smaps_kib(pid):
    """``(Pss, resident KiB of mappings of the bench store's files)`` of a process, from
    /proc/PID/smaps (costly: the kernel walks the page tables, ~15-25 ms for a process that
    imported torch)."""
    prefix = str(STORE) + os.sep
    pss = store = 0
    in_store = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if first.endswith(":"):
                if first == "Pss:":
                    pss += int(line.split()[1])
                elif first == "Rss:" and in_store:
                    store += int(line.split()[1])
            else:  # a mapping's header line: address range, permissions, ..., path
                parts = line.split(None, 5)
                in_store = len(parts) == 6 and parts[5].startswith(prefix)
    return pss, store


def run_child(argv, interval=0.2, detail_every=10):
    """Runs ``argv``, sampling the memory of it and its descendants until it exits: RSS and
    anonymous RSS every ``interval`` seconds, PSS and the store's mapped pages every
    ``detail_every`` samples (they cost more to read). Returns the child's last stdout line (a
    JSON object) with the peaks of the sums over the processes seen at one time added:
    ``peak_rss_mib``, ``peak_anon_mib`` (RSS less file-backed and shared memory),
    ``peak_pss_mib``, ``peak_store_mib`` (resident pages of mapped store files: voxload maps the
    chunk files it reads, and those pages are the store's page cache), ``peak_main_anon_mib``
    (the first process's own anonymous RSS), and ``processes``."""
    import psutil

    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = psutil.Process(child.pid)
    peaks = {"rss": 0, "anon": 0, "pss": 0, "store": 0, "processes": 0, "main_anon": 0}
    done = threading.Event()

    def sample():
        tick = 0
        pids = [child.pid]
        while not done.is_set():
            if tick % 5 == 0:
                try:
                    pids = [child.pid] + [c.pid for c in proc.children(recursive=True)]
                except psutil.Error:
                    pass
            now = {"rss": 0, "anon": 0, "pss": 0, "store": 0, "processes": 0, "main_anon": 0}
            for pid in pids:
                try:
                    rss, anon = _status_kib(pid)
                    if tick % detail_every == 0:
                        pss, store = _smaps_kib(pid)
                        now["pss"] += pss
                        now["store"] += store
                except (OSError, ValueError):
                    continue
                now["rss"] += rss
                now["anon"] += anon
                now["processes"] += 1
                if pid == child.pid:
                    now["main_anon"] = anon
            for k, v in now.items():
                peaks[k] = max(peaks[k], v)
            tick += 1
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    done.set()
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({child.returncode}):\n{err.strip()}")
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"{' '.join(map(str, argv))} printed nothing:\n{err.strip()}")
    result = json.loads(lines[-1])
    result.update({f"peak_{k}_mib": peaks[k] / 1024 for k in ("rss", "anon", "pss", "store", "main_anon")},
                  processes=peaks["processes"])
    return result


def warm_store():
    """Reads every file of the store once, so each run finds it in the page cache (this VM
    pages out files not read for about a minute; BENCHMARKS.md, "The machine")."""
    for path in STORE.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                while f.read(1 << 24):
                    pass


def rotations(cases, rounds):
    """The order of the cases in each round: rotated by one each round, so no case always runs
    first (or right after another)."""
    return [cases[r % len(cases):] + cases[:r % len(cases)] for r in range(rounds)]


def median_range(values):
    """``(median, low, high)`` of a list."""
    return statistics.median(values), min(values), max(values)


def fmt(values, digits=1, suffix=""):
    """``median (low-high)`` as text."""
    m, lo, hi = median_range(values)
    return f"{m:.{digits}f}{suffix} ({lo:.{digits}f}–{hi:.{digits}f})"


def machine_line():
    """One line naming the machine, the load and the time of the run."""
    load = os.getloadavg()
    return (f"{os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
            f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}")


def save(name, record):
    """Writes ``record`` as ``DATA/NAME.json`` and says where."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"{name}.json"
    path.write_text(json.dumps(record, indent=1))
    print(f"(all figures: {path})")
