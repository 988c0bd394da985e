#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the benchmark's samples (selftests/bench/bench.sh) into a table, JSON and an SVG plot.

    bench_report.py SAMPLES.tsv [--json FILE] [--svg FILE] [--smoke]

Each row of the table gives the median, min and max over the rounds for each variant, the
ratio ours/upstream of the medians, and which direction is better. Kernel-path rows also give each stack as a fraction of
the ceiling (pktgen on a dummy netdev). With --smoke, exits 1 unless every row has samples
and every traffic sample counted frames; no speed is asserted.
"""
import argparse
import json
import statistics
import sys
from collections import defaultdict

KERNEL_SIZES = ["64", "512", "1500", "1514"]
# Multiqueue rows: ours with N queue pairs against ours with one, per path and frame size.
MQ_PATHS = [("mq-vhost", "fps", "frames/s"), ("mq-kernel", "rx-pps", "pps")]
MQ_SIZES = ["64", "1514"]
MQ_PAIRS = [1, 2, 4]


def load(path):
    samples = defaultdict(list)
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 6:
                sys.exit(f"{path}:{n}: expected 6 fields, got {len(parts)}")
            _round, section, row, variant, metric, value = parts
            samples[(section, row, variant, metric)].append(float(value))
    return samples


def stats(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def ratio(a, b):
    if not a or not b or b["median"] == 0:
        return None
    return a["median"] / b["median"]


def build(samples):
    rows = []
    for size in KERNEL_SIZES:
        get = lambda v: stats(samples.get(("kernel", size, v, "rx-pps"), []))
        ours, up, ceil = get("ours"), get("upstream"), get("dummy")
        gbit = lambda s: None if s is None else {
            k: (s[k] * int(size) * 8 / 1e9 if k != "n" else s[k]) for k in s}
        rows.append({"section": "kernel", "row": f"pktgen {size} B", "unit": "pps",
                     "ours": ours, "upstream": up, "ceiling": ceil,
                     "ratio": ratio(ours, up),
                     "ours_of_ceiling": ratio(ours, ceil), "upstream_of_ceiling": ratio(up, ceil)})
        rows.append({"section": "kernel", "row": f"pktgen {size} B", "unit": "Gbit/s",
                     "ours": gbit(ours), "upstream": gbit(up), "ceiling": gbit(ceil),
                     "ratio": ratio(ours, up)})
    for size in KERNEL_SIZES:
        ours = stats(samples.get(("vhost", size, "ours", "fps"), []))
        up = stats(samples.get(("vhost", size, "upstream", "fps"), []))
        gbit = lambda s: None if s is None else {
            k: (s[k] * int(size) * 8 / 1e9 if k != "n" else s[k]) for k in s}
        rows.append({"section": "vhost", "row": f"client {size} B", "unit": "frames/s",
                     "ours": ours, "upstream": up, "ratio": ratio(ours, up)})
        rows.append({"section": "vhost", "row": f"client {size} B", "unit": "Gbit/s",
                     "ours": gbit(ours), "upstream": gbit(up), "ratio": ratio(ours, up)})
    for (section, row, metric, unit) in [
            ("control", "create-to-up", "seconds", "s"),
            ("control", "open-to-driver-ok", "seconds", "s"),
            ("control", "iotlb-map-unbatched", "maps-per-s", "maps/s"),
            ("control", "iotlb-map-unbatched", "pages-per-s", "pages/s"),
            ("control", "iotlb-map-batched", "maps-per-s", "maps/s"),
            ("control", "iotlb-map-batched", "pages-per-s", "pages/s"),
            ("control", "iotlb-256MiB-scattered-map", "ms", "ms"),
            ("control", "iotlb-256MiB-scattered-unmap", "ms", "ms"),
            ("block", "4k-randread", "iops", "IOPS"),
            ("block", "4k-randwrite", "iops", "IOPS"),
            ("block", "128k-seqread", "MBps", "MB/s"),
            ("block", "128k-seqwrite", "MBps", "MB/s"),
            ("memory", "slab-per-device", "KiB", "KiB"),
            ("memory", "vmalloc-per-device", "KiB", "KiB"),
            ("memory", "module-text", "KiB", "KiB")]:
        ours = stats(samples.get((section, row, "ours", metric), []))
        up = stats(samples.get((section, row, "upstream", metric), []))
        rows.append({"section": section, "row": row, "unit": unit, "ours": ours, "upstream": up,
                     "ratio": ratio(ours, up)})
    for r in rows:
        r["better"] = "lower" if r["unit"] in ("s", "ms", "KiB") else "higher"
    return rows


def build_scaling(samples):
    """Rows of the multiqueue table: each pair count's median and its ratio to one pair's."""
    rows = []
    for (section, metric, unit) in MQ_PATHS:
        for size in MQ_SIZES:
            one = stats(samples.get((section, size, "1-pairs", metric), []))
            for n in MQ_PAIRS:
                s = stats(samples.get((section, size, f"{n}-pairs", metric), []))
                rows.append({"section": section, "row": f"{size} B", "pairs": n, "unit": unit,
                             "ours": s, "ratio_to_one_pair": ratio(s, one)})
    return rows


LOG_SIZES = ["64", "1514"]


def build_logging(samples):
    """Rows of the dirty-log table: the vhost path with the device logging, against not."""
    rows = []
    for size in LOG_SIZES:
        off = stats(samples.get(("log-vhost", size, "log-off", "fps"), []))
        on = stats(samples.get(("log-vhost", size, "log-on", "fps"), []))
        # Each pair of samples ran back to back; the median of their ratios, not the ratio
        # of the medians, is the figure (older sample files have no pairs).
        pairs = stats(samples.get(("log-vhost", size, "on-vs-off", "ratio"), []))
        rows.append({"section": "log-vhost", "row": f"{size} B", "unit": "frames/s",
                     "off": off, "on": on,
                     "on_vs_off": pairs["median"] if pairs else ratio(on, off),
                     "pair_ratios": pairs})
    return rows


MIGRATION_METRICS = [("downtime-ms", "downtime", "ms"),
                     ("downtime-kb", "sent in the downtime", "KiB"),
                     ("total-ms", "total time", "ms"),
                     ("frames-lost", "frames lost", "frames"),
                     ("stream-fps", "stream before and after", "frames/s")]


def build_migration(samples):
    """Rows of the migration table: ours (device log) against upstream (x-svq=on)."""
    rows = []
    for metric, name, unit in MIGRATION_METRICS:
        ours = stats(samples.get(("migration", "256MiB", "ours", metric), []))
        up = stats(samples.get(("migration", "256MiB", "upstream", metric), []))
        if ours is None and up is None:
            continue
        rows.append({"section": "migration", "row": name, "unit": unit, "ours": ours,
                     "upstream": up, "ratio": ratio(ours, up)})
    return rows


def migration_table(rows):
    head = ["256 MiB guest", "unit", "ours (device log)", "upstream (x-svq=on)", "ours/upstream"]
    body = [[r["row"], r["unit"], cell(r["ours"]), cell(r["upstream"]),
             "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(head)] + [line(b) for b in body])


def logging_table(rows):
    head = ["path", "frames", "unit", "logging off", "logging on", "on vs off (pairs)"]

    def pairs(r):
        if r["on_vs_off"] is None:
            return "-"
        p = r.get("pair_ratios")
        if not p:
            return f"{r['on_vs_off']:.2f}x"
        return f"{p['median']:.2f}x [{p['min']:.2f}..{p['max']:.2f}, n={p['n']}]"
    body = [[r["section"], r["row"], r["unit"], cell(r["off"]), cell(r["on"]), pairs(r)]
            for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(head)] + [line(b) for b in body])


def scaling_table(rows):
    head = ["path", "frames", "pairs", "unit", "median [min..max]", "vs 1 pair"]
    body = [[r["section"], r["row"], str(r["pairs"]), r["unit"], cell(r["ours"]),
             "-" if r["ratio_to_one_pair"] is None else f"{r['ratio_to_one_pair']:.2f}x"]
            for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(head)] + [line(b) for b in body])


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def cell(s):
    if s is None:
        return "-"
    if s["n"] == 1:
        return fmt(s["median"])
    return f"{fmt(s['median'])} [{fmt(s['min'])}..{fmt(s['max'])}]"


def table(rows):
    head = ["section", "row", "unit", "better", "ours median [min..max]",
            "upstream median [min..max]", "ours/upstream", "ceiling (dummy)", "ours/ceiling",
            "upstream/ceiling"]
    body = []
    for r in rows:
        body.append([r["section"], r["row"], r["unit"], r["better"], cell(r["ours"]),
                     cell(r["upstream"]),
                     "-" if r["ratio"] is None else f"{r['ratio']:.2f}x",
                     cell(r.get("ceiling")),
                     "-" if r.get("ours_of_ceiling") is None else f"{r['ours_of_ceiling']:.1%}",
                     "-" if r.get("upstream_of_ceiling") is None
                     else f"{r['upstream_of_ceiling']:.1%}"])
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    line = lambda cols: "  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()
    out = [line(head), line(["-" * w for w in widths])]
    out += [line(b) for b in body]
    return "\n".join(out)


def svg(rows):
    """Two panels of grouped bars, median with min-max whiskers: kernel-path pps per frame size
    (ours / upstream / ceiling), then vhost-path frames/s (ours / upstream)."""
    W, PH, L, B, T = 760, 360, 80, 40, 40
    colors = {"ours": "#2a7ab9", "upstream": "#d9822b", "ceiling": "#9a9a9a"}
    panels = [
        ("Kernel path: frames/s received (pktgen)", "kernel", "pps",
         {"ours": "ours (virtio_mdev + vmdev_sim)",
          "upstream": "upstream (virtio_vdpa + vdpa_sim_net)", "ceiling": "dummy netdev"}),
        ("vhost path: frames/s looped by vhost_client", "vhost", "frames/s",
         {"ours": "ours (vhost_mdev + vmdev_sim)",
          "upstream": "upstream (vhost_vdpa + vdpa_sim_net)"}),
    ]
    H = PH * len(panels)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    for p, (title, section, unit, labels) in enumerate(panels):
        y0 = p * PH
        data = [r for r in rows if r["section"] == section and r["unit"] == unit]
        names = list(labels)
        top = max([r[n]["max"] for r in data for n in names if r.get(n)] + [1])
        plot_h = PH - B - T - 30
        group_w = (W - L - 20) / max(len(data), 1)
        bar_w = group_w / (len(names) + 1)
        y = lambda v: y0 + T + plot_h - plot_h * v / top
        out.append(f'<text x="{W / 2}" y="{y0 + 20}" text-anchor="middle" font-size="14">'
                   f'{title}, median of rounds, min-max whiskers</text>')
        for i in range(5):
            v = top * i / 4
            out.append(f'<line x1="{L}" x2="{W - 20}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                       'stroke="#ddd"/>')
            out.append(f'<text x="{L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:,.0f}</text>')
        for g, r in enumerate(data):
            x0 = L + g * group_w + bar_w / 2
            for k, name in enumerate(names):
                st = r.get(name)
                if not st:
                    continue
                x = x0 + k * bar_w
                out.append(f'<rect x="{x:.1f}" y="{y(st["median"]):.1f}" '
                           f'width="{bar_w * 0.9:.1f}" '
                           f'height="{y0 + T + plot_h - y(st["median"]):.1f}" '
                           f'fill="{colors[name]}"/>')
                cx = x + bar_w * 0.45
                out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(st["min"]):.1f}" '
                           f'y2="{y(st["max"]):.1f}" stroke="black"/>')
            label = r["row"].split(" ", 1)[1]
            out.append(f'<text x="{x0 + bar_w * len(names) / 2:.1f}" '
                       f'y="{y0 + T + plot_h + 16}" text-anchor="middle">{label}</text>')
        for k, name in enumerate(names):
            lx = L + k * 230
            ly = y0 + PH - 30
            out.append(f'<rect x="{lx}" y="{ly}" width="12" height="12" '
                       f'fill="{colors[name]}"/>')
            out.append(f'<text x="{lx + 16}" y="{ly + 10}">{labels[name]}</text>')
    out.append("</svg>")
    return "\n".join(out)


def smoke_check(samples, rows):
    problems = []
    for size in KERNEL_SIZES:
        for v in ("ours", "upstream", "dummy"):
            vals = samples.get(("kernel", size, v, "rx-pps"), [])
            if not vals or min(vals) <= 0:
                problems.append(f"kernel {size} B {v}: no frames counted ({vals})")
    for size in KERNEL_SIZES:
        for v in ("ours", "upstream"):
            vals = samples.get(("vhost", size, v, "fps"), [])
            if not vals or min(vals) <= 0:
                problems.append(f"vhost {size} B {v}: no frames counted ({vals})")
    for r in rows:
        if r["section"] not in ("kernel", "vhost") and (r["ours"] is None or r["upstream"] is None):
            problems.append(f"{r['section']} {r['row']}: no samples")
    for (section, metric, _unit) in MQ_PATHS:
        for size in MQ_SIZES:
            for n in MQ_PAIRS:
                vals = samples.get((section, size, f"{n}-pairs", metric), [])
                if not vals or min(vals) <= 0:
                    problems.append(f"{section} {size} B {n} pairs: no frames counted ({vals})")
    for size in LOG_SIZES:
        for v in ("log-off", "log-on"):
            vals = samples.get(("log-vhost", size, v, "fps"), [])
            if not vals or min(vals) <= 0:
                problems.append(f"log-vhost {size} B {v}: no frames counted ({vals})")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("samples")
    ap.add_argument("--json")
    ap.add_argument("--svg")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    samples = load(a.samples)
    rows = build(samples)
    scaling = build_scaling(samples)
    logging = build_logging(samples)
    migration = build_migration(samples)
    print(table(rows))
    print()
    print("multiqueue (ours only; upstream's simulator has one queue pair):")
    print(scaling_table(scaling))
    print()
    print("dirty logging (ours only; no upstream device logs): the vhost path while migrating")
    print(logging_table(logging))
    stalled = {v: samples.get(("migration", "256MiB", v, "stalled"), []) for v in ("ours", "upstream")}
    if migration:
        print()
        print("live migration under a stream (QEMU 7.2; lower is better but for frames/s):")
        print(migration_table(migration))
        print("guest stalled on the destination after the switch: " + ", ".join(
            f"{v} {int(sum(x))} of {len(x)} runs" for v, x in stalled.items()))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "scaling": scaling, "logging": logging,
                       "migration": migration,
                       "migration_stalled": {v: {"runs": len(x), "stalled": int(sum(x))}
                                             for v, x in stalled.items()}}, f, indent=1)
    if a.svg:
        with open(a.svg, "w") as f:
            f.write(svg(rows))
    if a.smoke:
        problems = smoke_check(samples, rows)
        for p in problems:
            print(f"bench smoke: FAIL {p}")
        if problems:
            return 1
        print("bench smoke: every row ran and counted traffic")
    return 0


if __name__ == "__main__":
    sys.exit(main())
