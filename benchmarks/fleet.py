"""serve as a fleet behind nginx: 1 and 2 `phizer serve` instances over one SeaweedFS master
and render store, behind configs/nginx.conf (routing by the original's path), each given a
cold page's worth: every size of each of COUNT photos, each photo's sizes asked for
together, CLIENTS clients at once. Printed per fleet size: the page's wall time and
throughput, and the master's GETs per original (from SeaweedFS's own request counters).

    scripts/bench-fleet [--count 24] [--clients 6] [--json]

On a 2-core machine two instances share the same two cores, so the point is the GET count
(1 per original: a second instance adds no duplicate work), not raw throughput. Each
instance runs one render worker and has its own originals cache, as on separate hosts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import requests  # noqa: E402
from support.config import write_config  # noqa: E402
from support.nginx import nginx  # noqa: E402
from support.serve import image_bytes, serve  # noqa: E402
from support.servers import SeaweedFS, start_seaweedfs  # noqa: E402

SIZES = {
    "thumb": {"width": 120, "height": 120, "mode": "fill"},
    "small": {"width": 220, "height": 220, "mode": "fill"},
    "medium": {"width": 800, "height": 800, "mode": "max"},
    "large": {"width": 1600, "height": 1600, "mode": "max"},
}


def run_fleet(
    weed: SeaweedFS, folder: Path, instances: int, count: int, clients: int
) -> dict[str, Any]:
    master, store = weed.new_bucket(), weed.new_bucket()
    s3 = weed.client(connections=16)
    photos = [f"p/{i:03d}.jpg" for i in range(count)]
    for i, path in enumerate(photos):
        s3.put_object(Bucket=master, Key=path, Body=image_bytes(1920 + 16 * i, 1280))
    configs = []
    for k in range(instances):
        home = folder / f"{instances}-{k}"
        home.mkdir()
        endpoint = weed.endpoint_url
        tables = {
            "master": {"type": "s3", "bucket": master, "endpoint_url": endpoint},
            "store": {"type": "s3", "bucket": store, "endpoint_url": endpoint},
            "cache": {"path": str(home / "cache")},
            "sizes": SIZES,
        }
        configs.append(write_config(home, tables))
    rng = random.Random(7)
    urls = []
    for path in rng.sample(photos, len(photos)):
        urls += [f"/{s['width']}x{s['height']}/{path}" for s in rng.sample(list(SIZES.values()), 4)]
    renders = folder / f"renders-{instances}"
    renders.mkdir(mode=0o755)
    with ExitStack() as stack:
        env = {
            "AWS_ACCESS_KEY_ID": weed.access_key,
            "AWS_SECRET_ACCESS_KEY": weed.secret_key,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        servers = [stack.enter_context(serve(c, env=env)) for c in configs]
        front = stack.enter_context(
            nginx(folder / f"nginx-{instances}", renders, [s.url for s in servers], 600)
        )
        before = weed.requests_by_bucket()
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            codes = list(
                pool.map(
                    lambda u: requests.get(front.static_url + u, timeout=120).status_code, urls
                )
            )
        seconds = time.perf_counter() - started
        time.sleep(1.0)  # render-ahead finishing, and the counters catching up
        during = weed.requests_by_bucket() - before
    if codes != [200] * len(urls):
        raise SystemExit(f"{instances} instances: {sum(c != 200 for c in codes)} failed requests")
    gets = during[(master, "GET")]
    return {
        "instances": instances,
        "requests": len(urls),
        "seconds": round(seconds, 2),
        "requests_per_second": round(len(urls) / seconds, 1),
        "master_gets_per_original": round(gets / count, 2),
        "store_puts": during[(store, "PUT")],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="phizer-bench-fleet-"))
    folder.chmod(0o755)  # nginx's workers run as another user
    weed = start_seaweedfs(folder / "weed")
    try:
        results = [run_fleet(weed, folder, n, args.count, args.clients) for n in (1, 2)]
    finally:
        weed.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"cold page: {args.count} photos x {len(SIZES)} sizes, {args.clients} clients")
    for r in results:
        print(
            f"  {r['instances']} instance(s): {r['seconds']:6.2f} s, "
            f"{r['requests_per_second']:6.1f} req/s, "
            f"{r['master_gets_per_original']:.2f} master GETs per original, "
            f"{r['store_puts']} store writes"
        )
    if args.json:
        print(json.dumps(results))
    return 0 if all(r["master_gets_per_original"] == 1 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
