"""Summarises a py-spy profile in its raw (collapsed stacks) format, as bench/suite.py
--profile writes it: the functions with the most samples, by self time (the innermost frame)
and by inclusive time (anywhere in the stack, counted once per stack), in % of all samples.

    python -m bench.profile_top FILE [--top 30] [--match app/]"""

import argparse
import re
from collections import Counter
from pathlib import Path

LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
# Innermost frames that are a thread waiting, not working (py-spy --nonblocking cannot tell):
# aiosqlite's connection thread on its queue, the event loop in epoll, an idle pool thread.
IDLE = ("_connection_worker_thread (aiosqlite/core.py:59)", "EpollSelector.select (",
        "_worker (concurrent/futures/thread.py:")  # fmt: skip


def frame_name(frame: str) -> str:
    """'render (jinja2/environment.py:1295)' -> 'render (jinja2/environment.py)': lines merged."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/wt13/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def summarise(text: str, top: int, match: str | None) -> str:
    own, inclusive, total, idle = Counter(), Counter(), 0, 0
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if not m:
            continue
        count = int(m["count"])
        if any(marker in m["stack"].rsplit(";", 1)[-1] for marker in IDLE):
            idle += count
            continue
        frames = [frame_name(f) for f in m["stack"].split(";") if f]
        # the first frame is the thread ("process 123:\"python\"" / thread names): skip non-code
        frames = [f for f in frames if "(" in f and not f.startswith("process ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for f in set(frames):
            inclusive[f] += count
    lines = [f"{total} busy samples ({idle} idle left out)"]
    for title, counter in (("self", own), ("inclusive", inclusive)):
        lines.append(f"\n-- {title} --")
        shown = 0
        for name, count in counter.most_common():
            if match and match not in name:
                continue
            lines.append(f"{100 * count / total:6.1f}%  {name}")
            shown += 1
            if shown >= top:
                break
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("file", type=Path)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--match")
    args = p.parse_args()
    print(summarise(args.file.read_text(), args.top, args.match))


if __name__ == "__main__":
    main()
