#!/usr/bin/env python3
"""Database growth per validation, and what an audit archive takes out (issue 33).

Usage: audit_growth.py TOKEND_BINARY [--postgres postgres://postgres@127.0.0.1:5432]
                       [--tokens 200] [--validations 20000] [--threads 8]

Starts the given tokend on a fresh data directory (or a fresh PostgreSQL database),
enrolls and activates --tokens software tokens, then runs --validations validations
(per token, in turn: the current code, which succeeds once per 30 s step and is a
replay after that, and a wrong code), measures the database, archives every row with
`tokend audit archive`, measures again, runs the same load again and measures a third
time. Prints one markdown table row per phase. Sizes: SQLite page_count * page_size
(after a checkpoint) and its free pages; PostgreSQL pg_database_size, the
audit_events table with its indexes, and dead tuples from pg_stat_user_tables (after
ANALYZE; autovacuum is left as configured).
"""

import base64, hashlib, hmac, json, os, struct, subprocess, sys, tempfile, threading, time
import urllib.request

MASTER_KEY = base64.b64encode(b"audit-growth-master-key-32-bytes").decode()


def totp(seed, step):
    mac = hmac.new(seed, struct.pack(">Q", step), hashlib.sha1).digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)


def b32(s):
    return base64.b32decode(s + "=" * (-len(s) % 8))


class Tokend:
    def __init__(self, binary, pg_url):
        self.binary, self.dir = binary, tempfile.mkdtemp(prefix="audit-growth-")
        self.env = dict(os.environ, ROCKET_DATA_DIR=self.dir, ROCKET_PORT="0", TOKEND_MASTER_KEY=MASTER_KEY,
                        TOKEND_LOG="warn", ROCKET_RATE_USER_PER_MIN="1000000",
                        ROCKET_RATE_KEY_FAILURES_PER_MIN="100000000", ROCKET_LOCK_AFTER_FAILURES="100")
        self.pg = None
        if pg_url:
            name = "tokend_growth_%d" % os.getpid()
            subprocess.run(["psql", pg_url + "/postgres", "-qc", "DROP DATABASE IF EXISTS %s" % name], check=True)
            subprocess.run(["psql", pg_url + "/postgres", "-qc", "CREATE DATABASE %s" % name], check=True)
            self.pg = pg_url + "/" + name
            self.env["ROCKET_DATABASE_URL"] = self.pg
            self.env["ROCKET_SECRET_KEY"] = base64.b64encode(os.urandom(64)).decode()
        self.cli("migrate")
        self.key = self.cli("apikey", "create", "--name", "bench", "--scope", "manage,validate").strip()

    def cli(self, *args):
        out = subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit("tokend %s: %s" % (" ".join(args), out.stderr))
        return out.stdout

    def start(self):
        self.log = open(os.path.join(self.dir, "server.log"), "a")
        self.proc = subprocess.Popen([self.binary], env=self.env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        for line in self.proc.stdout:
            if "tokend listening on http://" in line:
                self.base = "http://" + line.split("http://")[1].split()[0].rstrip("/")
                threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
                return
        raise SystemExit("tokend did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()

    def post(self, path, body):
        rq = urllib.request.Request(self.base + path, json.dumps(body).encode(), method="POST",
                                    headers={"Authorization": "Bearer " + self.key, "Content-Type": "application/json"})
        with urllib.request.urlopen(rq) as rs:
            return json.load(rs)

    def measure(self):
        if self.pg:
            q = ("ANALYZE; SELECT pg_database_size(current_database()), pg_total_relation_size('audit_events'), "
                 "(SELECT count(*) FROM audit_events), "
                 "(SELECT sum(n_dead_tup) FROM pg_stat_user_tables), (SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname='audit_events')")
            out = subprocess.run(["psql", self.pg, "-qAtc", q], capture_output=True, text=True, check=True).stdout
            db, audit, rows, dead, audit_dead = [int(x or 0) for x in out.strip().splitlines()[-1].split("|")]
            return {"db": db, "audit": audit, "rows": rows, "dead": dead, "audit_dead": audit_dead}
        import sqlite3
        c = sqlite3.connect(os.path.join(self.dir, "tokend.sqlite"))
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, size, free = [c.execute("PRAGMA %s" % p).fetchone()[0] for p in ("page_count", "page_size", "freelist_count")]
        rows = c.execute("SELECT count(*) FROM audit_events").fetchone()[0]
        c.close()
        return {"db": pages * size, "free": free * size, "rows": rows}


def load(t, tokens, n, threads):
    per = n // threads
    def work(i):
        for k in range(per):
            # Each thread its own tokens: a token's concurrent validations would measure
            # contention on one binding, not growth.
            mine = tokens[i::threads]
            token, seed = mine[k % len(mine)]
            code = totp(seed, int(time.time()) // 30) if k % 2 == 0 else "000000"
            t.post("/api/v1/validate", {"TokenId": token, "Code": code})
    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    start = time.time()
    [x.start() for x in ts]
    [x.join() for x in ts]
    return per * threads, time.time() - start


def main(argv):
    args = dict(zip(argv[2::2], argv[3::2]))
    t = Tokend(argv[1], args.get("--postgres"))
    t.start()
    tokens = []
    for i in range(int(args.get("--tokens", 200))):
        rs = t.post("/api/v1/tokens", {"UsrName": "u%d" % i, "TokenType": "Software"})
        seed = b32(rs["Secret"])
        t.post("/api/v1/tokens/%s/activate" % rs["TokenId"], {"Code": totp(seed, int(time.time()) // 30 - 1)})
        tokens.append((rs["TokenId"], seed))
    n, threads = int(args.get("--validations", 20000)), int(args.get("--threads", 8))
    m0 = t.measure()
    done, secs = load(t, tokens, n, threads)
    m1 = t.measure()
    archive = tempfile.mkdtemp(prefix="audit-archive-")
    time.sleep(1)
    began = time.time()
    t.cli("audit", "archive", "--before", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "--to", archive)
    archive_secs = time.time() - began
    m2 = t.measure()
    arch = sum(os.path.getsize(os.path.join(archive, f)) for f in os.listdir(archive))
    load(t, tokens, n, threads)
    m3 = t.measure()
    t.stop()
    engine = "PostgreSQL" if t.pg else "SQLite"
    mib = lambda b: "%.1f" % (b / 1048576)
    per_m = lambda b: "%.0f" % (b / done * 1e6 / 1048576)
    print("server log: " + os.path.join(t.dir, "server.log"))
    print("engine %s, %d validations in %.0f s (%.0f/s), audit rows %d -> %d" % (engine, done, secs, done / secs, m0["rows"], m1["rows"]))
    print("| phase | database MiB | audit rows | note |")
    print("|---|---|---|---|")
    extra = lambda m: ("dead tuples %d (audit_events %d), audit_events+indexes %s MiB" % (m["dead"], m["audit_dead"], mib(m["audit"]))) if t.pg else ("free pages %s MiB" % mib(m["free"]))
    print("| after enrollment | %s | %d | %s |" % (mib(m0["db"]), m0["rows"], extra(m0)))
    print("| after %d validations | %s | %d | growth %s MiB per million validations; %s |" % (done, mib(m1["db"]), m1["rows"], per_m(m1["db"] - m0["db"]), extra(m1)))
    print("| after audit archive (%.1f s, the tokend process included) | %s | %d | archive %s MiB (%s MiB per million validations); %s |" % (archive_secs, mib(m2["db"]), m2["rows"], mib(arch), per_m(arch), extra(m2)))
    print("| after %d more validations | %s | %d | growth %s MiB per million; %s |" % (done, mib(m3["db"]), m3["rows"], per_m(m3["db"] - m2["db"]), extra(m3)))
    if t.pg:
        subprocess.run(["psql", args["--postgres"] + "/postgres", "-qc", "DROP DATABASE %s" % t.pg.rsplit("/", 1)[1]])


if __name__ == "__main__":
    main(sys.argv)
