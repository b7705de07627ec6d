"""Writes the nginx config of K advdemo replicas from ``deploy/nginx.conf.template`` to stdout.

    python deploy/render_nginx.py --listen 8500 --run /path/to/run/folder 127.0.0.1:8501 127.0.0.1:8502 ...

Replica i (0-based, in the order given) is ``r<i>``: the value of the affinity cookie and the name of its upstream,
which lists the other replicas as backups. ``--run`` is where nginx keeps its pid, logs and temporary files.
Stdlib only (the proxy's container has no app packages).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"


def render(replicas: list[str], listen: str, run: str, user: str | None = None) -> str:
    if not replicas:
        raise SystemExit("render_nginx.py: give at least one replica address (HOST:PORT)")
    names = [f"r{index}" for index in range(len(replicas))]
    upstreams = []
    for index, name in enumerate(names):
        servers = [f"        server {replicas[index]} max_fails=1 fail_timeout=10s;"]
        servers += [f"        server {other} backup;" for other in replicas[:index] + replicas[index + 1:]]
        upstreams.append(f"    upstream {name} {{\n" + "\n".join(servers) + "\n    }")
    share = int(10000 / len(names)) / 100  # nginx takes two decimals; the last replica gets the rest
    split = [f"        {share:.2f}% {name};" for name in names[:-1]] + [f"        * {names[-1]};"]
    fields = {
        "@UPSTREAMS@": "\n".join(upstreams),
        "@SPLIT@": "\n".join(split),
        "@KNOWN@": "\n".join(f"        {name} {name};" for name in names),
        "@KEEP@": "\n".join(f'        {name} "";' for name in names),
        "@LISTEN@": listen,
        "@RUN@": run,
        "@USER@": f"user {user};" if user else "",
    }
    text = TEMPLATE.read_text()
    for field, value in fields.items():
        text = text.replace(field, value)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("replicas", nargs="+", help="each replica's HOST:PORT")
    parser.add_argument("--listen", default=os.environ.get("ADVDEMO_PORT", "8500"), help="nginx's listen address")
    parser.add_argument("--run", required=True, help="folder for nginx's pid, logs and temporary files")
    parser.add_argument("--user", help="the worker processes' user, when nginx starts as root (e.g. root for a "
                                       "folder only root can write)")
    args = parser.parse_args()
    print(render(args.replicas, args.listen, os.path.abspath(args.run), args.user), end="")


if __name__ == "__main__":
    main()
