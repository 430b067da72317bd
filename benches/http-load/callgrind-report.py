#!/usr/bin/env python3
"""Reads the per-thread profiles `profile.sh` writes and prints costs per request.

  threads PREFIX                        each thread's total per request, for every event counted
  self PREFIX --thread N [--event E]    self cost per function (inlined code counts for the
                                        function it was inlined into)
  callees PREFIX --thread N [--event E] inclusive cost per called function, with calls per request
  diff BASE VARIANT --thread N [--event E] [--by self|callees]
                                        VARIANT minus BASE, largest differences first

PREFIX is DIR/VARIANT as profile.sh wrote it (PREFIX.cg-NN, PREFIX.requests). Events: Ir
(instructions, the default); with --cache also I1mr, D1mr, D1mw, DLmr, DLmw; a sum is written
D1mr+D1mw.
"""

import argparse
import collections
import glob
import re
import sys

NAMED = re.compile(r"\((\d+)\)(?: (.*))?")


def requests(prefix):
    with open(prefix + ".requests") as f:
        return int(f.read().split()[0])


def thread_file(prefix, n):
    return f"{prefix}.cg-{int(n):02d}"


def parse(path, events):
    """Self cost per function, and inclusive cost and call count per callee."""
    names = {}
    fn = cfn = None
    positions = 1
    index = []
    after_calls = False
    calls = 0
    self_cost = collections.Counter()
    callee_cost = collections.Counter()
    callee_calls = collections.Counter()

    def name(value):
        m = NAMED.match(value)
        if not m:
            return value
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), "?")

    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith("positions:"):
                positions = len(line.split()[1:])
            elif line.startswith("events:"):
                have = line.split()[1:]
                index = [have.index(e) for e in events if e in have]
                if len(index) != len(events):
                    sys.exit(f"{path} lacks some of {events} (has {have})")
            elif line.startswith("fn="):
                fn = name(line[3:])
            elif line.startswith("cfn="):
                cfn = name(line[4:])
            elif line.startswith("calls="):
                after_calls = True
                calls = int(line[6:].split()[0])
            elif line[0].isdigit() or line[0] in "+-*":
                values = line.split()[positions:]
                cost = sum(int(values[i]) for i in index if i < len(values))
                if after_calls:
                    if cfn != fn:
                        callee_cost[cfn] += cost
                        callee_calls[cfn] += calls
                    after_calls = False
                else:
                    self_cost[fn] += cost
            else:
                # fl=, fi=, fe=, cfi=, cfl=, ob=, cob=: file and object names share one table.
                for key in ("fl=", "fi=", "fe=", "cfi=", "cfl="):
                    if line.startswith(key):
                        name(line[len(key):])
    return self_cost, callee_cost, callee_calls


def table(prefix, thread, events, by):
    n = requests(prefix)
    self_cost, callee_cost, callee_calls = parse(thread_file(prefix, thread), events)
    if by == "self":
        return {k: (v / n, None) for k, v in self_cost.items()}
    return {k: (v / n, callee_calls[k] / n) for k, v in callee_cost.items()}


def show(rows, top):
    for name, (cost, calls) in rows[:top]:
        per = f"{calls:7.2f}/req " if calls is not None else ""
        print(f"{cost:11.1f}  {per}{name[:170]}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["threads", "self", "callees", "diff"])
    p.add_argument("prefix", nargs="+")
    p.add_argument("--thread", type=int, default=2)
    p.add_argument("--event", default="Ir")
    p.add_argument("--by", choices=["self", "callees"], default="self")
    p.add_argument("--top", type=int, default=40)
    a = p.parse_args()
    events = a.event.split("+")
    if a.command == "threads":
        prefix = a.prefix[0]
        n = requests(prefix)
        for path in sorted(glob.glob(prefix + ".cg-*")):
            with open(path) as f:
                text = f.read()
            have = re.search(r"^events: (.*)$", text, re.M).group(1).split()
            total = re.search(r"^summary: (.*)$", text, re.M).group(1).split()
            cols = ", ".join(f"{e} {int(v) / n:.2f}" for e, v in zip(have, total))
            print(f"{path}: {cols} per request")
        return
    if a.command in ("self", "callees"):
        rows = table(a.prefix[0], a.thread, events, a.command)
        show(sorted(rows.items(), key=lambda kv: -kv[1][0]), a.top)
        return
    if len(a.prefix) != 2:
        sys.exit("diff takes BASE and VARIANT")
    base = table(a.prefix[0], a.thread, events, a.by)
    variant = table(a.prefix[1], a.thread, events, a.by)
    zero = (0.0, 0.0)
    rows = []
    for name in set(base) | set(variant):
        b, v = base.get(name, zero), variant.get(name, zero)
        calls = None if a.by == "self" else v[1] - (b[1] or 0.0)
        rows.append((name, (v[0] - b[0], calls)))
    print(f"{'VARIANT - BASE':>11}")
    show(sorted(rows, key=lambda kv: -kv[1][0]), a.top)


if __name__ == "__main__":
    main()
