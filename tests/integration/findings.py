#!/usr/bin/env python3
"""Asserts on `vhdcrypt check --json` output.

  findings.py FILE --ok true|false --ids id1,id2,...   exact set of finding ids
  findings.py FILE --subject ID SUBSTRING                a finding ID whose subject contains SUBSTRING
"""
import json
import sys


def main():
    path = sys.argv[1]
    with open(path) as f:
        report = json.load(f)
    args = sys.argv[2:]
    ids = sorted({f["id"] for f in report["findings"]})
    while args:
        opt = args.pop(0)
        if opt == "--ok":
            want = args.pop(0) == "true"
            if report["ok"] != want:
                sys.exit(f"{path}: ok is {report['ok']}, expected {want}; findings: {ids}")
        elif opt == "--ids":
            want = sorted(x for x in args.pop(0).split(",") if x)
            if ids != want:
                sys.exit(f"{path}: finding ids {ids}\n  expected {want}\n"
                         f"  missing {sorted(set(want) - set(ids))}, unexpected {sorted(set(ids) - set(want))}")
        elif opt == "--subject":
            fid, sub = args.pop(0), args.pop(0)
            if not any(f["id"] == fid and sub in f["subject"] for f in report["findings"]):
                sys.exit(f"{path}: no {fid} finding with subject containing {sub!r}")
        elif opt == "--distro":
            want = args.pop(0)
            got = f"{report['os']['distro']} {report['os']['major']}.{report['os']['minor']}"
            if got != want:
                sys.exit(f"{path}: os is {got}, expected {want}")
        else:
            sys.exit(f"unknown option {opt}")


main()
