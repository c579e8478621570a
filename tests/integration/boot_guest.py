#!/usr/bin/python3
"""Boots a guest disk image under qemu (TCG) and reports what the guest saw.

  boot_guest.py --disk FILE:FORMAT [--disk FILE:FORMAT ...]
                (--expect-report | --expect-no-root)
                [--uefi] [--timeout SECONDS] [--log FILE] [--bus virtio|scsi|ahci]
                [--memory MIB] [--smp N] [--cpu MODEL] [--wait-poweroff]
                [--no-root-pattern REGEX ...]

The first --disk is the boot disk; FORMAT is raw or vpc, always given. Every
disk is opened with snapshot=on (and qemu runs with -snapshot): the guest's
writes go to a temporary overlay and the images stay byte-identical. Guests are
those of scripts/build-debian-guest: GRUB and the kernel talk on the serial
line ttyS0, which this reads, and vhdcrypt-report.service prints a block
between VHDCRYPT-REPORT-BEGIN and VHDCRYPT-REPORT-END (key=value lines,
fixtures/guest-report.sh) and powers off.

--bus (default virtio): virtio-blk (the guest sees /dev/vda, /dev/vdb, ...),
scsi (virtio-scsi: /dev/sda, /dev/sdb, ...) or ahci (q35's SATA: /dev/sda ...).
--uefi boots OVMF (package ovmf) with a writable copy of its variables in a
temporary directory; otherwise SeaBIOS.

--expect-report: success (exit 0) when the report block is complete within
  --timeout seconds of starting qemu. Prints on stdout
  {"report": {key: value}, "boot_seconds": N, "powered_off": bool, ...};
  boot_seconds is wall time from starting qemu to the end of the report. qemu
  is killed then (the disks are snapshots: nothing is lost), unless
  --wait-poweroff: then it waits up to 60 s for the guest's own poweroff and
  says whether it came ("powered_off").
--expect-no-root: success when the guest never prints the report and the
  serial log shows that it stopped in its initramfs, before the real root:
  one of NO_ROOT_PATTERNS below (or a --no-root-pattern) matches, and nothing
  has shown the real root's systemd starting ("Welcome to ..." without
  "Initramfs", LEFT_INITRAMFS). qemu is killed at the first match. Prints
  {"report": null, "stopped_in_initramfs": true, "matched": NAME,
   "line": TEXT, "seconds": N}.
Exit 1 on failure (timeout, qemu exiting early, the wrong outcome), with the
same JSON and an "error" key. The whole serial log goes to --log (default: a
file in the temporary directory, removed; give --log to keep it).
"""

import argparse
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BEGIN = "VHDCRYPT-REPORT-BEGIN"
END = "VHDCRYPT-REPORT-END"

# Stopped in the initramfs, on the serial console (ANSI colours removed).
NO_ROOT_PATTERNS = [
    # initramfs-tools (scripts/local, scripts/local-top/cryptroot)
    ("initramfs-tools-gave-up", r"Gave up waiting for (root file system|suspend/resume) device"),
    ("initramfs-tools-alert", r"ALERT!\s+\S+ does not exist\.\s+Dropping to a shell"),
    ("initramfs-tools-shell", r"\(initramfs\) "),
    ("initramfs-tools-cryptsetup-failed", r"cryptsetup: ERROR: \S+: (cryptsetup failed|maximum number of tries exceeded)"),
    ("initramfs-tools-askpass", r"Please unlock disk \S+"),
    # dracut (dracut-lib.sh emergency_shell, dracut-initqueue, systemd in the initrd)
    ("dracut-initqueue-timeout", r"dracut-initqueue\S*: (Warning: )?dracut-initqueue: timeout"),
    ("dracut-emergency", r"Entering emergency mode\. Exit the shell to continue"),
    ("dracut-rdsosreport", r"Generating \"/run/initramfs/rdsosreport\.txt\""),
    ("dracut-no-device", r"Warning: /dev/\S+ does not exist"),
    ("dracut-askpass", r"Please enter passphrase for disk"),
    # any initramfs: the kernel found no root at all
    ("kernel-no-root-fs", r"Kernel panic - not syncing: VFS: Unable to mount root fs"),
]
# The real root's systemd has started: past the initramfs.
LEFT_INITRAMFS = r"Welcome to (?![^\n]*[Ii]nitramfs)[^\n]*!"

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\r")
KEY_VALUE = re.compile(r"^([A-Za-z0-9_.-]+)=(.*)$")
OVMF = [("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
        ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd")]
FORMATS = ("raw", "vpc")


def parse_report(text):
    """The key=value lines of the last complete report block, else None."""
    end = text.rfind(END)
    begin = text.rfind(BEGIN, 0, end) if end >= 0 else -1
    if begin < 0:
        return None
    report = {}
    for line in text[begin + len(BEGIN):end].split("\n"):
        m = KEY_VALUE.match(line.strip())
        if m:
            report[m.group(1)] = m.group(2)
    return report


def qemu_command(args, tmp):
    cmd = ["qemu-system-x86_64", "-machine", "q35,accel=tcg", "-m", str(args.memory),
           "-smp", str(args.smp), "-nodefaults", "-display", "none", "-monitor", "none",
           "-serial", "stdio", "-no-reboot", "-snapshot"]
    if args.cpu:
        cmd += ["-cpu", args.cpu]
    if args.uefi:
        for code, vars_ in OVMF:
            if os.path.exists(code) and os.path.exists(vars_):
                break
        else:
            raise SystemExit("boot_guest: --uefi needs OVMF (Debian package ovmf)")
        vars_copy = os.path.join(tmp, "OVMF_VARS.fd")
        shutil.copyfile(vars_, vars_copy)
        cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
                "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
    if args.bus == "scsi":
        cmd += ["-device", "virtio-scsi-pci,id=scsi0"]
    for i, (path, fmt) in enumerate(args.disk):
        # snapshot=on: writes go to a temporary overlay, never to the image.
        cmd += ["-drive", f"file={path},format={fmt},if=none,id=disk{i},snapshot=on"]
        boot = ",bootindex=1" if i == 0 else ""
        if args.bus == "virtio":
            cmd += ["-device", f"virtio-blk-pci,drive=disk{i}{boot}"]
        elif args.bus == "scsi":
            cmd += ["-device", f"scsi-hd,bus=scsi0.0,drive=disk{i}{boot}"]
        else:
            cmd += ["-device", f"ide-hd,bus=ide.{i},drive=disk{i}{boot}"]
    return cmd


def disk_arg(value):
    path, sep, fmt = value.rpartition(":")
    if not sep or fmt not in FORMATS:
        raise argparse.ArgumentTypeError(f"want FILE:FORMAT with FORMAT one of {', '.join(FORMATS)}: {value}")
    if not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f"no such file: {path}")
    return (os.path.abspath(path), fmt)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--disk", type=disk_arg, action="append", required=True, help="FILE:FORMAT, first boots")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--expect-report", action="store_true")
    mode.add_argument("--expect-no-root", action="store_true")
    p.add_argument("--uefi", action="store_true")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--log")
    p.add_argument("--bus", choices=("virtio", "scsi", "ahci"), default="virtio")
    p.add_argument("--memory", type=int, default=1024)
    p.add_argument("--smp", type=int, default=1)
    p.add_argument("--cpu", help="qemu -cpu MODEL (default: qemu's own for q35 under TCG)")
    p.add_argument("--wait-poweroff", action="store_true")
    p.add_argument("--no-root-pattern", action="append", default=[], metavar="REGEX")
    args = p.parse_args()
    if args.bus == "ahci" and len(args.disk) > 6:
        p.error("ahci takes 6 disks at most")
    patterns = [(name, re.compile(rx)) for name, rx in NO_ROOT_PATTERNS]
    patterns += [(f"user-{i}", re.compile(rx)) for i, rx in enumerate(args.no_root_pattern)]
    left = re.compile(LEFT_INITRAMFS)

    with tempfile.TemporaryDirectory(prefix="boot_guest-") as tmp:
        log_path = args.log or os.path.join(tmp, "serial.log")
        cmd = qemu_command(args, tmp)
        result = {"report": None}
        err_path = os.path.join(tmp, "qemu.stderr")
        start = time.monotonic()
        with open(log_path, "wb") as log, open(err_path, "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                    env=dict(os.environ, TMPDIR=tmp), start_new_session=True)
            sel = selectors.DefaultSelector()
            sel.register(proc.stdout, selectors.EVENT_READ)
            raw = bytearray()
            text = ""
            checked = 0       # text before this offset was searched for patterns
            left_at = None    # offset where the real root's systemd started
            report_at = None  # seconds when the report ended
            matched = None
            eof = False
            deadline = start + args.timeout
            while True:
                now = time.monotonic()
                if report_at is not None:
                    if not args.wait_poweroff or proc.poll() is not None or now > report_at + start + 60:
                        break
                elif now > deadline or matched or (eof and proc.poll() is not None):
                    break
                if eof:
                    time.sleep(0.2)
                    continue
                for _key, _ in sel.select(timeout=0.5):
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        eof = True
                        sel.unregister(proc.stdout)
                        break
                    log.write(chunk)
                    log.flush()
                    raw += chunk
                text = ANSI.sub("", raw.decode("utf-8", "replace"))
                # Search from a little before the new text: a match may straddle reads.
                window = text[max(0, checked - 400):]
                if left_at is None:
                    m = left.search(window)
                    if m:
                        left_at = max(0, checked - 400) + m.start()
                if report_at is None and END in window and parse_report(text) is not None:
                    report_at = time.monotonic() - start
                if args.expect_no_root and report_at is None and BEGIN not in text:
                    for name, rx in patterns:
                        m = rx.search(window)
                        if m and (left_at is None or max(0, checked - 400) + m.start() < left_at):
                            line_start = text.rfind("\n", 0, max(0, checked - 400) + m.start()) + 1
                            line_end = text.find("\n", max(0, checked - 400) + m.end())
                            matched = (name, text[line_start:line_end if line_end >= 0 else None].strip())
                            break
                checked = len(text)
            elapsed = time.monotonic() - start
            powered_off = proc.poll() is not None and report_at is not None
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        qemu_err = open(err_path, errors="replace").read().strip()

    report = parse_report(text)
    ok = False
    if args.expect_report:
        result["report"] = report
        if report is not None:
            ok = True
            result["boot_seconds"] = round(report_at, 1)
            if args.wait_poweroff:
                result["powered_off"] = powered_off
        else:
            result["error"] = (f"no report within {args.timeout:.0f}s" if elapsed >= args.timeout
                               else f"qemu exited after {elapsed:.0f}s without a report")
    else:
        result["seconds"] = round(elapsed, 1)
        if BEGIN in text:
            result["report"] = report
            result["error"] = "the guest reached its real root and printed the report"
        elif matched:
            ok = True
            result["stopped_in_initramfs"] = True
            result["matched"], result["line"] = matched
        else:
            result["stopped_in_initramfs"] = False
            result["error"] = ("the guest's real root started" if left_at is not None else
                               f"no initramfs failure seen within {args.timeout:.0f}s" if elapsed >= args.timeout
                               else f"qemu exited after {elapsed:.0f}s")
    if not ok and qemu_err:
        result["qemu_stderr"] = qemu_err[-2000:]
    if args.log:
        result["log"] = args.log
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
