"""What Python costs on top of voxload's loader, measured in one run.

Four ways to stream the same configuration (the bench store, PyTC's default augmentation,
rejection sampling; ``common.CONFIG_DICT``) with the same worker count, seed and seconds:

- ``cli``: ``voxload bench loader --json``, Rust only (counts the batches, touches nothing);
- ``dataset``: a Python loop over ``voxload.torch.VolumeDataset`` through
  ``torch.utils.data.DataLoader(ds, batch_size=None, num_workers=0)``, summing each batch's
  image tensor;
- ``dataset_direct``: the same loop over the ``VolumeDataset`` itself (no ``DataLoader``);
- ``loader``: a Python loop over the plain ``voxload.Loader``, summing each batch's numpy image.

Each runs in its own process, in rounds (the order rotated each round), so the VM's drift
touches all alike; the overheads are per-round ratios against ``cli`` of the same round. Every
process's memory (and its children's) is sampled while it runs.

Usage: python benches/python/loader_overhead.py --voxload target/release/voxload
       [--rounds 9] [--seconds 6]
(``--child dataset|dataset_direct|loader|window|idle`` is how the driver starts a measurement.)
"""

import common  # first: sets up sys.path

import argparse
import json
import os
import sys
import time


def child_dataset(seconds, through_dataloader=True):
    """The VolumeDataset loop (through a DataLoader, or iterated itself); one JSON line."""
    import torch
    from torch.utils.data import DataLoader
    from voxload.torch import VolumeDataset

    # The consumer is one thread, as a training loop feeding a GPU would be: torch's own thread
    # pool would otherwise spin on the two cores the loader's workers use.
    torch.set_num_threads(1)
    ds = VolumeDataset(str(common.CONFIG), seed=common.SEED)
    rejected = []
    last = []

    def size(batch):
        rejected.append(sum(i["rejections"] for i in batch["info"]))
        last[:] = [batch]
        return batch["image"].shape[0]

    batches = DataLoader(ds, batch_size=None, num_workers=0) if through_dataloader else ds
    result = common.stream(batches, seconds, touch=lambda b: float(b["image"].sum()), size=size)
    if through_dataloader:
        result["convert_share"] = convert_share(result, last[0])
    return finish(result, rejected)


def convert_share(result, batch):
    """The share of the loop's time that the DataLoader's ``default_convert`` of each batch
    costs (it walks every value, the ``"info"`` dicts and their transform lists included) at
    the measured batch rate: timed here, on the loop's last batch, as thread CPU time."""
    from torch.utils.data._utils.collate import default_convert

    t = time.thread_time()
    for _ in range(200):
        default_convert(batch)
    per_batch = (time.thread_time() - t) / 200
    return per_batch * result["batches"] / result["seconds"]


def child_idle():
    """For reference: a Python process that imported torch and voxload and does nothing."""
    import torch  # noqa: F401
    import voxload  # noqa: F401
    import voxload.torch  # noqa: F401

    time.sleep(2.0)
    return {"samples_per_s": 0.0}


def child_loader(seconds):
    """The plain voxload.Loader loop; one JSON line."""
    import voxload

    loader = voxload.Loader(str(common.CONFIG), seed=common.SEED)
    rejected = []

    def size(batch):
        rejected.append(sum(i["rejections"] for i in batch["info"]))
        return batch["image"].shape[0]

    result = common.stream(loader, seconds, touch=lambda b: float(b["image"].sum()), size=size)
    loader.close()
    return finish(result, rejected)


def finish(result, rejected):
    """The child's JSON: rates, the share of time spent touching, rejections per sample
    (``rejected`` holds the measured batches' counts: ``size`` is called after the warm-up only)."""
    result["rejected_per_accepted"] = sum(rejected) / max(result["samples"], 1)
    result["touch_share"] = result["touch_s"] / result["seconds"]
    # The consumer thread's CPU outside the user's own work (summing): the Python layer's cost
    # (batch dicts, the DataLoader's conversion, iteration), as a share of all the process's
    # CPU. Unlike the rates, it does not drift with the machine's other load.
    glue = result["thread_cpu_s"] - result["touch_cpu_s"]
    result["glue_cpu_share"] = glue / max(result["process_cpu_s"], 1e-9)
    del result["touched"]
    return result


def child_window():
    """The window a training sample reads (the augmentor's enlarged sample size)."""
    import voxload

    with voxload.Loader(str(common.CONFIG), seed=common.SEED, samples=common.BATCH, workers=1) as loader:
        batch = next(iter(loader))
        return {"window": list(batch["info"][0]["shape"]), "input": list(batch["image"].shape[2:])}


def cli_argv(binary, seconds):
    return [binary, "bench", "loader", "--config", str(common.CONFIG), "--workers", str(common.WORKERS),
            "--seconds", str(seconds), "--json"]


def child_argv(case, seconds):
    return [sys.executable, __file__, "--child", case, "--seconds", str(seconds)]


def normalise(case, r):
    """The CLI's JSON in the children's terms."""
    if case == "cli":
        rate = r["rejection_rate"]
        r = dict(r, samples_per_s=r["items_per_s"], touch_share=0.0,
                 rejected_per_accepted=rate / (1 - rate) if rate < 1 else float("inf"))
    return r


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voxload", help="the voxload binary")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--child", choices=["dataset", "dataset_direct", "loader", "window", "idle"])
    args = parser.parse_args()
    if args.child:
        out = {"dataset": lambda: child_dataset(args.seconds),
               "dataset_direct": lambda: child_dataset(args.seconds, through_dataloader=False),
               "loader": lambda: child_loader(args.seconds),
               "window": child_window, "idle": child_idle}[args.child]()
        print(json.dumps(out))
        return
    if not args.voxload:
        parser.error("--voxload is required")

    cases = ["cli", "dataset", "dataset_direct", "loader"]
    runs = {c: [] for c in cases}
    print(f"Python overhead: {common.machine_line()}")
    print(f"config {common.CONFIG}: {json.dumps(common.CONFIG_DICT)}")
    print(f"{args.rounds} rounds of {args.seconds:g} s per case (after 1 s of warm-up), {common.WORKERS} workers")
    common.warm_store()
    for r, order in enumerate(common.rotations(cases, args.rounds)):
        for case in order:
            argv = cli_argv(args.voxload, args.seconds) if case == "cli" else child_argv(case, args.seconds)
            result = normalise(case, common.run_child(argv))
            result["load_after"] = os.getloadavg()[0]
            runs[case].append(result)
            print(f"  round {r + 1} {case:8} {result['samples_per_s']:7.1f} samples/s, "
                  f"peak RSS {result['peak_rss_mib']:6.0f} MiB (anon {result['peak_anon_mib']:5.0f}, "
                  f"store {result['peak_store_mib']:4.0f}), "
                  f"{result['processes']} process(es), load {result['load_after']:.2f}", flush=True)

    idle = common.run_child(child_argv("idle", args.seconds))
    names = {
        "cli": "`voxload bench loader` (Rust, nothing touched)",
        "dataset": "`VolumeDataset` + `DataLoader(batch_size=None, num_workers=0)`, image summed",
        "dataset_direct": "`VolumeDataset` iterated itself, image summed",
        "loader": "`voxload.Loader`, image summed",
    }
    rate = lambda c, i: runs[c][i]["samples_per_s"]  # noqa: E731
    print()
    print("| loop | samples/s, median (range) | overhead against `bench loader`, median of rounds (range) "
          "| time summing | time in the DataLoader's default_convert "
          "| consumer thread's CPU outside summing, of the process's CPU | rejected per accepted "
          "| peak RSS MiB, all processes | of it anonymous | of it mapped store files | PSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = {}

    def memory(rows):
        med = lambda k: common.median_range([x[k] for x in rows])[0]  # noqa: E731
        return (f"{med('peak_rss_mib'):.0f} | {med('peak_anon_mib'):.0f} | {med('peak_store_mib'):.0f} | "
                f"{med('peak_pss_mib'):.0f}")

    for c in cases:
        rates = [x["samples_per_s"] for x in runs[c]]
        over = [100 * (1 - rate(c, i) / rate("cli", i)) for i in range(args.rounds)]
        share = lambda k: 100 * common.median_range([x.get(k, 0.0) for x in runs[c]])[0]  # noqa: E731
        summary[c] = {"samples_per_s": rates, "overhead_pct": over}
        print(f"| {names[c]} | {common.fmt(rates)} | "
              f"{'–' if c == 'cli' else common.fmt(over, 1, ' %')} | "
              f"{share('touch_share'):.1f} % | {share('convert_share'):.1f} % | "
              f"{'–' if c == 'cli' else format(share('glue_cpu_share'), '.1f') + ' %'} | "
              f"{common.median_range([x['rejected_per_accepted'] for x in runs[c]])[0]:.2f} | "
              f"{memory(runs[c])} |")
    print(f"| for reference: Python with torch and voxload imported, idle | – | – | – | – | – | – | {memory([idle])} |")
    print()
    over = common.median_range(summary["dataset"]["overhead_pct"])[0]
    print(f"VolumeDataset overhead {over:.1f} % (target < 3 %: {'met' if over < 3 else 'not met'})")
    for c in ("dataset", "dataset_direct", "loader"):
        glue = 100 * common.median_range([x["glue_cpu_share"] for x in runs[c]])[0]
        print(f"{c}: the Python layer's own CPU is {glue:.1f} % of the process's CPU (median of rounds)")
    common.save("loader_overhead", {"machine": common.machine_line(), "config": common.CONFIG_DICT,
                                    "rounds": args.rounds, "seconds": args.seconds, "runs": runs,
                                    "idle": idle})


if __name__ == "__main__":
    main()
