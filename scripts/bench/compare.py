"""Side-by-side thumbnailing: imaged, vipsthumbnail, ImageMagick, Pillow.

Run through scripts/bench-compare, which installs the tools and builds
imaged. Every tool makes a q82 JPEG whose longest side is N of every file
of a class, in one pinned process per class (ImageMagick: one per file, as
it is used), best wall time of RUNS. The whole corpus is the sum of its
classes. Quality: PSNR of each output against a lossless reference (a full
decode, upright, Lanczos3 to the output's size, never encoded).
"""
import argparse, csv, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request, uuid
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

CLASSES = ["photo", "prog", "png", "other"]
PILLOW = r"""
import sys
from pathlib import Path
from PIL import Image, ImageOps
n, out = int(sys.argv[1]), Path(sys.argv[2])
for f in sys.argv[3:]:
    im = Image.open(f)
    im.draft("RGB", (n, n))
    im = ImageOps.exif_transpose(im)
    im.thumbnail((n, n), Image.LANCZOS, reducing_gap=None)
    im.convert("RGB").save(out / (Path(f).stem + ".jpg"), quality=82)
"""


def commands(tool, imaged, python, n, out, files, jobs=1):
    if tool == "imaged":
        return [[imaged, "thumbnail", "--overwrite", "--jobs", str(jobs), "--size", str(n), "--quality", "82", "--out", out,
                 *files]]
    if tool == "vipsthumbnail":
        return [["vipsthumbnail", "-s", str(n), "-o", f"{out}/%s.jpg[Q=82,strip]", *files]]
    if tool == "convert":
        return [["/usr/bin/convert", "-define", f"jpeg:size={2 * n}x{2 * n}", f"{f}[0]", "-auto-orient",
                 "-thumbnail", f"{n}x{n}", "-strip", "-quality", "82", f"{out}/{Path(f).stem}.jpg"] for f in files]
    if tool == "pillow":
        return [[python, "-c", PILLOW, str(n), out, *files]]
    raise ValueError(tool)


ENV = dict(os.environ, VIPS_CONCURRENCY="1", MAGICK_THREAD_LIMIT="1", OMP_NUM_THREADS="1")


def run(cmds, pin=True):
    start = time.perf_counter()
    for cmd in cmds:
        subprocess.run((["taskset", "-c", "0"] if pin else []) + [str(c) for c in cmd], env=ENV, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def peak_rss_mb(cmds):
    out = subprocess.run(["/usr/bin/time", "-f", "%M"] + [str(c) for c in cmds[0]], env=ENV, check=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True).stderr
    return int(out.strip().splitlines()[-1]) / 1024


def output(tool, out, path, n):
    stem = Path(path).stem
    return out / (f"{stem}-{n}.jpg" if tool == "imaged" else f"{stem}.jpg")


def psnr(ref, path):
    out = Image.open(path).convert("RGB")
    got = np.asarray(out, dtype=np.float64)
    mse = np.mean((ref - got) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--imaged", required=True)
    ap.add_argument("--sizes", default="256,1024")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tools", default="imaged,vipsthumbnail,convert,pillow")
    ap.add_argument("--only", choices=["phones", "daemon"], help="run this section alone")
    args = ap.parse_args()
    tools = args.tools.split(",")
    rows = list(csv.DictReader(open(args.corpus / "MANIFEST.tsv"), delimiter="\t"))
    files = {c: [str(args.corpus / r["file"]) for r in rows if r["class"] == c] for c in CLASSES}
    every = [f for c in CLASSES for f in files[c]]
    if args.only == "phones":
        return phones_section(args.imaged, rows, args.corpus, [t for t in tools if t != "pillow"], args.runs)
    if args.only == "daemon":
        return daemon_section(args.imaged, rows, args.corpus, every, Path(tempfile.mkdtemp(prefix="imaged-cli.")), {})
    work = Path(tempfile.mkdtemp(prefix="imaged-compare."))
    print(f"corpus: {len(rows)} files, {sum(float(r['megapixels']) for r in rows):.1f} MP; "
          + ", ".join(f"{c} {len(files[c])}" for c in CLASSES) + f"; best of {args.runs}, one core (taskset -c 0)")
    summary = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        best = {(t, c): float("inf") for t in tools for c in CLASSES}
        for _ in range(args.runs):
            for t in tools:
                shutil.rmtree(work / f"{t}-{n}", ignore_errors=True)
                (work / f"{t}-{n}").mkdir()
            for c in CLASSES:
                for t in tools:
                    wall = run(commands(t, args.imaged, sys.executable, n, work / f"{t}-{n}", files[c]))
                    best[t, c] = min(best[t, c], wall)
        # Every class's outputs are in place from the last run.
        measured = {t: [] for t in tools}
        for f in every:
            full, sized = ImageOps.exif_transpose(Image.open(f)).convert("RGB"), {}
            for t in tools:
                o = output(t, work / f"{t}-{n}", f, n)
                size = Image.open(o).size
                if size not in sized:
                    sized[size] = np.asarray(full.resize(size, Image.LANCZOS), dtype=np.float64)
                measured[t].append((o.stat().st_size, psnr(sized[size], o)))
        quality = {t: (sum(b for b, _ in m), float(np.mean([q for _, q in m])), min(q for _, q in m))
                   for t, m in measured.items()}
        print(f"\n### {n} px\n")
        print("| tool | " + " | ".join(f"{c} thumbs/s (×vips)" for c in CLASSES + ["all"])
              + " | output KB | PSNR mean / min dB |")
        print("|---" * (len(CLASSES) + 4) + "|")
        for t in tools:
            cells = []
            for c in CLASSES + ["all"]:
                count = len(files[c]) if c != "all" else len(every)
                secs = best[t, c] if c != "all" else sum(best[t, k] for k in CLASSES)
                vips = best["vipsthumbnail", c] if c != "all" else sum(best["vipsthumbnail", k] for k in CLASSES)
                cells.append(f"{count / secs:.2f} ({vips / secs:.2f})")
                summary[t, n, c] = vips / secs
            size, mean, low = quality[t]
            summary[t, n, "psnr"], summary[t, n, "bytes"] = mean, size
            print(f"| {t} | " + " | ".join(cells) + f" | {size / 1024:.0f} | {mean:.2f} / {low:.2f} |")
    largest = max((r for r in rows if r["format"] == "JPEG"), key=lambda r: float(r["megapixels"]))
    big = str(args.corpus / largest["file"])
    print(f"\n### Peak RSS, 256 px of the largest JPEG ({largest['file']}, {largest['megapixels']} MP)\n")
    out = work / "rss"
    out.mkdir()
    for t in tools:
        summary[t, "rss"] = peak_rss_mb(commands(t, args.imaged, sys.executable, 256, out, [big]))
        print(f"- {t}: {summary[t, 'rss']:.0f} MB")
    if "imaged" in tools:
        one = min(run(commands("imaged", args.imaged, None, 256, out, every, jobs=1)) for _ in range(args.runs))
        two = min(run(commands("imaged", args.imaged, None, 256, out, every, jobs=2), pin=False)
                  for _ in range(args.runs))
        summary["jobs2"] = one / two
        print(f"\n### imaged thumbnail --jobs 2 (both cores) against --jobs 1 (one core), 256 px, all files\n")
        print(f"- {len(every) / one:.2f} → {len(every) / two:.2f} thumbs/s: {one / two:.2f}×")
        daemon_section(args.imaged, rows, args.corpus, every, out, summary)
        targets(summary)
    phones_section(args.imaged, rows, args.corpus, [t for t in tools if t != "pillow"], args.runs)
    shutil.rmtree(work, ignore_errors=True)


def phones_section(imaged, rows, corpus, tools, runs, n=256):
    """Phones' formats: the HEIC and AVIF files against the JPEGs they were
    made from (the same photos, so the difference is the decode), through
    each tool that reads them (Pillow reads neither), one core, best of
    `runs`."""
    def stem(name):
        return Path(name).stem.split("-", 1)[1]
    by_class = {c: [r for r in rows if r["class"] == c] for c in ("heic", "avif")}
    if not all(by_class.values()):
        print("\n(no HEIC or AVIF in this corpus: made before they were added; build it again with scripts/corpus)")
        return
    stems = {stem(r["file"]) for r in by_class["heic"]}
    twins = [r for r in rows if r["format"] == "JPEG" and stem(r["file"]) in stems]
    inputs = {"JPEG": twins, "HEIC": by_class["heic"], "AVIF": by_class["avif"]}
    work = Path(tempfile.mkdtemp(prefix="imaged-phones."))
    best = {}
    for label, group in inputs.items():
        files = [str(corpus / r["file"]) for r in group]
        for t in tools:
            out = work / f"{t}-{label}"
            out.mkdir()
            best[t, label] = min(run(commands(t, imaged, None, n, out, files)) for _ in range(runs))
    print(f"\n### Phones' formats: {n} px of the same {len(twins)} photos "
          f"({sum(float(r['megapixels']) for r in twins):.1f} MP) as JPEG, HEIC and AVIF, one core\n")
    print("| input | bytes | " + " | ".join(f"{t} ms/image" + (" (×vips)" if t != "vipsthumbnail" else "") for t in tools) + " |")
    print("|---" * (len(tools) + 2) + "|")
    for label, group in inputs.items():
        count, size = len(group), sum(int(r["bytes"]) for r in group)
        cells = [f"{best[t, label] / count * 1000:.0f}"
                 + (f" ({best['vipsthumbnail', label] / best[t, label]:.2f})" if t != "vipsthumbnail" else "")
                 for t in tools]
        print(f"| {label} | {size / 1e6:.1f} MB | " + " | ".join(cells) + " |")
    shutil.rmtree(work, ignore_errors=True)


def upload(base, path):
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="upfile"; filename="{Path(path).name}"\r\n'
            f'Content-Type: application/octet-stream\r\n\r\n').encode()
    body = head + Path(path).read_bytes() + f'\r\n--{boundary}--\r\n'.encode()
    req = urllib.request.Request(f"{base}/api/image", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)["id"]


def status(base, image_id):
    with urllib.request.urlopen(f"{base}/api/image/{image_id}/thumbnails") as resp:
        return json.load(resp)["status"]


def wait_done(base, ids):
    pending = set(ids)
    while pending:
        pending = {i for i in pending if status(base, i) not in ("done", "failed")}
        if pending:
            time.sleep(0.005)


def start_daemon(imaged, data, port, **settings):
    env = dict(os.environ, IMAGED__DATA_DIR=str(data), IMAGED__HTTP__BIND=f"127.0.0.1:{port}",
               IMAGED__METRICS__BIND="", IMAGED__LOG__LEVEL="warn",
               **{f"IMAGED__{k.upper()}": str(v) for k, v in settings.items()})
    proc = subprocess.Popen([imaged], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz")
            return proc
        except OSError:
            time.sleep(0.025)
    raise RuntimeError("imaged did not become ready")


def stop(proc):
    proc.terminate()
    proc.wait()


def wait_all(base, count):
    """Until `count` jobs are done or failed, by /api/stats (one request per poll)."""
    while True:
        with urllib.request.urlopen(f"{base}/api/stats") as resp:
            jobs = json.load(resp)["jobs"]
        if jobs.get("done", 0) + jobs.get("failed", 0) >= count:
            return
        time.sleep(0.05)


def daemon_section(imaged, rows, corpus, every, scratch, summary):
    """The daemon on its embedded backends with the default variants (each
    size as JPEG and WebP): the latency of one 12 MP photo, then the jobs/s
    of every corpus file queued beforehand (by an API-only run), with both
    cores busy, best of 3; then the same jobs making JPEG alone, and JPEG,
    WebP and AVIF."""
    photo = min((r for r in rows if r["class"] == "photo"), key=lambda r: abs(float(r["megapixels"]) - 12))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base, data = f"http://127.0.0.1:{port}", Path(tempfile.mkdtemp(prefix="imaged-daemon."))
    rates = {}
    try:
        proc = start_daemon(imaged, data, port)
        latencies = []
        for _ in range(7):
            start = time.perf_counter()
            wait_done(base, [upload(base, corpus / photo["file"])])
            latencies.append(time.perf_counter() - start)
        stop(proc)
        for formats in ("jpeg,webp", "jpeg", "jpeg,webp,avif"):
            rates[formats] = 0.0
            for run_ in range(3):
                queued = data / f"run-{formats}-{run_}"
                proc = start_daemon(imaged, queued, port, queue__pollers=0)
                ids = [upload(base, f) for f in every]
                stop(proc)
                start = time.perf_counter()
                proc = start_daemon(imaged, queued, port, processing__formats=formats)
                wait_all(base, len(ids))
                rates[formats] = max(rates[formats], len(every) / (time.perf_counter() - start))
                stop(proc)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    sizes = [a for n in (128, 256, 1024) for a in ("--size", str(n))]
    cli = min(run([[imaged, "thumbnail", "--overwrite", *sizes, "--quality", "82", "--format", "jpeg", "--format",
                    "webp", "--out", scratch, *every]], pin=False)
              for _ in range(3))
    daemon = rates["jpeg,webp"]
    summary["latency"], summary["daemon"] = statistics.median(latencies) * 1000, daemon / (len(every) / cli)
    print("\n### The daemon (embedded backends, variants 128, 256 and 1024 as JPEG and WebP, both cores)\n")
    print(f"- {photo['file']} ({photo['megapixels']} MP), upload → done: median {summary['latency']:.0f} ms of 7"
          f" (min {min(latencies) * 1000:.0f}, max {max(latencies) * 1000:.0f})")
    print(f"- {len(every)} queued jobs, from the start of the process to the last `done`: {daemon:.2f} jobs/s;"
          f" `imaged thumbnail` on the same files, sizes and formats: {len(every) / cli:.2f}/s;"
          f" ratio {summary['daemon']:.2f}")
    print(f"- the same jobs making JPEG alone (`processing.formats = [\"jpeg\"]`): {rates['jpeg']:.2f} jobs/s;"
          f" JPEG and WebP take {rates['jpeg'] / daemon:.2f}× as long")
    print(f"- with AVIF too (`[\"jpeg\", \"webp\", \"avif\"]`): {rates['jpeg,webp,avif']:.2f} jobs/s;"
          f" {rates['jpeg'] / rates['jpeg,webp,avif']:.2f}× as long as JPEG alone")


def targets(s):
    checks = [
        ("256 px, all ≥ 1.5× vips", s["imaged", 256, "all"], 1.5),
        ("256 px, photo ≥ 1.4× vips", s["imaged", 256, "photo"], 1.4),
        ("256 px, prog ≥ 1.5× vips", s["imaged", 256, "prog"], 1.5),
        ("256 px, png ≥ 2× vips", s["imaged", 256, "png"], 2.0),
        ("1024 px, all ≥ 1.6× vips", s.get(("imaged", 1024, "all"), 0), 1.6),
        ("PSNR mean ≥ vips (256 px, dB)", s["imaged", 256, "psnr"] - s["vipsthumbnail", 256, "psnr"], 0.0),
        ("bytes ≤ 1.1× vips (256 px)", 1.1 - s["imaged", 256, "bytes"] / s["vipsthumbnail", 256, "bytes"], 0.0),
        ("peak RSS ≤ vips (MB below)", s["vipsthumbnail", "rss"] - s["imaged", "rss"], 0.0),
        ("--jobs 2 ≥ 1.8× one core", s["jobs2"], 1.8),
        ("daemon upload → done ≤ 80 ms (ms below)", 80 - s["latency"], 0.0),
        ("daemon jobs/s ≥ 0.9× imaged thumbnail", s["daemon"], 0.9),
    ]
    print("\n### Targets\n")
    for name, value, bound in checks:
        print(f"- {'met ' if value >= bound else 'MISSED'} {name}: {value:.2f}")


if __name__ == "__main__":
    main()
