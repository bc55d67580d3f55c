#!/usr/bin/env python3
"""Verify a tokend audit archive without tokend, its database or its keys.

Usage: verify_audit_archive.py DIR [--anchor-manifest-sha256 HEX]

Checks every segment in DIR against its manifest (format tokend-audit-segment/1, see
docs/audit-archive.md): the file's SHA-256, the row count, the rows' chain positions
(contiguous, in order), the first and last links, that each segment follows the previous
one (positions, prev_link, prev_manifest_sha256), and with --anchor-manifest-sha256
(printed by `tokend audit archive`, kept by the bank outside tokend) that the last
manifest is the one tokend recorded. It cannot check each row's link: that is an HMAC
under a key derived from tokend's master key (`tokend audit verify --archive DIR` does).

Exit 0 and "archive whole" when every check passes; else one line per problem naming
the segment, and exit 1. Python 3.8+, standard library only.
"""

import gzip
import hashlib
import json
import os
import re
import sys
import zlib

FORMAT = "tokend-audit-segment/1"
NAME = re.compile(r"^audit-(\d{12})-(\d{12})\.manifest\.json$")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(65536), b""):
            h.update(block)
    return h.hexdigest()


def read_lines(path):
    """The segment's rows; raises EOFError when the gzip stream ends early."""
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
    return rows


def check_segment(directory, name, m, problems):
    """Checks one segment's file against its manifest; answers the rows checked."""
    path = os.path.join(directory, m["file"])
    if not os.path.isfile(path):
        problems.append("segment file %s is missing" % m["file"])
        return 0
    same = sha256_file(path) == m["sha256"]
    try:
        rows = read_lines(path)
    except (EOFError, zlib.error) as e:
        problems.append("segment %s is truncated (its compressed stream ends early: %s)" % (m["file"], e))
        return 0
    except (OSError, ValueError) as e:
        problems.append("segment %s is altered: %s" % (m["file"], e))
        return 0
    if len(rows) < m["rows"]:
        problems.append("segment %s is truncated: %d of %d rows" % (m["file"], len(rows), m["rows"]))
        return 0
    if not same:
        problems.append("segment %s is altered: its SHA-256 is not the manifest's" % m["file"])
        return 0
    if len(rows) != m["rows"]:
        problems.append("segment %s: holds %d rows, its manifest says %d: altered" % (m["file"], len(rows), m["rows"]))
        return 0
    for i, row in enumerate(rows):
        expected = m["first_pos"] + i
        if row.get("chain_pos") != expected:
            problems.append(
                "segment %s: row %s is at chain position %s where %d belongs: rows reordered or removed"
                % (m["file"], row.get("id"), row.get("chain_pos"), expected)
            )
            return 0
    if rows and (rows[0].get("link") != m["first_link"] or rows[-1].get("link") != m["last_link"]):
        problems.append("segment %s: its first or last link is not the manifest's: altered" % m["file"])
        return 0
    return len(rows)


def verify(directory, anchor_sha=None):
    problems = []
    manifests = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".manifest.json") or name.startswith("."):
            continue
        data = open(os.path.join(directory, name), "rb").read()
        try:
            m = json.loads(data)
            if m.get("format") != FORMAT:
                raise ValueError("format %r, not %s" % (m.get("format"), FORMAT))
        except ValueError as e:
            problems.append("manifest %s: not a readable manifest: %s" % (name, e))
            continue
        manifests.append((name, hashlib.sha256(data).hexdigest(), m))
    manifests.sort(key=lambda t: t[2]["first_pos"])
    pos, link, prev_sha, rows = 0, "", "", 0
    for name, sha, m in manifests:
        if m["first_pos"] > pos + 1:
            problems.append(
                "segment(s) missing before %s: chain positions %d..%d are in no segment" % (name, pos + 1, m["first_pos"] - 1)
            )
        elif m["first_pos"] <= pos:
            problems.append(
                "segment %s is out of order: it starts at position %d but the previous segment ends at %d"
                % (name, m["first_pos"], pos)
            )
        elif m["prev_link"] != link or m["prev_manifest_sha256"] != prev_sha:
            problems.append(
                "segment %s does not follow the previous segment (its manifest names another predecessor): "
                "segments were replaced or reordered" % name
            )
        match = NAME.match(name)
        if not match or (int(match.group(1)), int(match.group(2))) != (m["first_pos"], m["last_pos"]):
            problems.append(
                "manifest %s describes positions %d..%d: it was renamed or reordered" % (name, m["first_pos"], m["last_pos"])
            )
        pos, link, prev_sha = m["last_pos"], m["last_link"], sha
        rows += check_segment(directory, name, m, problems)
    if anchor_sha is not None and prev_sha != anchor_sha:
        problems.append("the last manifest is not the one tokend recorded (--anchor-manifest-sha256): segments missing at the end or replaced")
    return len(manifests), rows, pos, prev_sha, problems


def main(argv):
    args = argv[1:]
    anchor = None
    if "--anchor-manifest-sha256" in args:
        i = args.index("--anchor-manifest-sha256")
        anchor = args[i + 1]
        del args[i : i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    segments, rows, pos, sha, problems = verify(args[0], anchor)
    for p in problems:
        print("audit archive BROKEN: " + p)
    if problems:
        return 1
    print(
        "archive whole: %d segments, %d rows, chain positions 1..%d; last manifest sha256 %s "
        "(row links are MACs: check them with tokend audit verify --archive)" % (segments, rows, pos, sha or "none")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
