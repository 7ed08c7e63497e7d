#!/usr/bin/env python3
"""Run a command (through sh -c) and print `wall_s peak_rss_mb exit_code cpu_s` for it.
Peak RSS is the largest resident set of the command's processes, CPU the user + system seconds
of all of them (getrusage of children): on a shared machine CPU time is the steadier figure."""
import resource, subprocess, sys, time

t0 = time.monotonic()
rc = subprocess.call(sys.argv[1], shell=True)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
rss_mb = ru.ru_maxrss / 1024
print(f"{wall:.2f} {rss_mb:.0f} {rc} {ru.ru_utime + ru.ru_stime:.2f}")
