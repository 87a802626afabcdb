"""pgtest: a throwaway PostgreSQL cluster for the tests of the PostgreSQL store.

Cluster() runs initdb into a fresh temp folder and starts the server with
pg_ctl on 127.0.0.1 only, on a free port, its unix socket in the same
folder, trust authentication, no fsync skipped (the durability tests need
the real thing); it stops the server and removes the folder afterwards.
PostgreSQL refuses to run as root: under root the folder is given to the
`postgres` system user (or nobody) and the server runs as that user.

Nothing is skipped: when PostgreSQL cannot be started, Cluster.start()
raises with initdb's or the server's own words (CI installs postgresql
through scripts/install-deps).

As a program: `pgtest.py CMD ARGS...` starts a cluster, runs CMD with
MAILSCOPE_TEST_PG_URL set to the cluster's URL, stops the cluster and
exits with CMD's status (ctest runs the PostgreSQL unit tests this way).
"""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TMP_ROOT = os.environ.get("MAILSCOPE_TEST_TMP") or tempfile.gettempdir()


def pg_bindir():
    env = os.environ.get("MAILSCOPE_PG_BINDIR")
    if env:
        return env
    # Debian keeps the server binaries out of PATH, one folder per major version: the newest.
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0)
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise RuntimeError("PostgreSQL's initdb was not found (install postgresql: scripts/install-deps)")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One PostgreSQL server in a temp folder. Use as a context manager."""

    USER = "mailscope"
    DB = "postgres"

    def __init__(self):
        self.dir = None
        self.port = None
        self.run_as = None
        self.bindir = pg_bindir()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "postgresql://%s@127.0.0.1:%d/%s" % (self.USER, self.port, self.DB)

    def _cmd(self, args):
        if self.run_as is None:
            return args
        return ["runuser", "-u", self.run_as, "--"] + args

    def _run(self, args, what):
        r = subprocess.run(self._cmd(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            log = ""
            logfile = os.path.join(self.dir, "server.log")
            if os.path.exists(logfile):
                with open(logfile, errors="replace") as f:
                    log = f.read()[-3000:]
            raise RuntimeError("%s failed (%d): %s\n%s" % (what, r.returncode, r.stdout[-3000:], log))
        return r.stdout

    def start(self):
        os.makedirs(TMP_ROOT, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="pg-", dir=TMP_ROOT)
        if os.geteuid() == 0:
            for user in ("postgres", "nobody"):
                try:
                    pw = pwd.getpwnam(user)
                except KeyError:
                    continue
                self.run_as = user
                os.chown(self.dir, pw.pw_uid, pw.pw_gid)
                # The parents must let that user through to its folder.
                parent = os.path.dirname(self.dir)
                while parent not in ("/", ""):
                    mode = os.stat(parent).st_mode
                    if not mode & 0o001:
                        os.chmod(parent, mode | 0o001)
                    parent = os.path.dirname(parent)
                break
            else:
                raise RuntimeError("running as root and neither the postgres nor the nobody user exists")
        data = os.path.join(self.dir, "data")
        self._run([os.path.join(self.bindir, "initdb"), "-D", data, "-U", self.USER, "-A", "trust",
                   "-E", "UTF8", "--locale=C", "--no-sync"], "initdb")
        last = None
        for _ in range(5):  # a port taken between free_port() and the bind: try another
            self.port = free_port()
            opts = "-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=100" % (self.port, self.dir)
            try:
                self._run([os.path.join(self.bindir, "pg_ctl"), "-D", data, "-l",
                           os.path.join(self.dir, "server.log"), "-o", opts, "-w", "-t", "60", "start"],
                          "pg_ctl start")
                return self
            except RuntimeError as e:
                last = e
        raise last

    def _pg_ctl(self, *args):
        data = os.path.join(self.dir, "data")
        return self._run([os.path.join(self.bindir, "pg_ctl"), "-D", data, "-l",
                          os.path.join(self.dir, "server.log")] + list(args), "pg_ctl " + args[-1])

    def pause(self):
        """Stops the server (fast shutdown: connections are cut), keeping its data and port."""
        self._pg_ctl("-m", "fast", "-w", "stop")

    def resume(self):
        """Starts the paused server again on the same port."""
        opts = "-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=100" % (self.port, self.dir)
        self._pg_ctl("-o", opts, "-w", "-t", "60", "start")

    def stop(self):
        if self.dir is None:
            return
        data = os.path.join(self.dir, "data")
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            subprocess.run(self._cmd([os.path.join(self.bindir, "pg_ctl"), "-D", data, "-m", "immediate", "-w",
                                      "stop"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def psql(self, sql):
        """Runs sql with psql; returns its unaligned output."""
        psql = os.path.join(self.bindir, "psql")
        r = subprocess.run([psql, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.url, "-c", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise RuntimeError("psql: %s" % r.stderr)
        return r.stdout.strip()


def main(argv):
    if not argv:
        sys.stderr.write("usage: pgtest.py CMD [ARGS...]\n")
        return 2
    with Cluster() as c:
        env = dict(os.environ, MAILSCOPE_TEST_PG_URL=c.url)
        return subprocess.call(argv, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
