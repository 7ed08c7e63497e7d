#!/usr/bin/env python3
"""Run a command (through sh -c) and print `wall_s peak_rss_mb exit_code` for it.
Peak RSS is the largest resident set of the command's processes (getrusage of children)."""
import resource, subprocess, sys, time

t0 = time.monotonic()
rc = subprocess.call(sys.argv[1], shell=True)
wall = time.monotonic() - t0
rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{wall:.2f} {rss_mb:.0f} {rc}")
